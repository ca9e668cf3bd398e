package gateways

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/portico-dev/portico/models"
)

// Action is the kind of change an apply makes.
type Action string

// Plan actions.
const (
	ActionCreate   Action = "create"
	ActionUpdate   Action = "update"   // in place: replica count, health settings
	ActionRecreate Action = "recreate" // new replicas replace every old one
	ActionRetry    Action = "retry"    // same spec, failed replicas tried again
	ActionNoChange Action = "no-change"
)

// FieldChange is one spec field that differs between the stored gateway and
// the applied spec.
type FieldChange struct {
	Field   string `json:"field"`
	From    string `json:"from"`
	To      string `json:"to"`
	InPlace bool   `json:"in_place"`
}

// Plan is what an apply will do. It is computed from the stored gateway and
// the new spec alone, so it can be shown before anything is written and
// recomputed inside the transaction that writes it.
type Plan struct {
	Action   Action        `json:"action"`
	Gateway  string        `json:"gateway"`
	Revision int64         `json:"base_revision"`
	Changes  []FieldChange `json:"changes,omitempty"`
	Add      []NewReplica  `json:"add,omitempty"`
	Stop     []StopReplica `json:"stop,omitempty"`
	// Replace lists replica numbers that get a new attempt (re-create, retry).
	Replace []int `json:"replace,omitempty"`
	Forced  bool  `json:"forced,omitempty"`
}

// inPlaceFields can change without replacing replicas.
var inPlaceFields = map[string]bool{"replicas": true, "health": true}

// PlanApply compares the stored gateway (nil when new) with spec. force
// re-creates every replica even when nothing changed.
func PlanApply(existing *models.Gateway, spec models.Spec, force bool, p Policy) Plan {
	plan := Plan{Gateway: spec.Name, Forced: force}
	if existing == nil {
		plan.Action = ActionCreate
		g := &models.Gateway{Spec: spec}
		plan.Add = Reconcile(g, p).Add
		return plan
	}
	plan.Revision = existing.Revision
	plan.Changes = DiffSpecs(existing.Spec, spec)
	recreate := force
	for _, c := range plan.Changes {
		if !c.InPlace {
			recreate = true
		}
	}
	next := *existing
	next.Spec = spec
	next.Deleting = false
	ch := Reconcile(&next, p)
	plan.Add, plan.Stop = ch.Add, nil
	for _, s := range ch.Stop {
		if s.Reason == "scale in" {
			plan.Stop = append(plan.Stop, s)
		}
	}
	plan.Add = onlyScaleOut(plan.Add)
	if recreate {
		plan.Action = ActionRecreate
		for _, a := range recreateSlots(&next, plan.Add, plan.Stop) {
			plan.Add = append(plan.Add, a)
			plan.Replace = append(plan.Replace, a.Num)
		}
	} else if len(plan.Changes) > 0 {
		plan.Action = ActionUpdate
	} else if retry := retrySlots(&next); len(retry) > 0 {
		plan.Action = ActionRetry
		for _, r := range retry {
			plan.Replace = append(plan.Replace, r.Num)
			plan.Add = append(plan.Add, NewReplica{Num: r.Num, Attempt: r.Attempt + 1, Placement: placementOf(r), Reason: "retry on apply"})
			plan.Stop = append(plan.Stop, StopReplica{ID: r.ID, Num: r.Num, Reason: "retried"})
		}
	} else {
		plan.Action = ActionNoChange
	}
	sort.SliceStable(plan.Add, func(i, j int) bool { return plan.Add[i].Num < plan.Add[j].Num })
	return plan
}

func onlyScaleOut(adds []NewReplica) []NewReplica {
	var out []NewReplica
	for _, a := range adds {
		if a.Reason == "scale out" {
			out = append(out, a)
		}
	}
	return out
}

// recreateSlots gives every slot that stays a new attempt, placed afresh
// over the spec's regions. The old rows keep serving until their
// replacements run (the pipelines retire them then).
func recreateSlots(g *models.Gateway, added []NewReplica, stopped []StopReplica) []NewReplica {
	gone := map[int]bool{}
	for _, s := range stopped {
		gone[s.Num] = true
	}
	var placed []Placement
	for _, a := range added {
		placed = append(placed, a.Placement)
	}
	var out []NewReplica
	for _, s := range slotsOf(g.Replicas) {
		cur, ok := s.current()
		if !ok || gone[s.num] {
			continue
		}
		pl := Place(g.Spec.RegionList(), placed)
		placed = append(placed, pl)
		out = append(out, NewReplica{Num: s.num, Attempt: s.rows[0].Attempt + 1, Placement: pl,
			Reason: fmt.Sprintf("re-create attempt %d", cur.Attempt)})
	}
	return out
}

// retrySlots are the slots whose newest attempt failed.
func retrySlots(g *models.Gateway) []models.Replica {
	var out []models.Replica
	for _, s := range slotsOf(g.Replicas) {
		if cur, ok := s.current(); ok && cur.Status == models.ReplicaFailed {
			out = append(out, cur)
		}
	}
	return out
}

// DiffSpecs lists the fields that differ, in spec order.
func DiffSpecs(a, b models.Spec) []FieldChange {
	fields := []struct {
		name string
		a, b any
	}{
		{"backend", a.Backend, b.Backend},
		{"regions", regionsText(a), regionsText(b)},
		{"domain", a.Domain, b.Domain},
		{"certificate", a.Certificate, b.Certificate},
		{"replicas", a.Replicas, b.Replicas},
		{"instance_type", a.InstanceType, b.InstanceType},
		{"public_ip", a.WantsPublicIP(), b.WantsPublicIP()},
		{"tags", a.Tags, b.Tags},
		{"health", a.EffectiveHealth(), b.EffectiveHealth()},
	}
	var out []FieldChange
	for _, f := range fields {
		if reflect.DeepEqual(normalize(f.a), normalize(f.b)) {
			continue
		}
		out = append(out, FieldChange{Field: f.name, From: show(f.a), To: show(f.b), InPlace: inPlaceFields[f.name]})
	}
	return out
}

func regionsText(s models.Spec) string { return strings.Join(s.RegionList(), ", ") }

// normalize makes an empty map and a nil map equal.
func normalize(v any) any {
	if m, ok := v.(map[string]string); ok && len(m) == 0 {
		return nil
	}
	return v
}

func show(v any) string {
	switch x := v.(type) {
	case string:
		if x == "" {
			return "(none)"
		}
		return x
	case int, bool:
		return fmt.Sprint(x)
	case *models.Certificate:
		if x == nil {
			return "null"
		}
	case map[string]string:
		if len(x) == 0 {
			return "{}"
		}
	case models.HealthSpec:
		return fmt.Sprintf("%s:%d every %s", x.Path, x.Port, x.Period.D())
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// Summary is one line describing the plan, for prompts and CI logs.
func (p Plan) Summary() string {
	switch p.Action {
	case ActionCreate:
		return fmt.Sprintf("create gateway %q with %d replicas", p.Gateway, len(p.Add))
	case ActionNoChange:
		return fmt.Sprintf("gateway %q is up to date; nothing to do", p.Gateway)
	case ActionRetry:
		return fmt.Sprintf("retry %d failed replicas of gateway %q", len(p.Replace), p.Gateway)
	case ActionRecreate:
		return fmt.Sprintf("re-create gateway %q: %d new replicas replace the old ones", p.Gateway, len(p.Add))
	}
	return fmt.Sprintf("update gateway %q in place: add %d, remove %d replicas", p.Gateway, len(p.Add), len(p.Stop))
}
