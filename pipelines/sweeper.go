package pipelines

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/portico-dev/portico/backends"
	"github.com/portico-dev/portico/gateways/store"
)

// DefaultSweepGrace is how old an unrecorded instance must be before the
// sweeper terminates it. It covers a launch whose reply is still on its way
// to the worker that will record it.
const DefaultSweepGrace = 10 * time.Minute

// SweepOptions tune one sweep.
type SweepOptions struct {
	Grace  time.Duration
	DryRun bool
	// Now overrides the clock, for tests.
	Now time.Time
}

// SweepFinding is one tagged instance and what the sweeper made of it.
type SweepFinding struct {
	Backend  string            `json:"backend"`
	Instance backends.Instance `json:"instance"`
	// Action is "terminate", "terminated", "keep" or "failed".
	Action string `json:"action"`
	Reason string `json:"reason"`
}

// SweepReport lists every instance the sweeper looked at.
type SweepReport struct {
	Findings []SweepFinding `json:"findings"`
	Skipped  bool           `json:"skipped,omitempty"` // another server holds the sweeper lock
}

// Orphans returns the findings the sweeper terminates (or would).
func (r SweepReport) Orphans() []SweepFinding {
	var out []SweepFinding
	for _, f := range r.Findings {
		if f.Action != "keep" {
			out = append(out, f)
		}
	}
	return out
}

// Sweep finds instances of this installation that no live record claims
// and terminates those older than the grace period: instances left by a
// crash between a launch and its record, or by a worker whose lease was
// stolen. It lists the backends' tagged instances first and the records
// second, so an instance launched during the sweep is seen with its record.
// It never touches untagged instances or another installation's. Among
// servers sharing a PostgreSQL only one sweeps at a time.
func Sweep(ctx context.Context, st *store.Store, reg *backends.Registry, o SweepOptions) (SweepReport, error) {
	release, ok, err := st.TryLock(ctx, store.LockSweeper)
	if err != nil {
		return SweepReport{}, err
	}
	if !ok {
		return SweepReport{Skipped: true}, nil
	}
	defer release()
	install, err := st.InstallID(ctx)
	if err != nil {
		return SweepReport{}, err
	}
	if o.Grace == 0 {
		o.Grace = DefaultSweepGrace
	}
	regions, err := st.Regions(ctx)
	if err != nil {
		return SweepReport{}, err
	}
	if _, ok := regions["local"]; !ok && reg.Has("local") {
		regions["local"] = nil // local lists its state directory, whatever the region
	}
	type listed struct {
		backend string
		insts   []backends.Instance
	}
	var all []listed
	var errs []error
	for _, name := range sortedKeys(regions) {
		b, err := reg.Get(ctx, name)
		if err != nil {
			errs = append(errs, fmt.Errorf("sweep %s: %w", name, err))
			continue
		}
		insts, err := b.List(ctx, backends.ListFilter{Install: install, Regions: regions[name]})
		if err != nil {
			errs = append(errs, fmt.Errorf("sweep %s: list: %w", name, err))
			continue
		}
		all = append(all, listed{name, insts})
	}
	records, err := st.Recorded(ctx)
	if err != nil {
		return SweepReport{}, err
	}
	live := map[string]bool{}
	for _, r := range records {
		if !r.Status.Finished() {
			live[r.Token] = true
			if r.InstanceID != "" {
				live["id:"+r.InstanceID] = true
			}
		}
	}
	now := o.Now
	if now.IsZero() {
		if now, err = st.Now(ctx); err != nil {
			return SweepReport{}, err
		}
	}
	var rep SweepReport
	for _, l := range all {
		b, _ := reg.Get(ctx, l.backend)
		for _, inst := range l.insts {
			f := judge(inst, live, now, o.Grace, install)
			f.Backend = l.backend
			if f.Action == "terminate" && !o.DryRun {
				f.Action = "terminated"
				if err := b.Terminate(ctx, inst.Ref()); err != nil {
					f.Action, f.Reason = "failed", f.Reason+"; terminate failed: "+err.Error()
				}
				msg := fmt.Sprintf("orphan sweeper %s %s %s (token %s): %s", f.Action, l.backend, inst.ID, inst.Token, f.Reason)
				slog.Warn(msg)
				_ = st.AppendEvent(ctx, inst.Gateway, "sweep", msg)
			}
			rep.Findings = append(rep.Findings, f)
		}
	}
	return rep, errors.Join(errs...)
}

func judge(inst backends.Instance, live map[string]bool, now time.Time, grace time.Duration, install string) SweepFinding {
	f := SweepFinding{Instance: inst}
	age := now.Sub(inst.LaunchedAt)
	switch {
	case inst.Install != install:
		f.Action, f.Reason = "keep", "belongs to installation "+inst.Install
	case live[inst.Token] || live["id:"+inst.ID]:
		f.Action, f.Reason = "keep", "recorded"
	case age < grace:
		f.Action, f.Reason = "keep", fmt.Sprintf("no record yet, but only %s old (grace %s)", age.Round(time.Second), grace)
	default:
		f.Action, f.Reason = "terminate", fmt.Sprintf("no live record; launched %s ago", age.Round(time.Second))
	}
	return f
}

func sortedKeys(m map[string][]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
