package faults_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/backends/awstest"
	"github.com/portico-dev/portico/gateways/store"
	"github.com/portico-dev/portico/gateways/store/storetest"
	"github.com/portico-dev/portico/models"
)

// crashPoint is where a launch is interrupted: the action whose hook fires
// and the phase, with what the cloud must hold right after the crash.
type crashPoint struct {
	name   string
	action string
	phase  awstest.Phase
	// acted says the cloud created instances before the crash.
	acted bool
}

var crashPoints = []crashPoint{
	// Scenario 1: RunInstances took effect, the reply never reached the
	// process, so the instance id was never saved.
	{"after RunInstances acted", "RunInstances", awstest.AfterAction, true},
	// Scenario 2: the token is saved (launch requested) and the launch is
	// looking up its image, the last call before RunInstances.
	{"after the token is saved, before RunInstances", "DescribeImages", awstest.BeforeAction, false},
}

// TestCrashMidLaunchThenRestart runs scenarios 1 and 2 with an in-process
// crash: the hook cancels the engine's context, then a fresh engine (its
// own backend, no memory) takes over.
func TestCrashMidLaunchThenRestart(t *testing.T) {
	t.Parallel()
	for _, cp := range crashPoints {
		t.Run(cp.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, dsn string, st *store.Store) {
				// The reply of RunInstances is held back a little, so the
				// cancelled client never reads it.
				w := newWorld(t, dsn, st, awstest.Options{LaunchLatency: 300 * time.Millisecond})
				w.apply(spec("edge", 2))
				ctx, crash := context.WithCancel(bg)
				defer crash()
				var once sync.Once
				w.fake.Hook(cp.action, cp.phase, func() { once.Do(crash) })
				stop := w.startIn(ctx, w.engine("first"))
				<-ctx.Done()
				stop()
				w.fake.Hook(cp.action, cp.phase, nil)

				w.assertCrashState("edge", cp.acted)
				w.start(w.engine("second"))
				w.waitFor("edge", allRunning(2), "a fresh engine finishes the interrupted launches")
				w.assertOneLaunchPerSlot("edge", cp.acted)
				checkInvariants(w)
			})
		})
	}
}

// TestKill9ApplyMidLaunchThenReapply runs scenarios 1 and 2 with a real
// `kill -9` of a `portico apply` process at the crash point, then runs the
// same apply again, as a user would.
func TestKill9ApplyMidLaunchThenReapply(t *testing.T) {
	t.Parallel()
	for _, cp := range crashPoints {
		t.Run(cp.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, dsn string, st *store.Store) {
				w := newWorld(t, dsn, st, awstest.Options{})
				c := w.cli("")
				file := c.file("gateway.yml", specYAML("edge", 2))
				var p atomic.Pointer[proc]
				started := make(chan struct{})
				var once sync.Once
				w.fake.Hook(cp.action, cp.phase, func() {
					once.Do(func() {
						<-started
						p.Load().kill()
						<-p.Load().done // dead before the reply is written
					})
				})
				p.Store(c.start("apply", "-f", file, "-y"))
				close(started)
				r := p.Load().wait()
				require.NotEqual(t, 0, r.code, "apply was killed\nstderr:\n%s", r.stderr)
				ws, _ := p.Load().cmd.ProcessState.Sys().(syscall.WaitStatus)
				require.Equal(t, syscall.SIGKILL, ws.Signal(), "apply died of kill -9")
				w.fake.Hook(cp.action, cp.phase, nil)

				w.assertCrashState("edge", cp.acted)
				r = c.mustRun("apply", "-f", file, "-y")
				assert.NotContains(t, r.stderr, "database is locked")
				w.waitFor("edge", allRunning(2), "the second apply converged")
				w.assertOneLaunchPerSlot("edge", cp.acted)
				checkInvariants(w)
			})
		})
	}
}

