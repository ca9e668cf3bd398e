package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/portico-dev/portico/models"
)

// ErrStaleLease means the row's lease was lost (it expired and another
// worker claimed the row): the caller's results are discarded.
var ErrStaleLease = errors.New("lease lost: the row was claimed by another worker")

// GatewayBackupPoll is how often the gateway pipeline looks at a gateway
// nobody poked, as a backstop for lost wake-ups.
const GatewayBackupPoll = 30 * time.Second

// ClaimOptions select the replica rows a worker leases.
type ClaimOptions struct {
	Owner string
	Limit int
	TTL   time.Duration
	// Gateways restricts the claim to these gateway ids; nil means all.
	Gateways []int64
	// Health includes running and unhealthy replicas that are due for a
	// health check; without it only rows with work to do are claimed.
	Health bool
}

func newLeaseToken() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// ClaimReplicas leases up to Limit due replica rows in one statement: an
// UPDATE … RETURNING over the oldest due rows, with FOR UPDATE SKIP LOCKED on
// PostgreSQL and under BEGIN IMMEDIATE on SQLite. Each row gets its own lock
// token; lease times come from the database clock.
func (s *Store) ClaimReplicas(ctx context.Context, o ClaimOptions) ([]models.Replica, error) {
	if o.Gateways != nil && len(o.Gateways) == 0 {
		return nil, nil
	}
	cond := `(status IN ('pending', 'provisioning', 'terminating')
		OR (status IN ('running', 'unhealthy') AND (stop_requested OR CAST(? AS BOOLEAN))))
		AND process_after <= {now} AND (lock_expires_at IS NULL OR lock_expires_at < {now})`
	condArgs := []any{o.Health}
	if o.Gateways != nil {
		cond += ` AND gateway_id IN (` + placeholders(len(o.Gateways)) + `)`
		for _, id := range o.Gateways {
			condArgs = append(condArgs, id)
		}
	}
	condArgs = append(condArgs, o.Limit)
	set := `lock_token = CAST(? AS TEXT) || '-' || CAST(id AS TEXT), lock_owner = ?, lock_expires_at = {now} + ?`
	setArgs := []any{newLeaseToken(), o.Owner, o.TTL.Milliseconds()}
	var q string
	var args []any
	if s.d.name == "postgres" {
		q = `WITH c AS (SELECT id AS cid FROM replicas WHERE ` + cond + ` ORDER BY process_after, id LIMIT ?{skip_locked})
			UPDATE replicas SET ` + set + ` FROM c WHERE id = c.cid RETURNING ` + replicaColumns
		args = append(condArgs, setArgs...)
	} else {
		q = `UPDATE replicas SET ` + set + ` WHERE id IN (SELECT id FROM replicas WHERE ` + cond + `
			ORDER BY process_after, id LIMIT ?) RETURNING ` + replicaColumns
		args = append(setArgs, condArgs...)
	}
	rows, err := s.db.QueryContext(ctx, s.q(q), args...)
	if err != nil {
		return nil, fmt.Errorf("claim replicas: %w", err)
	}
	return scanReplicas(rows)
}

// RenewReplicaLeases extends the leases still held (by id and token) and
// returns the ids whose lease was lost.
func (s *Store) RenewReplicaLeases(ctx context.Context, ttl time.Duration, held map[int64]string) (lost []int64, err error) {
	if len(held) == 0 {
		return nil, nil
	}
	args := []any{ttl.Milliseconds()}
	for _, tok := range held {
		args = append(args, tok)
	}
	rows, err := s.db.QueryContext(ctx, s.q(`UPDATE replicas SET lock_expires_at = {now} + ?
		WHERE lock_token IN (`+placeholders(len(held))+`) RETURNING id`), args...)
	if err != nil {
		return nil, fmt.Errorf("renew leases: %w", err)
	}
	defer rows.Close()
	kept := map[int64]bool{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		kept[id] = true
	}
	for id := range held {
		if !kept[id] {
			lost = append(lost, id)
		}
	}
	return lost, rows.Err()
}

// SaveOptions say what else a replica save does.
type SaveOptions struct {
	// Release ends the lease; the row is due again after ProcessIn.
	Release   bool
	ProcessIn time.Duration
	// Events are appended to the gateway's history in the same transaction.
	Events []string
}

