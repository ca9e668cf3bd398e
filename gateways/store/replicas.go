package store

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/portico-dev/portico/models"
)

// NamedSpec is a gateway's name and spec.
type NamedSpec struct {
	Name string
	Spec models.Spec
}

// GatewaySpecs returns the names and specs of many gateways in one query,
// for a batch of claimed replica rows.
func (s *Store) GatewaySpecs(ctx context.Context, ids []int64) (map[int64]NamedSpec, error) {
	out := make(map[int64]NamedSpec, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT id, name, spec FROM gateways WHERE id IN (`+placeholders(len(ids))+`)`), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id   int64
			ns   NamedSpec
			spec string
		)
		if err := rows.Scan(&id, &ns.Name, &spec); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(spec), &ns.Spec); err != nil {
			return nil, fmt.Errorf("decode spec of gateway %q: %w", ns.Name, err)
		}
		out[id] = ns
	}
	return out, rows.Err()
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
