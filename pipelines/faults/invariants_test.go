package faults_test

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/backends"
	"github.com/portico-dev/portico/backends/awstest"
	"github.com/portico-dev/portico/models"
)

// checkInvariants checks the global invariants once the scenario has
// converged, first while its engines still run (waiting out the fake's
// shutting-down → terminated), then again after stopping them:
//
//   - I1: per gateway, the live instances tagged with it equal its desired
//     replicas (0 for a deleted gateway; for a failed one, its serving rows).
//   - I2: every live instance tagged with this installation has a live
//     record (its token or id on an unfinished row), or is younger than
//     w.grace (0 by default: no unrecorded instance at all).
//   - I3: no unfinished record points at an instance the fake reports
//     shutting down or terminated.
//   - I4: no lease column is set on any replica or gateway row once idle.
func checkInvariants(w *world) {
	w.t.Helper()
	var last []string
	ok := assert.Eventually(w.t, func() bool {
		last = w.violations()
		if !w.health {
			last = append(last, w.leaseViolations()...)
		}
		return len(last) == 0
	}, converge, 20*time.Millisecond)
	if !ok {
		w.t.Fatalf("invariants do not hold:\n  %s\nfake: %s", strings.Join(last, "\n  "), w.describeFake())
	}
	w.stopAll()
	v := append(w.violations(), w.leaseViolations()...)
	require.Empty(w.t, v, "invariants after the engines stopped; fake: %s", w.describeFake())
}

func (w *world) violations() []string {
	install, err := w.st.InstallID(bg)
	if err != nil {
		return []string{"install id: " + err.Error()}
	}
	gws, err := w.st.ListGateways(bg)
	if err != nil {
		return []string{"list gateways: " + err.Error()}
	}
	var out []string
	want := map[string]int{}
	for _, name := range w.gone {
		want[name] = 0
	}
	liveRecord := map[string]bool{}
	for _, g := range gws {
		want[g.Name] = g.Spec.Replicas
		if g.Deleting {
			want[g.Name] = 0
		}
		if g.Status == models.GatewayFailed {
			want[g.Name] = 0
			for _, r := range g.Replicas {
				if r.Status.Serving() && !r.StopRequested {
					want[g.Name]++
				}
			}
		}
		for _, r := range g.Replicas {
			if r.Status.Finished() {
				continue
			}
			liveRecord[r.Token] = true
			if r.InstanceID != "" {
				liveRecord["id:"+r.InstanceID] = true
			}
		}
	}
	insts := map[string]awstest.Instance{}
	have := map[string]int{}
	for _, in := range w.fake.Instances(region) {
		insts[in.ID] = in
		if !isLive(in) || in.Tags[backends.TagInstall] != install {
			continue
		}
		have[in.Tags[backends.TagGateway]]++
		if _, ok := want[in.Tags[backends.TagGateway]]; !ok {
			want[in.Tags[backends.TagGateway]] = 0
		}
		if !liveRecord[in.Tags[backends.TagToken]] && !liveRecord["id:"+in.ID] && time.Since(in.LaunchTime) >= w.grace {
			out = append(out, fmt.Sprintf("I2: instance %s (token %s) has no live record", in.ID, in.Tags[backends.TagToken]))
		}
	}
	for name, n := range want {
		if have[name] != n {
			out = append(out, fmt.Sprintf("I1: gateway %q has %d live instances, wants %d", name, have[name], n))
		}
	}
	for _, g := range gws {
		for _, r := range g.Replicas {
			if r.Status.Finished() || r.InstanceID == "" {
				continue
			}
			if in, ok := insts[r.InstanceID]; !ok || !isLive(in) {
				out = append(out, fmt.Sprintf("I3: %s replica %d attempt %d is %s but instance %s is %s",
					g.Name, r.Num, r.Attempt, r.Status, r.InstanceID, in.State))
			}
		}
	}
	sort.Strings(out)
	return out
}

func (w *world) leaseViolations() []string {
	var out []string
	for _, table := range []string{"replicas", "gateways"} {
		var n int
		err := w.st.DB().QueryRowContext(bg, `SELECT COUNT(*) FROM `+table+
			` WHERE lock_token IS NOT NULL OR lock_owner IS NOT NULL OR lock_expires_at IS NOT NULL`).Scan(&n)
		switch {
		case err != nil:
			out = append(out, "I4: "+err.Error())
		case n > 0:
			out = append(out, fmt.Sprintf("I4: %d %s rows hold a lease", n, table))
		}
	}
	return out
}

func isLive(in awstest.Instance) bool { return in.State != "shutting-down" && in.State != "terminated" }

func (w *world) describeFake() string {
	var b strings.Builder
	for _, in := range w.fake.Instances(region) {
		fmt.Fprintf(&b, "\n  %s %s %s gw=%s token=%s", in.ID, in.State, in.Zone, in.Tags[backends.TagGateway], in.Tags[backends.TagToken])
	}
	return b.String()
}
