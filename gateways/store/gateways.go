package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/portico-dev/portico/models"
)

// ConflictError says another apply changed the gateway after this one
// planned: the plan was made against Expected, the store holds Actual.
type ConflictError struct {
	Gateway          string
	Expected, Actual int64
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("gateway %q changed while this apply was planned (planned against revision %d, now at revision %d); run apply again to see the new plan",
		e.Gateway, e.Expected, e.Actual)
}

// ExistsError says a gateway of that name is already recorded.
type ExistsError struct{ Gateway string }

func (e *ExistsError) Error() string { return fmt.Sprintf("gateway %q already exists", e.Gateway) }

// GetGateway returns one gateway with all its replica rows.
func (s *Store) GetGateway(ctx context.Context, name string) (*models.Gateway, error) {
	g, err := scanGateway(s.db.QueryRowContext(ctx, s.q(`SELECT `+gatewayColumns+` FROM gateways g WHERE g.name = ?`), name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("gateway %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+replicaColumns+` FROM replicas WHERE gateway_id = ? ORDER BY replica_num, attempt`), g.ID)
	if err != nil {
		return nil, err
	}
	g.Replicas, err = scanReplicas(rows)
	fillNames(g)
	return g, err
}

// ListGateways returns every gateway with its replica rows, by name, in two
// queries whatever the number of gateways. Replica rows carry what listing
// needs (no backend data, health counters or lease columns); GetGateway
// returns them whole.
func (s *Store) ListGateways(ctx context.Context) ([]*models.Gateway, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+gatewayColumns+` FROM gateways g ORDER BY g.name`)
	if err != nil {
		return nil, err
	}
	var out []*models.Gateway
	byID := map[int64]*models.Gateway{}
	for rows.Next() {
		g, err := scanGateway(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		g.Replicas = make([]models.Replica, 0, g.Spec.Replicas)
		out = append(out, g)
		byID[g.ID] = g
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rrows, err := s.db.QueryContext(ctx, `SELECT `+briefReplicaColumns+` FROM replicas ORDER BY gateway_id, replica_num, attempt`)
	if err != nil {
		return nil, err
	}
	defer rrows.Close()
	for rrows.Next() {
		r, err := scanBriefReplica(rrows)
		if err != nil {
			return nil, err
		}
		if g := byID[r.GatewayID]; g != nil {
			r.GatewayName = g.Name
			g.Replicas = append(g.Replicas, r)
		}
	}
	return out, rrows.Err()
}

func fillNames(g *models.Gateway) {
	for i := range g.Replicas {
		g.Replicas[i].GatewayName = g.Name
	}
}

// GatewayTx is one transaction over one gateway and its replica rows: the
// gateway row is locked (BEGIN IMMEDIATE on SQLite, FOR UPDATE on
// PostgreSQL) for as long as fn runs. No cloud call may run inside it.
type GatewayTx struct {
	s       *Store
	tx      *sql.Tx
	ctx     context.Context
	Now     time.Time
	Install string
	// Gateway is the locked gateway with its replicas, nil if none exists.
	Gateway *models.Gateway
}

// UpdateGateway runs fn in a transaction holding the named gateway.
func (s *Store) UpdateGateway(ctx context.Context, name string, fn func(*GatewayTx) error) error {
	install, err := s.InstallID(ctx)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		t := &GatewayTx{s: s, tx: tx, ctx: ctx, Install: install}
		var ms int64
		if err := tx.QueryRowContext(ctx, s.q("SELECT {now}")).Scan(&ms); err != nil {
			return err
		}
		t.Now = fromMillis(ms)
		g, err := scanGateway(tx.QueryRowContext(ctx, s.q(`SELECT `+gatewayColumns+` FROM gateways g WHERE g.name = ?{for_update}`), name))
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		default:
			rows, err := tx.QueryContext(ctx, s.q(`SELECT `+replicaColumns+` FROM replicas WHERE gateway_id = ? ORDER BY replica_num, attempt`), g.ID)
			if err != nil {
				return err
			}
			if g.Replicas, err = scanReplicas(rows); err != nil {
				return err
			}
			fillNames(g)
			t.Gateway = g
		}
		if err := fn(t); err != nil {
			return err
		}
		return s.notifyTx(ctx, tx, name)
	})
}

// Create records a new gateway in status submitted.
func (t *GatewayTx) Create(spec models.Spec) error {
	b, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	now := millis(t.Now)
	var id int64
	err = t.tx.QueryRowContext(t.ctx, t.s.q(`INSERT INTO gateways (name, backend, spec, desired_replicas, status, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`),
		spec.Name, spec.Backend, string(b), spec.Replicas, string(models.GatewaySubmitted), now, now).Scan(&id)
	if err != nil {
		if isUniqueViolation(err) {
			return &ExistsError{Gateway: spec.Name}
		}
		return fmt.Errorf("insert gateway %q: %w", spec.Name, err)
	}
	t.Gateway = &models.Gateway{ID: id, Name: spec.Name, Spec: spec, Status: models.GatewaySubmitted, Revision: 1,
		CreatedAt: t.Now, UpdatedAt: t.Now}
	return nil
}

// SaveSpec replaces the spec if the stored revision is still expected, and
// bumps the revision.
func (t *GatewayTx) SaveSpec(spec models.Spec, expected int64) error {
	g := t.Gateway
	if g.Revision != expected {
		return &ConflictError{Gateway: g.Name, Expected: expected, Actual: g.Revision}
	}
	b, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	res, err := t.tx.ExecContext(t.ctx, t.s.q(`UPDATE gateways SET spec = ?, backend = ?, desired_replicas = ?, revision = revision + 1,
		deleting = FALSE, updated_at = ?, process_after = 0 WHERE id = ? AND revision = ?`),
		string(b), spec.Backend, spec.Replicas, millis(t.Now), g.ID, expected)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return &ConflictError{Gateway: g.Name, Expected: expected, Actual: expected + 1}
	}
	g.Spec, g.Revision = spec, g.Revision+1
	return nil
}

