package store

import (
	"context"
	"time"
)

// Member is one `portico server` process registered in the database.
type Member struct {
	ID          string
	Address     string
	Hostname    string
	PID         int
	Version     string
	StartedAt   time.Time
	HeartbeatAt time.Time
	// Interval is the member's heartbeat interval; it is dead after missing
	// DeadAfter of them.
	Interval time.Duration
}

// DeadAfter is how many missed heartbeats make a member dead.
const DeadAfter = 3

// Alive reports whether the member heartbeat recently enough, at now (the
// database clock).
func (m Member) Alive(now time.Time) bool {
	iv := m.Interval
	if iv <= 0 {
		iv = 5 * time.Second
	}
	return now.Sub(m.HeartbeatAt) < DeadAfter*iv
}

// Heartbeat registers the member or refreshes its heartbeat, on the
// database clock.
func (s *Store) Heartbeat(ctx context.Context, m Member) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO members (id, address, hostname, pid, version, heartbeat_ms, started_at, heartbeat_at)
		VALUES (?, ?, ?, ?, ?, ?, {now}, {now})
		ON CONFLICT (id) DO UPDATE SET heartbeat_at = {now}, address = excluded.address, heartbeat_ms = excluded.heartbeat_ms`),
		m.ID, m.Address, m.Hostname, m.PID, m.Version, m.Interval.Milliseconds())
	return err
}

// Members lists every registered member with its heartbeat.
func (s *Store) Members(ctx context.Context) ([]Member, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, address, hostname, pid, version, heartbeat_ms, started_at, heartbeat_at FROM members ORDER BY started_at, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Member
	for rows.Next() {
		var m Member
		var started, hb, iv int64
		if err := rows.Scan(&m.ID, &m.Address, &m.Hostname, &m.PID, &m.Version, &iv, &started, &hb); err != nil {
			return nil, err
		}
		m.StartedAt, m.HeartbeatAt, m.Interval = fromMillis(started), fromMillis(hb), time.Duration(iv)*time.Millisecond
		out = append(out, m)
	}
	return out, rows.Err()
}

// LiveMembers lists members that have not missed DeadAfter heartbeats, by
// the database clock.
func (s *Store) LiveMembers(ctx context.Context) ([]Member, error) {
	all, err := s.Members(ctx)
	if err != nil {
		return nil, err
	}
	now, err := s.Now(ctx)
	if err != nil {
		return nil, err
	}
	var out []Member
	for _, m := range all {
		if m.Alive(now) {
			out = append(out, m)
		}
	}
	return out, nil
}

// RemoveMember deletes a member: on graceful shutdown, or when others find
// it dead.
func (s *Store) RemoveMember(ctx context.Context, id string) error {
	_, err := s.db.ExecContext(ctx, s.q(`DELETE FROM members WHERE id = ?`), id)
	return err
}

// GatewayRef names a gateway for sharding.
type GatewayRef struct {
	ID   int64
	Name string
}

// GatewayRefs lists every gateway's id and name.
func (s *Store) GatewayRefs(ctx context.Context) ([]GatewayRef, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, name FROM gateways ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []GatewayRef
	for rows.Next() {
		var g GatewayRef
		if err := rows.Scan(&g.ID, &g.Name); err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// StatusCounts counts gateways and replicas by status, for metrics.
func (s *Store) StatusCounts(ctx context.Context) (gateways, replicas map[string]int, err error) {
	gateways, replicas = map[string]int{}, map[string]int{}
	for _, q := range []struct {
		sql string
		m   map[string]int
	}{
		{`SELECT CASE WHEN deleting THEN 'deleting' ELSE status END, COUNT(*) FROM gateways GROUP BY 1`, gateways},
		{`SELECT status, COUNT(*) FROM replicas GROUP BY status`, replicas},
	} {
		rows, err := s.db.QueryContext(ctx, q.sql)
		if err != nil {
			return nil, nil, err
		}
		for rows.Next() {
			var st string
			var n int
			if err := rows.Scan(&st, &n); err != nil {
				rows.Close()
				return nil, nil, err
			}
			q.m[st] = n
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, nil, err
		}
	}
	return gateways, replicas, nil
}

// PruneMembers deletes members silent for longer than olderThan; until
// then `portico server members` shows them as dead, so a takeover is visible.
func (s *Store) PruneMembers(ctx context.Context, olderThan time.Duration) error {
	_, err := s.db.ExecContext(ctx, s.q(`DELETE FROM members WHERE heartbeat_at < {now} - ?`), olderThan.Milliseconds())
	return err
}
