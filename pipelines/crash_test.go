package pipelines

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/backends"
	"github.com/portico-dev/portico/gateways/store"
	"github.com/portico-dev/portico/gateways/store/storetest"
	"github.com/portico-dev/portico/models"
)

// TestCrashDuringLaunchResumesWithSameToken stops the engine at the two
// dangerous points of a launch (scenarios 1 to 3): after the token is saved
// but before the request leaves, and after the cloud created the instance
// but before the reply is saved. A new engine must resume with the same
// token and end with exactly one instance, recorded on the row.
func TestCrashDuringLaunchResumesWithSameToken(t *testing.T) {
	cases := []struct {
		name      string
		instances int // what the cloud holds after the crash
		crash     func(f *fakeBackend, cancel context.CancelFunc)
	}{
		{"before the call", 0, func(f *fakeBackend, cancel context.CancelFunc) {
			f.BeforeLaunch = func(ctx context.Context, _ backends.LaunchRequest, _ int) error {
				cancel()
				return ctx.Err()
			}
		}},
		{"after the cloud acted", 1, func(f *fakeBackend, cancel context.CancelFunc) {
			f.AfterLaunch = func(ctx context.Context, _ backends.LaunchRequest, _ backends.Instance) error {
				cancel()
				return ctx.Err()
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, _ string, st *store.Store) {
				e := newEnv(t, st)
				e.apply(spec("crash", 1))
				ctx, cancel := context.WithCancel(bg)
				defer cancel()
				tc.crash(e.fake, cancel)
				stop := e.startIn(ctx, e.engine("first"))
				<-ctx.Done()
				stop()

				r := e.gateway("crash").Replicas[0]
				assert.Equal(t, models.ReplicaPending, r.Status)
				assert.True(t, r.LaunchRequested, "the token was saved before the call")
				assert.Empty(t, r.InstanceID, "the reply never arrived")
				assert.Zero(t, leasesHeld(st), "a stopping engine releases its leases")
				require.Len(t, e.fake.instances(), tc.instances)

				e.fake.BeforeLaunch, e.fake.AfterLaunch = nil, nil
				e.start(e.engine("second"))
				e.eventually(allRunning(1), "crash", "the second engine finishes the launch")

				calls := e.fake.launchCalls()
				require.Len(t, calls, 2)
				assert.Equal(t, r.Token, calls[0].Token)
				assert.Equal(t, r.Token, calls[1].Token, "the resumed launch reuses the token")
				assert.True(t, calls[1].Resume, "the resumed launch asks the backend to adopt first")
				insts := e.fake.instances()
				require.Len(t, insts, 1, "exactly one instance for the replica")
				assert.Equal(t, insts[0].ID, e.gateway("crash").Replicas[0].InstanceID)
			})
		})
	}
}

// TestDeleteWhileProvisioning is scenario 8: a delete is accepted while a
// launch is in flight and another replica waits to be launched.
func TestDeleteWhileProvisioning(t *testing.T) {
	storetest.Each(t, func(t *testing.T, _ string, st *store.Store) {
		e := newEnv(t, st)
		launch := newGate()
		e.fake.BeforeLaunch = func(ctx context.Context, _ backends.LaunchRequest, _ int) error { return launch.wait(ctx) }
		e.apply(spec("doomed", 2))
		// One worker: replica 0's launch blocks it, replica 1 stays pending.
		e.start(e.engine("a", func(c *Config) { c.Workers = 1 }))
		require.Eventually(t, func() bool { return e.fake.inFlight() == 1 }, converge, 5*time.Millisecond)

		_, removed, err := e.svc.Delete(bg, "doomed")
		require.NoError(t, err, "the delete is accepted while a launch is in flight")
		assert.False(t, removed, "a replica may still hold an instance")
		assert.Equal(t, 1, e.fake.inFlight(), "the delete did not wait for the launch")

		launch.open()
		require.Eventually(t, func() bool {
			_, err := st.GetGateway(bg, "doomed")
			return errors.Is(err, store.ErrNotFound)
		}, converge, 10*time.Millisecond, "the gateway is removed once its replicas are gone")

		assert.Empty(t, e.fake.live(), "no instance is left running")
		insts := e.fake.instances()
		require.Len(t, insts, 1, "the pending replica was never launched")
		assert.Len(t, e.fake.launchCalls(), 1)
		assert.Equal(t, []string{insts[0].ID}, e.fake.terminateCalls())
		evs := events(t, st, "doomed")
		assert.Equal(t, "all replicas terminated; gateway removed", evs[len(evs)-1].Message)
	})
}