// SetStatus records the gateway's status; unchanged values write nothing.
// recheckIn schedules the next look by the gateway pipeline (0: no timer).
func (t *GatewayTx) SetStatus(status models.GatewayStatus, message string, recheckIn time.Duration) error {
	g := t.Gateway
	after := int64(0)
	if recheckIn > 0 {
		after = millis(t.Now.Add(recheckIn))
	}
	if g.Status != status || g.StatusMessage != message {
		if err := t.Event("status", statusEvent(status, message), nil); err != nil {
			return err
		}
	}
	// The casts matter on PostgreSQL: it types a bare `? > 0` as int4, and a
	// recheck time in milliseconds since the epoch does not fit, so every
	// reconcile that set a timer (backoff, unhealthy grace) failed there.
	_, err := t.tx.ExecContext(t.ctx, t.s.q(`UPDATE gateways SET status = ?, status_message = ?, updated_at = CASE WHEN status <> ? OR status_message <> ? THEN ? ELSE updated_at END,
		process_after = CASE WHEN CAST(? AS BIGINT) > 0 AND CAST(? AS BIGINT) < process_after THEN CAST(? AS BIGINT) ELSE process_after END WHERE id = ?`),
		string(status), message, string(status), message, millis(t.Now), after, after, after, g.ID)
	g.Status, g.StatusMessage = status, message
	return err
}

func statusEvent(s models.GatewayStatus, msg string) string {
	if msg == "" {
		return "gateway is " + string(s)
	}
	return fmt.Sprintf("gateway is %s: %s", s, msg)
}

// MarkDeleting flags the gateway for deletion; the pipelines stop its
// replicas and then remove it.
func (t *GatewayTx) MarkDeleting() error {
	_, err := t.tx.ExecContext(t.ctx, t.s.q(`UPDATE gateways SET deleting = TRUE, updated_at = ?, process_after = 0 WHERE id = ?`),
		millis(t.Now), t.Gateway.ID)
	t.Gateway.Deleting = true
	return err
}

// Remove deletes the gateway and its replica rows; its events stay.
func (t *GatewayTx) Remove() error {
	_, err := t.tx.ExecContext(t.ctx, t.s.q(`DELETE FROM gateways WHERE id = ?`), t.Gateway.ID)
	return err
}

// Token derives a replica attempt's idempotency token: unique within the
// installation, at most 64 characters of [a-z0-9-], stable across retries.
func Token(install string, gatewayID int64, num, attempt int) string {
	return fmt.Sprintf("p%s-%d-%d-%d", install, gatewayID, num, attempt)
}

// AddReplica writes a pending replica row and its token. It is the first
// step of every launch: the token exists before any backend call.
func (t *GatewayTx) AddReplica(num, attempt int, region string, zoneIndex int, reason string) (models.Replica, error) {
	g := t.Gateway
	r := models.Replica{GatewayID: g.ID, GatewayName: g.Name, Num: num, Attempt: attempt,
		Token: Token(t.Install, g.ID, num, attempt), Status: models.ReplicaPending, Backend: g.Spec.Backend,
		Region: region, ZoneIndex: zoneIndex, CreatedAt: t.Now, UpdatedAt: t.Now}
	now := millis(t.Now)
	err := t.tx.QueryRowContext(t.ctx, t.s.q(`INSERT INTO replicas (gateway_id, replica_num, attempt, token, status, backend, region, zone_index, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
		r.GatewayID, num, attempt, r.Token, string(r.Status), r.Backend, region, zoneIndex, now, now).Scan(&r.ID)
	if err != nil {
		return r, fmt.Errorf("add replica %d of %q: %w", num, g.Name, err)
	}
	if _, err := t.tx.ExecContext(t.ctx, t.s.q(`INSERT INTO known_regions (backend, region) VALUES (?, ?) ON CONFLICT DO NOTHING`),
		r.Backend, region); err != nil {
		return r, err
	}
	g.Replicas = append(g.Replicas, r)
	return r, t.Event("replica", fmt.Sprintf("replica %d attempt %d pending in %s: %s", num, attempt, region, reason), &r)
}

// StopReplica asks for a replica row to end. The row's lease holder (if
// any) is not disturbed: the replica pipeline sees the request next time.
func (t *GatewayTx) StopReplica(id int64, reason string) error {
	for i := range t.Gateway.Replicas {
		r := &t.Gateway.Replicas[i]
		if r.ID != id || r.StopRequested {
			continue
		}
		r.StopRequested = true
		if _, err := t.tx.ExecContext(t.ctx, t.s.q(`UPDATE replicas SET stop_requested = TRUE, process_after = 0, updated_at = ? WHERE id = ?`),
			millis(t.Now), id); err != nil {
			return err
		}
		if r.Status.Finished() {
			return nil
		}
		return t.Event("replica", fmt.Sprintf("replica %d attempt %d stop requested: %s", r.Num, r.Attempt, reason), r)
	}
	return nil
}

// Event appends to the gateway's history.
func (t *GatewayTx) Event(kind, message string, r *models.Replica) error {
	return insertEvent(t.ctx, t.s, t.tx, t.Gateway.ID, t.Gateway.Name, r, kind, message, t.Now)
}

func isUniqueViolation(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "UNIQUE constraint failed") || strings.Contains(msg, "SQLSTATE 23505")
}
