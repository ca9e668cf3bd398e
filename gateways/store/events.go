package store

import (
	"context"
	"database/sql"
	"time"

	"github.com/portico-dev/portico/models"
)

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func insertEvent(ctx context.Context, s *Store, x execer, gatewayID int64, gateway string, r *models.Replica, kind, message string, at time.Time) error {
	var num, attempt any
	if r != nil {
		num, attempt = r.Num, r.Attempt
	}
	_, err := x.ExecContext(ctx, s.q(`INSERT INTO events (gateway_id, gateway_name, replica_num, attempt, kind, message, at) VALUES (?, ?, ?, ?, ?, ?, ?)`),
		gatewayID, gateway, num, attempt, kind, message, millis(at))
	return err
}

// Events returns a gateway's history, oldest first; limit ≤ 0 means all.
// The history outlives the gateway, so a deleted gateway's story can still
// be read.
func (s *Store) Events(ctx context.Context, gateway string, limit int) ([]models.Event, error) {
	q := `SELECT id, gateway_id, gateway_name, replica_num, attempt, kind, message, at FROM events WHERE gateway_name = ? ORDER BY id`
	args := []any{gateway}
	if limit > 0 {
		q = `SELECT * FROM (SELECT id, gateway_id, gateway_name, replica_num, attempt, kind, message, at FROM events
			WHERE gateway_name = ? ORDER BY id DESC LIMIT ?) e ORDER BY id`
		args = append(args, limit)
	}
	rows, err := s.db.QueryContext(ctx, s.q(q), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []models.Event
	for rows.Next() {
		var (
			e            models.Event
			num, attempt sql.NullInt64
			at           int64
		)
		if err := rows.Scan(&e.ID, &e.GatewayID, &e.GatewayName, &num, &attempt, &e.Kind, &e.Message, &at); err != nil {
			return nil, err
		}
		if num.Valid {
			n, a := int(num.Int64), int(attempt.Int64)
			e.ReplicaNum, e.Attempt = &n, &a
		}
		e.At = fromMillis(at)
		out = append(out, e)
	}
	return out, rows.Err()
}