// TestStaleLeaseWritesNothing is scenario 4: worker A stalls in a launch past
// its lease; B takes the row over and finishes; A's late results are refused.
func TestStaleLeaseWritesNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, _ string, st *store.Store) {
		e := newEnv(t, st)
		stall := newGate()
		e.fake.BeforeLaunch = func(ctx context.Context, _ backends.LaunchRequest, call int) error {
			if call == 1 {
				return stall.wait(ctx) // A's call
			}
			return nil
		}
		e.apply(spec("stolen", 1))

		// A runs passes without Run, hence without a heartbeat: a stalled
		// process does not renew its leases.
		a := e.engine("A", func(c *Config) { c.LeaseTTL = 300 * time.Millisecond })
		actx, acancel := context.WithCancel(bg)
		t.Cleanup(func() { acancel(); a.wg.Wait() })
		_, err := a.Pass(actx)
		require.NoError(t, err)
		require.Eventually(t, func() bool { return e.fake.inFlight() == 1 }, converge, 5*time.Millisecond)
		var staleToken string
		require.NoError(t, st.DB().QueryRowContext(bg, `SELECT lock_token FROM replicas`).Scan(&staleToken))

		b := e.engine("B")
		e.start(b)
		e.eventually(allRunning(1), "stolen", "B claims the expired lease and finishes the launch")
		won := e.gateway("stolen").Replicas[0]

		stall.open()
		a.wg.Wait()
		assert.GreaterOrEqual(t, a.Metrics().StaleWrites.Load(), int64(1), "A's guarded write was refused")
		assert.Contains(t, e.logs.String(), staleToken, "the log names the stale lease")

		after := e.gateway("stolen").Replicas[0]
		assert.Equal(t, won.InstanceID, after.InstanceID)
		assert.Equal(t, models.ReplicaRunning, after.Status)
		assert.Equal(t, won.UpdatedAt, after.UpdatedAt, "A wrote nothing to the row")
		insts := e.fake.instances()
		require.Len(t, insts, 1, "both launches used the token: one instance")
		assert.Equal(t, won.InstanceID, insts[0].ID)
		calls := e.fake.launchCalls()
		require.Len(t, calls, 2)
		assert.Equal(t, calls[0].Token, calls[1].Token)
		assert.True(t, calls[1].Resume, "B knew a launch had been requested")
		transitions := 0
		for _, ev := range events(t, st, "stolen") {
			if ev.ReplicaNum != nil && ev.Kind == "replica" && containsArrow(ev.Message) {
				transitions++
			}
		}
		assert.Equal(t, 1, transitions, "only B's pending → running is in the history")
		assert.Eventually(t, func() bool { return leasesHeld(st) == 0 }, converge, 10*time.Millisecond,
			"no lease is left behind once B is idle")
	})
}

func containsArrow(s string) bool {
	for _, r := range s {
		if r == '→' {
			return true
		}
	}
	return false
}

