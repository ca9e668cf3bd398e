package gcp

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/backends"
	"github.com/portico-dev/portico/backends/gcptest"
)

// callCounts sorts the fake's call log by what the calls were for.
type callCounts struct {
	setup    int // zones.list and the firewall rule, once per process
	writes   int // instances.insert or instances.delete
	opPolls  int // operation lists and waits, and reads of launched instances
	describe int // instances.aggregatedList: Describe rounds
	other    int
}

func countCalls(log []gcptest.Call) callCounts {
	var c callCounts
	for _, call := range log {
		switch call.Method {
		case "zones.list", "firewalls.get", "firewalls.insert", "globalOperations.wait":
			c.setup++
		case "instances.insert", "instances.delete":
			c.writes++
		case "globalOperations.aggregatedList", "zoneOperations.wait", "zoneOperations.get", "instances.get":
			c.opPolls++
		case "instances.aggregatedList":
			c.describe++
		default:
			c.other++
		}
	}
	return c
}

// work is the calls a step needs per replica, one-time setup left out.
func (c callCounts) work() int { return c.writes + c.opPolls + c.describe + c.other }

// budgetOptions are the fake cloud's delays for the budget tests: a
// Compute Engine shortened about fifty times.
var budgetOptions = gcptest.Options{
	InsertLatency: 200 * time.Millisecond,
	RunningAfter:  300 * time.Millisecond,
	DeleteLatency: 200 * time.Millisecond,
}

// launchAndWait launches n replicas at once, as the pipelines' workers
// do, then describes them all together every PollInterval, as the
// pipelines' describe batcher does, until every one runs with a hostname.
func launchAndWait(t *testing.T, b *backend, n int) []backends.InstanceRef {
	t.Helper()
	refs := make([]backends.InstanceRef, n)
	var wg sync.WaitGroup
	for i := range refs {
		wg.Go(func() {
			in, err := b.Launch(testCtx(t), request(fmt.Sprintf("tok-%d", i), i))
			assert.NoError(t, err)
			refs[i] = in.Ref()
		})
	}
	wg.Wait()
	require.False(t, t.Failed())
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, err := b.Describe(testCtx(t), refs...)
		require.NoError(t, err)
		running := 0
		for _, in := range got {
			if in.State == backends.StateRunning && in.Hostname != "" {
				running++
			}
		}
		if running == n {
			return refs
		}
		require.True(t, time.Now().Before(deadline), "%d of %d running", running, n)
		time.Sleep(b.Capabilities().PollInterval)
	}
}

// terminateAll terminates every ref at once, as the pipelines do when a
// gateway is deleted.
func terminateAll(t *testing.T, b *backend, refs []backends.InstanceRef) {
	t.Helper()
	var wg sync.WaitGroup
	for _, ref := range refs {
		wg.Go(func() { assert.NoError(t, b.Terminate(testCtx(t), ref)) })
	}
	wg.Wait()
}

// The API economy of issue 7: calls per replica to launch N replicas at
// once and wait until they run, and to terminate them, with the figures
// logged. Batching makes the operation polls and describe rounds a cost
// per round, not per replica, so the ratio falls as N grows.
func TestCallBudget(t *testing.T) {
	tests := []struct {
		n int
		// maxOpPolls bounds the operation polls of all N launches (and,
		// separately, of all N deletions): a few rounds, whatever N.
		maxOpPolls int
		// maxLaunch and maxTerminate bound the calls per replica, setup
		// left out; maxWithSetup bounds them with setup counted in.
		maxLaunch, maxWithSetup, maxTerminate float64
	}{
		// Alone, an operation is long-polled: exactly one wait.
		{n: 1, maxOpPolls: 1, maxLaunch: 5, maxWithSetup: 9, maxTerminate: 2},
		{n: 6, maxOpPolls: 4, maxLaunch: 2, maxWithSetup: 2.5, maxTerminate: 1.7},
		{n: 20, maxOpPolls: 5, maxLaunch: 1.5, maxWithSetup: 1.5, maxTerminate: 1.25},
		{n: 100, maxOpPolls: 8, maxLaunch: 1.15, maxWithSetup: 1.15, maxTerminate: 1.08},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("N=%d", tt.n), func(t *testing.T) {
			f := newFixture(t, budgetOptions, Config{PollInterval: 100 * time.Millisecond})
			refs := launchAndWait(t, f.b, tt.n)
			launch := countCalls(f.srv.CallLog())
			n := float64(tt.n)
			t.Logf("N=%d launch and wait: %.2f calls per replica (%.2f with setup): insert=%d op polls=%d describe rounds=%d setup=%d",
				tt.n, float64(launch.work())/n, float64(launch.work()+launch.setup)/n, launch.writes, launch.opPolls, launch.describe, launch.setup)

			f.srv.ResetCalls()
			terminateAll(t, f.b, refs)
			term := countCalls(f.srv.CallLog())
			t.Logf("N=%d terminate: %.2f calls per replica: delete=%d op polls=%d", tt.n, float64(term.work())/n, term.writes, term.opPolls)

			assert.Equal(t, tt.n, launch.writes, "one insert per replica")
			assert.Zero(t, launch.other)
			assert.LessOrEqual(t, launch.opPolls, tt.maxOpPolls, "operation polls of the launches")
			assert.LessOrEqual(t, term.opPolls, tt.maxOpPolls, "operation polls of the deletions")
			assert.LessOrEqual(t, float64(launch.work())/n, tt.maxLaunch, "launch and wait, per replica")
			assert.LessOrEqual(t, float64(launch.work()+launch.setup)/n, tt.maxWithSetup, "launch and wait with setup, per replica")
			assert.Equal(t, tt.n, term.writes, "one delete per replica")
			assert.Zero(t, term.describe+term.other+term.setup)
			assert.LessOrEqual(t, float64(term.work())/n, tt.maxTerminate, "terminate, per replica")
			assert.Empty(t, f.srv.Instances(), "terminate waited for every deletion")
		})
	}
}