// assertCrashState checks what a crash at a launch left: launches were
// requested (tokens saved) but no instance id was recorded, and the cloud
// holds instances only if it acted.
func (w *world) assertCrashState(name string, acted bool) {
	w.t.Helper()
	g := w.gateway(name)
	requested := 0
	for _, r := range g.Replicas {
		assert.Equal(w.t, models.ReplicaPending, r.Status, "replica %d", r.Num)
		if r.LaunchRequested {
			requested++
		}
		if acted {
			continue
		}
		assert.Empty(w.t, r.InstanceID, "replica %d: nothing was launched", r.Num)
	}
	unrecorded := 0
	for _, r := range g.Replicas {
		if r.LaunchRequested && r.InstanceID == "" {
			unrecorded++
		}
	}
	require.Positive(w.t, requested, "the token was saved before any cloud call")
	require.Positive(w.t, unrecorded, "a requested launch has no instance id on record")
	if acted {
		require.NotEmpty(w.t, w.live(ofGateway(name)), "the cloud started an instance the record does not know")
	} else {
		require.Empty(w.t, w.calls("RunInstances"), "the crash came before any RunInstances")
		require.Empty(w.t, ids(w.live(nil)))
	}
}

// assertOneLaunchPerSlot checks the pass criteria of scenarios 1 and 2:
// exactly one live instance per replica, recorded on its row, and the fake
// saw one ClientToken per replica (the row's token in the replica's zone).
// Without an earlier RunInstances, the create is sent exactly once.
func (w *world) assertOneLaunchPerSlot(name string, acted bool) {
	w.t.Helper()
	g := w.gateway(name)
	install, err := w.st.InstallID(bg)
	require.NoError(w.t, err)
	for num, r := range current(g) {
		assert.Equal(w.t, 1, r.Attempt, "replica %d: no new attempt was needed", num)
		insts := w.live(withToken(r.Token))
		require.Len(w.t, ids(insts), 1, "replica %d: exactly one instance", num)
		assert.Equal(w.t, insts[0].ID, r.InstanceID, "replica %d: the record holds the instance", num)
		tokens := map[string]int{}
		for _, c := range w.calls("RunInstances") {
			if strings.HasPrefix(c.ClientToken, fmt.Sprintf("p%s-%d-%d-", install, g.ID, num)) {
				tokens[c.ClientToken]++
			}
		}
		assert.Equal(w.t, map[string]int{r.Token + "-" + insts[0].Zone: tokens[r.Token+"-"+insts[0].Zone]}, tokens,
			"replica %d: one distinct ClientToken, the row's token in its zone", num)
		if !acted {
			assert.Equal(w.t, 1, tokens[r.Token+"-"+insts[0].Zone], "replica %d: the create is sent once, after recovery", num)
		}
	}
	assert.Len(w.t, ids(w.live(ofGateway(name))), len(current(g)))
	for _, c := range w.calls("RunInstances") {
		assert.NotEqual(w.t, "IdempotentParameterMismatch", c.Result)
	}
}

// TestLostRunInstancesReply is scenario 3: EC2 creates the instance, then
// the reply is lost twice. The retries carry the identical token and get
// the same instance back.
func TestLostRunInstancesReply(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, dsn string, st *store.Store) {
		w := newWorld(t, dsn, st, awstest.Options{})
		w.fake.DropResponse("RunInstances", 2)
		w.apply(spec("edge", 1))
		w.start(w.engine("a"))
		w.waitFor("edge", allRunning(1), "the launch succeeds despite two lost replies")

		r := current(w.gateway("edge"))[0]
		runs := w.calls("RunInstances")
		require.GreaterOrEqual(t, len(runs), 3, "two lost replies, then one that arrives")
		for i, c := range runs {
			assert.Equal(t, runs[0].ClientToken, c.ClientToken, "call %d reuses the token", i)
			assert.NotEqual(t, "IdempotentParameterMismatch", c.Result)
		}
		assert.Equal(t, "dropped", runs[0].Result)
		assert.Equal(t, "dropped", runs[1].Result)
		assert.Empty(t, runs[len(runs)-1].Result)
		insts := w.live(ofGateway("edge"))
		require.Len(t, ids(insts), 1, "exactly one instance")
		assert.Equal(t, insts[0].ID, r.InstanceID, "the retry returned the instance the lost call created")
		assert.Equal(t, r.Token+"-"+insts[0].Zone, runs[0].ClientToken)
		checkInvariants(w)
	})
}
