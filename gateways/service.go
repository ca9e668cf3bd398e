package gateways

import (
	"context"
	"errors"
	"fmt"
	"reflect"

	"github.com/portico-dev/portico/gateways/store"
	"github.com/portico-dev/portico/models"
)

// Service is what the CLI and the pipelines do with gateways: plan and
// apply specs, delete, read, and reconcile replica rows with specs. It owns
// the rules; the store owns the rows.
type Service struct {
	Store  *store.Store
	Policy Policy
}

// NewService returns a service over st with the default policy.
func NewService(st *store.Store) *Service { return &Service{Store: st} }

// ErrUnchanged says a concurrent apply already wrote the very same spec.
var ErrUnchanged = errors.New("unchanged: another apply already wrote this spec")

// DeletingError says a gateway is being deleted and cannot be applied yet.
type DeletingError struct{ Gateway string }

func (e *DeletingError) Error() string {
	return fmt.Sprintf("gateway %q is being deleted; wait until `portico gateway delete %s` finishes, then apply again", e.Gateway, e.Gateway)
}

func (s *Service) policy(p Policy) Policy {
	q := s.Policy
	q.Now = p.Now
	return q
}

// Plan computes what applying spec would do, without writing anything.
func (s *Service) Plan(ctx context.Context, spec models.Spec, force bool) (Plan, *models.Gateway, error) {
	g, err := s.Store.GetGateway(ctx, spec.Name)
	if errors.Is(err, store.ErrNotFound) {
		g, err = nil, nil
	}
	if err != nil {
		return Plan{}, nil, err
	}
	now, err := s.Store.Now(ctx)
	if err != nil {
		return Plan{}, nil, err
	}
	if g != nil && g.Deleting {
		return Plan{}, g, &DeletingError{Gateway: g.Name}
	}
	return PlanApply(g, spec, force, s.policy(Policy{Now: now})), g, nil
}

// Apply writes the desired state for spec in one transaction. The plan the
// user approved fixes the base revision: if another apply changed the
// gateway since, Apply fails with *store.ConflictError and writes nothing.
// The replica rows are recomputed from the rows as they are now, so the
// result is exactly the approved plan's intent.
func (s *Service) Apply(ctx context.Context, spec models.Spec, approved Plan) (*models.Gateway, Plan, error) {
	out, done, err := s.apply(ctx, spec, approved)
	var exists *store.ExistsError
	if approved.Action == ActionCreate && errors.As(err, &exists) {
		// A concurrent apply inserted the gateway after this transaction
		// looked for it (on PostgreSQL, FOR UPDATE cannot lock a row that
		// does not exist yet). Look again, so that the loser of the race
		// learns ErrUnchanged or a *store.ConflictError like on SQLite.
		out, done, err = s.apply(ctx, spec, approved)
	}
	return out, done, err
}

func (s *Service) apply(ctx context.Context, spec models.Spec, approved Plan) (*models.Gateway, Plan, error) {
	var done Plan
	var out *models.Gateway
	err := s.Store.UpdateGateway(ctx, spec.Name, func(t *store.GatewayTx) error {
		fresh := t.Gateway
		switch {
		case approved.Action == ActionCreate && fresh != nil:
			if reflect.DeepEqual(fresh.Spec, spec) && !fresh.Deleting {
				out = fresh
				return ErrUnchanged
			}
			return &store.ConflictError{Gateway: spec.Name, Expected: 0, Actual: fresh.Revision}
		case approved.Action != ActionCreate && fresh == nil:
			return &store.ConflictError{Gateway: spec.Name, Expected: approved.Revision, Actual: 0}
		case fresh != nil && fresh.Deleting:
			return &DeletingError{Gateway: spec.Name}
		case fresh != nil && fresh.Revision != approved.Revision:
			if reflect.DeepEqual(fresh.Spec, spec) {
				out = fresh // a concurrent apply already wrote this very spec
				return ErrUnchanged
			}
			return &store.ConflictError{Gateway: spec.Name, Expected: approved.Revision, Actual: fresh.Revision}
		}
		done = PlanApply(fresh, spec, approved.Forced, s.policy(Policy{Now: t.Now}))
		out = fresh
		if done.Action == ActionNoChange {
			return nil
		}
		if done.Action == ActionCreate {
			if err := t.Create(spec); err != nil {
				return err
			}
		} else if err := t.SaveSpec(spec, approved.Revision); err != nil {
			return err
		}
		if err := t.Event("apply", done.Summary(), nil); err != nil {
			return err
		}
		if err := s.write(t, done.Stop, done.Add); err != nil {
			return err
		}
		out = t.Gateway
		if done.Action == ActionCreate {
			return nil // submitted until the gateway pipeline first looks
		}
		ch := Reconcile(t.Gateway, s.policy(Policy{Now: t.Now}))
		return t.SetStatus(ch.Status, ch.Message, ch.RecheckIn)
	})
	return out, done, err
}