// SaveReplica writes a worker's results for a leased row, guarded by its
// lock token: if the lease was lost nothing is written and ErrStaleLease is
// returned. A status change also wakes the gateway pipeline for the gateway.
func (s *Store) SaveReplica(ctx context.Context, r *models.Replica, o SaveOptions) error {
	lease := ""
	if o.Release {
		lease = `, lock_token = NULL, lock_owner = NULL, lock_expires_at = NULL, last_processed_at = {now}, process_after = {now} + ?`
	}
	q := `UPDATE replicas SET status = ?, status_message = ?, final_status = ?, error_kind = ?, zone = ?, instance_id = ?,
		hostname = ?, backend_data = ?, launch_requested = ?,
		launch_requested_at = CASE WHEN launch_requested_at IS NULL AND CAST(? AS BOOLEAN) THEN {now} ELSE launch_requested_at END,
		launched_at = CASE WHEN ? <> '' AND launched_at IS NULL THEN {now} ELSE launched_at END,
		health_failures = ?, unhealthy_since = ?, running_at = ?, finished_at = ?, updated_at = {now}` + lease + `
		WHERE id = ? AND lock_token = ?`
	args := []any{string(r.Status), r.StatusMessage, string(r.FinalStatus), r.ErrorKind, r.Zone, r.InstanceID,
		r.Hostname, encodeData(r.BackendData), r.LaunchRequested, r.LaunchRequested, r.InstanceID,
		r.HealthFailures, optMillis(r.UnhealthySince), optMillis(r.RunningAt), optMillis(r.FinishedAt)}
	if o.Release {
		args = append(args, o.ProcessIn.Milliseconds())
	}
	args = append(args, r.ID, r.LockToken)
	return s.tx(ctx, func(tx *sql.Tx) error {
		var prev string
		if err := tx.QueryRowContext(ctx, s.q(`SELECT status FROM replicas WHERE id = ? AND lock_token = ?`), r.ID, r.LockToken).Scan(&prev); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return ErrStaleLease
			}
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q(q), args...); err != nil {
			return fmt.Errorf("save replica %d: %w", r.ID, err)
		}
		if prev != string(r.Status) {
			if _, err := tx.ExecContext(ctx, s.q(`UPDATE gateways SET process_after = 0 WHERE id = ?`), r.GatewayID); err != nil {
				return err
			}
		}
		for _, e := range o.Events {
			if err := insertEventByID(ctx, s, tx, r, e); err != nil {
				return err
			}
		}
		if o.Release {
			r.LockToken = ""
		}
		return nil
	})
}

func insertEventByID(ctx context.Context, s *Store, tx *sql.Tx, r *models.Replica, message string) error {
	kind := "replica"
	if k, rest, ok := strings.Cut(message, ": "); ok && !strings.Contains(k, " ") {
		kind, message = k, rest
	}
	_, err := tx.ExecContext(ctx, s.q(`INSERT INTO events (gateway_id, gateway_name, replica_num, attempt, kind, message, at)
		SELECT id, name, ?, ?, ?, ?, {now} FROM gateways WHERE id = ?`), r.Num, r.Attempt, kind, message, r.GatewayID)
	return err
}

func optMillis(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMilli()
}

// GatewayLease is a claimed gateway, due for reconciliation.
type GatewayLease struct {
	ID    int64
	Name  string
	Token string
}

// ClaimGateways leases up to limit gateways due for reconciliation. The
// claim pushes the next look GatewayBackupPoll ahead; a replica status
// change or an apply pulls it back to now.
func (s *Store) ClaimGateways(ctx context.Context, owner string, limit int, ttl time.Duration, ids []int64) ([]GatewayLease, error) {
	if ids != nil && len(ids) == 0 {
		return nil, nil
	}
	cond := `process_after <= {now} AND (lock_expires_at IS NULL OR lock_expires_at < {now})`
	var filter []any
	if ids != nil {
		cond += ` AND id IN (` + placeholders(len(ids)) + `)`
		for _, id := range ids {
			filter = append(filter, id)
		}
	}
	set := `lock_token = CAST(? AS TEXT) || '-' || CAST(id AS TEXT), lock_owner = ?, lock_expires_at = {now} + ?,
		process_after = {now} + ?`
	setArgs := []any{newLeaseToken(), owner, ttl.Milliseconds(), GatewayBackupPoll.Milliseconds()}
	var q string
	var args []any
	if s.d.name == "postgres" {
		q = `WITH c AS (SELECT id AS cid FROM gateways WHERE ` + cond + ` ORDER BY process_after, id LIMIT ?{skip_locked})
			UPDATE gateways SET ` + set + ` FROM c WHERE id = c.cid RETURNING id, name, lock_token`
		args = append(append(append(args, filter...), limit), setArgs...)
	} else {
		q = `UPDATE gateways SET ` + set + ` WHERE id IN (SELECT id FROM gateways WHERE ` + cond + ` ORDER BY process_after, id LIMIT ?)
			RETURNING id, name, lock_token`
		args = append(append(append(args, setArgs...), filter...), limit)
	}
	rows, err := s.db.QueryContext(ctx, s.q(q), args...)
	if err != nil {
		return nil, fmt.Errorf("claim gateways: %w", err)
	}
	defer rows.Close()
	var out []GatewayLease
	for rows.Next() {
		var l GatewayLease
		if err := rows.Scan(&l.ID, &l.Name, &l.Token); err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// ReleaseGateway ends a gateway lease.
func (s *Store) ReleaseGateway(ctx context.Context, l GatewayLease) error {
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE gateways SET lock_token = NULL, lock_owner = NULL, lock_expires_at = NULL,
		last_processed_at = {now} WHERE id = ? AND lock_token = ?`), l.ID, l.Token)
	return err
}