// TestScaleInWhileLaunching: a row asked to stop before its launch was ever
// requested ends without a cloud call; a row whose launch was requested but
// whose instance id never came back is looked up by token and terminated.
func TestScaleInWhileLaunching(t *testing.T) {
	storetest.Each(t, func(t *testing.T, _ string, st *store.Store) {
		e := newEnv(t, st)

		// Never launched: three pending rows scaled in to one before any engine runs.
		e.apply(spec("shrink", 3))
		e.apply(spec("shrink", 1))
		stop := e.start(e.engine("a"))
		e.eventually(allRunning(1), "shrink", "one replica runs")
		stop()
		g := e.gateway("shrink")
		assert.Len(t, g.Replicas, 3)
		for _, r := range g.Replicas {
			if r.StopRequested {
				assert.Equal(t, models.ReplicaTerminated, r.Status)
				assert.False(t, r.LaunchRequested)
			}
		}
		assert.Len(t, e.fake.launchCalls(), 1)
		assert.Empty(t, e.fake.terminateCalls(), "nothing was launched for the stopped rows")
		assert.Empty(t, e.fake.listCalls())

		// Launch requested, reply lost: scale out to 2, crash after the
		// cloud created replica 1's instance, then scale back in to 1.
		e.apply(spec("shrink", 2))
		ctx, cancel := context.WithCancel(bg)
		defer cancel()
		e.fake.AfterLaunch = func(ctx context.Context, _ backends.LaunchRequest, _ backends.Instance) error {
			cancel()
			return ctx.Err()
		}
		stop = e.startIn(ctx, e.engine("b"))
		<-ctx.Done()
		stop()
		e.fake.AfterLaunch = nil
		lost, ok := byAttempt(e.gateway("shrink"), 1, 2) // slot 1's second row
		require.True(t, ok)
		require.True(t, lost.LaunchRequested)
		require.Empty(t, lost.InstanceID)
		require.Len(t, e.fake.live(), 2, "the cloud started an instance the record does not know")

		e.apply(spec("shrink", 1))
		e.start(e.engine("c"))
		e.eventually(func(g *models.Gateway) bool {
			r, _ := byAttempt(g, 1, 2)
			return allRunning(1)(g) && r.Status == models.ReplicaTerminated
		}, "shrink", "the pending replica with a lost instance is terminated")

		lists := e.fake.listCalls()
		require.Len(t, lists, 1)
		assert.Equal(t, lost.Token, lists[0].Token, "the instance is found by its token")
		live := e.fake.live()
		require.Len(t, live, 1, "only replica 0's instance is left")
		assert.Equal(t, 0, live[0].ReplicaNum)
		assert.Len(t, e.fake.terminateCalls(), 1)
	})
}

// TestGivingUpAfterResumeTerminatesWhatTheTokenStarted: the first call
// reached the cloud but its reply was lost; the resumed call fails for good
// (the token no longer matches what the provider recorded). The instance the
// first call started must not outlive the failed row.
func TestGivingUpAfterResumeTerminatesWhatTheTokenStarted(t *testing.T) {
	storetest.Each(t, func(t *testing.T, _ string, st *store.Store) {
		e := newEnv(t, st)
		e.apply(spec("mismatch", 1))
		ctx, cancel := context.WithCancel(bg)
		defer cancel()
		e.fake.AfterLaunch = func(ctx context.Context, _ backends.LaunchRequest, _ backends.Instance) error {
			cancel()
			return ctx.Err()
		}
		stop := e.startIn(ctx, e.engine("first"))
		<-ctx.Done()
		stop()
		require.Len(t, e.fake.live(), 1)

		e.fake.AfterLaunch = nil
		e.fake.BeforeLaunch = func(context.Context, backends.LaunchRequest, int) error {
			return &backends.Error{Kind: backends.Permanent, Code: "IdempotentParameterMismatch", Message: "token reused with other parameters"}
		}
		e.start(e.engine("second"))
		e.eventually(func(g *models.Gateway) bool { return g.Replicas[0].Status == models.ReplicaFailed }, "mismatch",
			"the replica fails")

		r := e.gateway("mismatch").Replicas[0]
		assert.Equal(t, "permanent", r.ErrorKind)
		assert.Contains(t, r.StatusMessage, "IdempotentParameterMismatch")
		assert.Empty(t, e.fake.live(), "the instance the lost reply named is terminated")
		lists := e.fake.listCalls()
		require.Len(t, lists, 1)
		assert.Equal(t, r.Token, lists[0].Token)
	})
}
