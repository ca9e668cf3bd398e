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
}

// Heartbeat registers the member or refreshes its heartbeat, on the
// database clock.
func (s *Store) Heartbeat(ctx context.Context, m Member) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO members (id, address, hostname, pid, version, started_at, heartbeat_at)
		VALUES (?, ?, ?, ?, ?, {now}, {now})
		ON CONFLICT (id) DO UPDATE SET heartbeat_at = {now}, address = excluded.address`),
		m.ID, m.Address, m.Hostname, m.PID, m.Version)
	return err
}

// Members lists every registered member with its heartbeat.
func (s *Store) Members(ctx context.Context) ([]Member, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, address, hostname, pid, version, started_at, heartbeat_at FROM members ORDER BY started_at, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Member
	for rows.Next() {
		var m Member
		var started, hb int64
		if err := rows.Scan(&m.ID, &m.Address, &m.Hostname, &m.PID, &m.Version, &started, &hb); err != nil {
			return nil, err
		}
		m.StartedAt, m.HeartbeatAt = fromMillis(started), fromMillis(hb)
		out = append(out, m)
	}
	return out, rows.Err()
}

// LiveMembers lists members whose last heartbeat is younger than maxAge by
// the database clock.
func (s *Store) LiveMembers(ctx context.Context, maxAge time.Duration) ([]Member, error) {
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
		if now.Sub(m.HeartbeatAt) < maxAge {
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
