package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/portico-dev/portico/models"
)

// GatewaySpec returns the spec and name of a gateway by id, for workers that
// hold a replica row and need its launch parameters.
func (s *Store) GatewaySpec(ctx context.Context, id int64) (name string, spec models.Spec, err error) {
	var raw string
	err = s.db.QueryRowContext(ctx, s.q(`SELECT name, spec FROM gateways WHERE id = ?`), id).Scan(&name, &raw)
	if errors.Is(err, sql.ErrNoRows) {
		return "", spec, fmt.Errorf("gateway %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return "", spec, err
	}
	return name, spec, json.Unmarshal([]byte(raw), &spec)
}

// ReleaseOwner drops every lease held by owner, so a process that stops
// cleanly hands its rows to others at once instead of after the lease TTL.
func (s *Store) ReleaseOwner(ctx context.Context, owner string) error {
	for _, table := range []string{"replicas", "gateways"} {
		if _, err := s.db.ExecContext(ctx, s.q(`UPDATE `+table+` SET lock_token = NULL, lock_owner = NULL, lock_expires_at = NULL
			WHERE lock_owner = ?`), owner); err != nil {
			return fmt.Errorf("release leases of %s: %w", owner, err)
		}
	}
	return nil
}

// RecordedInstance is what the orphan sweeper needs to know of a replica row.
type RecordedInstance struct {
	Token      string
	InstanceID string
	Status     models.ReplicaStatus
}

// Recorded returns every replica row's token and instance id, so the
// sweeper can tell instances with a record from orphans.
func (s *Store) Recorded(ctx context.Context) ([]RecordedInstance, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT token, instance_id, status FROM replicas`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []RecordedInstance
	for rows.Next() {
		var r RecordedInstance
		var st string
		if err := rows.Scan(&r.Token, &r.InstanceID, &st); err != nil {
			return nil, err
		}
		r.Status = models.ReplicaStatus(st)
		out = append(out, r)
	}
	return out, rows.Err()
}

// Regions returns the (backend, region) pairs replicas were ever placed in,
// even by gateways since deleted, so the sweeper knows where to look.
func (s *Store) Regions(ctx context.Context) (map[string][]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT backend, region FROM known_regions ORDER BY backend, region`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var b, r string
		if err := rows.Scan(&b, &r); err != nil {
			return nil, err
		}
		out[b] = append(out[b], r)
	}
	return out, rows.Err()
}

// MarkHealthDue makes a gateway's running replicas due for a health check
// now, for `portico gateway check`.
func (s *Store) MarkHealthDue(ctx context.Context, gatewayID int64) error {
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE replicas SET process_after = 0
		WHERE gateway_id = ? AND status IN ('running', 'unhealthy')`), gatewayID)
	return err
}

// LeaseOwners lists the distinct owners currently holding leases, so a
// process can recognise owners it knows to be dead.
func (s *Store) LeaseOwners(ctx context.Context) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT lock_owner FROM replicas WHERE lock_owner IS NOT NULL
		UNION SELECT lock_owner FROM gateways WHERE lock_owner IS NOT NULL`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var o string
		if err := rows.Scan(&o); err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, rows.Err()
}