func (s *Service) write(t *store.GatewayTx, stop []StopReplica, add []NewReplica) error {
	for _, st := range stop {
		if err := t.StopReplica(st.ID, st.Reason); err != nil {
			return err
		}
	}
	for _, a := range add {
		if _, err := t.AddReplica(a.Num, a.Attempt, a.Region, a.ZoneIndex, a.Reason); err != nil {
			return err
		}
	}
	return nil
}

// Delete flags a gateway for deletion, in any state: replicas still being
// provisioned are stopped as soon as their launch returns. A gateway with no
// live replica is removed at once; removed reports which happened.
func (s *Service) Delete(ctx context.Context, name string) (g *models.Gateway, removed bool, err error) {
	err = s.Store.UpdateGateway(ctx, name, func(t *store.GatewayTx) error {
		if t.Gateway == nil {
			return fmt.Errorf("gateway %q: %w", name, store.ErrNotFound)
		}
		g = t.Gateway
		if !g.Deleting {
			if err := t.MarkDeleting(); err != nil {
				return err
			}
			if err := t.Event("delete", "deletion requested", nil); err != nil {
				return err
			}
		}
		var err error
		removed, err = s.reconcileTx(t)
		return err
	})
	return g, removed, err
}

// ReconcileGateway brings one gateway's replica rows in line with its spec
// (the gateway pipeline's step). It reports whether the gateway was removed.
func (s *Service) ReconcileGateway(ctx context.Context, name string) (removed bool, err error) {
	err = s.Store.UpdateGateway(ctx, name, func(t *store.GatewayTx) error {
		if t.Gateway == nil {
			removed = true
			return nil
		}
		var err error
		removed, err = s.reconcileTx(t)
		return err
	})
	return removed, err
}

func (s *Service) reconcileTx(t *store.GatewayTx) (bool, error) {
	ch := Reconcile(t.Gateway, s.policy(Policy{Now: t.Now}))
	if err := s.write(t, ch.Stop, ch.Add); err != nil {
		return false, err
	}
	if ch.Remove {
		if err := t.Event("delete", "all replicas terminated; gateway removed", nil); err != nil {
			return false, err
		}
		return true, t.Remove()
	}
	if t.Gateway.Deleting {
		return false, nil // the deletion itself is the news; no status churn
	}
	if len(ch.Add) > 0 || len(ch.Stop) > 0 {
		ch = Reconcile(t.Gateway, s.policy(Policy{Now: t.Now}))
	}
	return false, t.SetStatus(ch.Status, ch.Message, ch.RecheckIn)
}

// Get returns one gateway with its replicas.
func (s *Service) Get(ctx context.Context, name string) (*models.Gateway, error) {
	return s.Store.GetGateway(ctx, name)
}

// List returns every gateway with its replicas.
func (s *Service) List(ctx context.Context) ([]*models.Gateway, error) {
	return s.Store.ListGateways(ctx)
}

// Events returns a gateway's history.
func (s *Service) Events(ctx context.Context, name string, limit int) ([]models.Event, error) {
	return s.Store.Events(ctx, name, limit)
}
