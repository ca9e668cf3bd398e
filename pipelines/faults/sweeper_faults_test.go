package faults_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/backends"
	"github.com/portico-dev/portico/backends/awstest"
	"github.com/portico-dev/portico/gateways/store"
	"github.com/portico-dev/portico/gateways/store/storetest"
	"github.com/portico-dev/portico/pipelines"
)

// TestSweeperSafety is scenario 25. The cloud holds (a) an instance tagged
// with this installation and no record, an hour old; (b) a young instance
// whose record is still pending (launch requested, id not yet saved); (c)
// an old instance of another installation; (d) an old untagged instance;
// (e) a young tagged instance with no record. Only (a) is swept; the dry
// run (in-process and `portico sweep --dry-run --json`) lists exactly (a);
// (e) goes once it outlives the grace; (b) is adopted by its record. On
// PostgreSQL two sweeps at once never both terminate: one is skipped.
func TestSweeperSafety(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, dsn string, st *store.Store) {
		w := newWorld(t, dsn, st, awstest.Options{})
		w.apply(spec("edge", 1))
		install, err := st.InstallID(bg)
		require.NoError(t, err)
		row := w.gateway("edge").Replicas[0]
		_, err = st.DB().ExecContext(bg, `UPDATE replicas SET launch_requested = TRUE`)
		require.NoError(t, err)

		hourAgo := time.Now().Add(-time.Hour)
		seed := func(tags map[string]string, clientToken string, at time.Time) string {
			in, err := w.fake.SeedInstance(region, awstest.SeedSpec{Tags: tags, ClientToken: clientToken, LaunchTime: at})
			require.NoError(t, err)
			return in.ID
		}
		tagged := func(inst, gw, token string) map[string]string {
			return map[string]string{backends.TagInstall: inst, backends.TagGateway: gw, backends.TagToken: token,
				backends.TagReplica: "0", "Name": "portico-" + gw + "-0"}
		}
		a := seed(tagged(install, "ghost", "p"+install+"-999-0-1"), "", hourAgo)
		b := seed(tagged(install, "edge", row.Token), row.Token+"-"+region+"a", time.Now())
		c := seed(tagged("0ther1d0", "edge", "p0ther1d0-1-0-1"), "", hourAgo)
		d := seed(map[string]string{"team": "infra"}, "", hourAgo)
		e := seed(tagged(install, "late", "p"+install+"-998-0-1"), "", time.Now())
		reg := w.registry()

		rep, err := pipelines.Sweep(bg, st, reg, pipelines.SweepOptions{DryRun: true})
		require.NoError(t, err)
		assert.Equal(t, []string{a}, orphanIDs(rep), "the dry run lists exactly (a)")
		assert.ElementsMatch(t, []string{a, b, e}, findingIDs(rep), "only this installation's instances are looked at")
		var listed pipelines.SweepReport
		out := w.cli("").mustRun("sweep", "--dry-run", "--json")
		require.NoError(t, json.Unmarshal([]byte(out.stdout), &listed), out.stdout)
		assert.Equal(t, []string{a}, orphanIDs(listed), "`portico sweep --dry-run` lists exactly (a)")
		assert.Empty(t, w.calls("TerminateInstances"), "a dry run terminates nothing")

		if st.Dialect() == "postgres" {
			hold := w.newGate()
			w.fake.Hook("TerminateInstances", awstest.BeforeAction, hold.wait)
			first := make(chan pipelines.SweepReport, 1)
			go func() {
				r, err := pipelines.Sweep(bg, st, reg, pipelines.SweepOptions{})
				assert.NoError(t, err)
				first <- r
			}()
			require.Eventually(t, func() bool { return len(w.calls("TerminateInstances")) == 1 }, converge, 5*time.Millisecond)
			second, err := pipelines.Sweep(bg, st, w.registry(), pipelines.SweepOptions{})
			require.NoError(t, err)
			assert.True(t, second.Skipped, "the second sweeper is skipped while the first holds the lock")
			hold.open()
			rep = <-first
			w.fake.Hook("TerminateInstances", awstest.BeforeAction, nil)
		} else {
			rep, err = pipelines.Sweep(bg, st, reg, pipelines.SweepOptions{})
			require.NoError(t, err)
		}
		assert.Equal(t, []string{a}, orphanIDs(rep))
		assert.Equal(t, "terminated", rep.Orphans()[0].Action)
		assert.Len(t, w.calls("TerminateInstances"), 1, "one TerminateInstances, for (a)")
		states := map[string]string{}
		for _, in := range w.fake.Instances(region) {
			states[in.ID] = in.State
		}
		assert.Contains(t, []string{"shutting-down", "terminated"}, states[a], "(a) is terminated")
		for _, id := range []string{b, c, d, e} {
			assert.Equal(t, "running", states[id], "%s is untouched", id)
		}
		assert.True(t, hasEvent(t, st, "ghost", "orphan sweeper terminated"), "the sweep is in the history")

		rep, err = pipelines.Sweep(bg, st, w.registry(), pipelines.SweepOptions{})
		require.NoError(t, err)
		assert.Empty(t, orphanIDs(rep), "a second sweep finds (a) gone")
		assert.Len(t, w.calls("TerminateInstances"), 1, "and never terminates it twice")

		later, err := st.Now(bg)
		require.NoError(t, err)
		rep, err = pipelines.Sweep(bg, st, reg, pipelines.SweepOptions{Now: later.Add(pipelines.DefaultSweepGrace + time.Minute)})
		require.NoError(t, err)
		assert.Equal(t, []string{e}, orphanIDs(rep), "(e) goes once older than the grace; (b) has its record")

		w.start(w.engine("a"))
		w.waitFor("edge", allRunning(1), "the pending record adopts its instance")
		assert.Equal(t, b, w.gateway("edge").Replicas[0].InstanceID, "(b) was adopted, not duplicated")
		assert.Empty(t, w.calls("RunInstances"), "adopted by token, nothing launched")
		checkInvariants(w)
	})
}

func orphanIDs(rep pipelines.SweepReport) []string {
	var out []string
	for _, f := range rep.Orphans() {
		out = append(out, f.Instance.ID)
	}
	slices.Sort(out)
	return out
}

func findingIDs(rep pipelines.SweepReport) []string {
	var out []string
	for _, f := range rep.Findings {
		out = append(out, f.Instance.ID)
	}
	return out
}
