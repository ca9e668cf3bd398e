package pipelines

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/backends"
	"github.com/portico-dev/portico/gateways"
	"github.com/portico-dev/portico/gateways/store"
	"github.com/portico-dev/portico/gateways/store/storetest"
	"github.com/portico-dev/portico/models"
)

func TestProvisionManyReplicasInParallel(t *testing.T) {
	storetest.Each(t, func(t *testing.T, _ string, st *store.Store) {
		e := newEnv(t, st)
		const n = 20
		e.fake.RunAfter = 3 // pending for two describes, so the rows are polled
		launches := newGate()
		e.fake.BeforeLaunch = func(ctx context.Context, _ backends.LaunchRequest, _ int) error { return launches.wait(ctx) }
		e.apply(spec("fleet", n))
		e.start(e.engine("a"))

		// Every launch is held until all are in flight: a pipeline that
		// launched one replica at a time would never get there.
		require.Eventually(t, func() bool { return e.fake.inFlight() == n }, converge, 5*time.Millisecond,
			"all %d launches should be in flight at once", n)
		launches.open()
		e.eventually(allRunning(n), "fleet", "every replica runs")

		g := e.gateway("fleet")
		ids := map[string]bool{}
		for _, r := range g.Replicas {
			assert.Equal(t, 1, r.Attempt)
			assert.NotEmpty(t, r.Hostname)
			ids[r.InstanceID] = true
		}
		assert.Len(t, ids, n, "distinct instances")
		tokens := map[string]bool{}
		for _, l := range e.fake.launchCalls() {
			assert.False(t, l.Resume, "a first launch does not resume")
			tokens[l.Token] = true
		}
		assert.Len(t, e.fake.launchCalls(), n, "one launch per replica")
		assert.Len(t, tokens, n, "distinct tokens")
		assert.Len(t, e.fake.live(), n)
		assert.GreaterOrEqual(t, e.fake.maxConcurrentLaunches(), 10)

		// Polls went through the batcher. How many merge depends on when the
		// rows come due (TestPollRoundIsOneDescribe pins that down); here it
		// is enough that they did not each make their own call.
		calls := e.fake.describeCalls()
		refs, most := 0, 0
		for _, c := range calls {
			refs += len(c)
			most = max(most, len(c))
		}
		assert.Equal(t, 3*n, refs, "each instance was described until it ran, at its third describe")
		assert.GreaterOrEqual(t, most, 2, "some describe carried several instances: %v", batchSizes(calls))
		assert.Less(t, len(calls), refs, "fewer describe calls than instances described: %v", batchSizes(calls))
	})
}

func batchSizes(calls [][]backends.InstanceRef) []int {
	out := make([]int, len(calls))
	for i, c := range calls {
		out[i] = len(c)
	}
	return out
}

func TestEveryStateChangeIsAnEvent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, _ string, st *store.Store) {
		e := newEnv(t, st)
		e.fake.RunAfter = 2
		e.apply(spec("told", 2))
		e.start(e.engine("a"))
		e.eventually(allRunning(2), "told", "both replicas run")

		evs := events(t, st, "told")
		var status []string
		for _, ev := range evs {
			if ev.Kind == "status" {
				status = append(status, ev.Message)
			}
		}
		assert.Equal(t, []string{"gateway is provisioning", "gateway is running"}, status)
		for num := range 2 {
			var mine []string
			for _, ev := range evs {
				if ev.ReplicaNum != nil && *ev.ReplicaNum == num {
					assert.Equal(t, 1, *ev.Attempt)
					mine = append(mine, ev.Message)
				}
			}
			require.Len(t, mine, 3, "created, launched, running: %q", mine)
			assert.Contains(t, mine[0], fmt.Sprintf("replica %d attempt 1 pending in r1", num))
			assert.Contains(t, mine[1], "pending → provisioning: launched i-")
			assert.Contains(t, mine[2], "provisioning → running: serving at 127.0.0.1:")
		}
	})
}

func TestLaunchErrorsByKind(t *testing.T) {
	storetest.Each(t, func(t *testing.T, _ string, st *store.Store) {
		e := newEnv(t, st)
		// A short backoff, so that a wrongly retried permanent failure
		// would show up before the test ends.
		e.svc.Policy = gateways.Policy{Backoff: []time.Duration{50 * time.Millisecond}}
		e.fake.BeforeLaunch = func(_ context.Context, req backends.LaunchRequest, call int) error {
			switch {
			case req.ReplicaNum == 0 && call == 1:
				return &backends.Error{Kind: backends.Transient, Code: "RequestLimitExceeded", Message: "slow down"}
			case req.ReplicaNum == 1:
				return &backends.Error{Kind: backends.Permanent, Code: "InvalidAMIID.NotFound", Message: "ami-123 does not exist"}
			}
			return nil
		}
		e.apply(spec("mixed", 3))
		e.start(e.engine("a"))
		e.eventually(func(g *models.Gateway) bool {
			cur := current(g)
			return g.Status == models.GatewayFailed && cur[0].Status == models.ReplicaRunning &&
				cur[1].Status == models.ReplicaFailed && cur[2].Status == models.ReplicaRunning
		}, "mixed", "the transient error is retried, the permanent one fails its replica only")

		g := e.gateway("mixed")
		assert.Contains(t, g.StatusMessage, "InvalidAMIID.NotFound", "the provider's code reaches the user")
		require.Len(t, g.Replicas, 3, "no replica got a second attempt")

		transient, _ := byAttempt(g, 0, 1)
		calls := launchesOf(e.fake, transient.Token)
		require.Len(t, calls, 2, "one retry after the transient error")
		assert.True(t, calls[1].Resume, "the retry looks for what the first call may have started")
		assert.Equal(t, "1", transient.BackendData["launch_errors"])

		permanent, _ := byAttempt(g, 1, 1)
		assert.Len(t, launchesOf(e.fake, permanent.Token), 1, "a permanent error is not retried")
		assert.Equal(t, "permanent", permanent.ErrorKind)
		assert.Contains(t, permanent.StatusMessage, "InvalidAMIID.NotFound")
		assert.Empty(t, permanent.InstanceID)

		assert.Len(t, e.fake.live(), 2, "one instance per running replica, none for the failed one")
		assert.Len(t, e.fake.instances(), 2)
	})
}

func TestCapacityErrorRetriesOnBackoffWithNewToken(t *testing.T) {
	storetest.Each(t, func(t *testing.T, _ string, st *store.Store) {
		e := newEnv(t, st)
		e.svc.Policy = gateways.Policy{Backoff: []time.Duration{50 * time.Millisecond}}
		e.fake.BeforeLaunch = func(_ context.Context, req backends.LaunchRequest, _ int) error {
			if req.Attempt == 1 {
				return &backends.Error{Kind: backends.Capacity, Code: "InsufficientInstanceCapacity",
					Message: "no t3.micro in r1a, r1b", ZonesTried: []string{"r1a", "r1b"}}
			}
			return nil
		}
		e.apply(spec("full", 1))
		e.start(e.engine("a"))
		e.eventually(allRunning(1), "full", "attempt 2 runs after the backoff")

		g := e.gateway("full")
		first, ok := byAttempt(g, 0, 1)
		require.True(t, ok)
		second, ok := byAttempt(g, 0, 2)
		require.True(t, ok)
		assert.Equal(t, models.ReplicaFailed, first.Status)
		assert.Equal(t, "capacity", first.ErrorKind)
		assert.Contains(t, first.StatusMessage, "InsufficientInstanceCapacity")
		assert.Equal(t, models.ReplicaRunning, second.Status)
		assert.NotEqual(t, first.Token, second.Token, "a new attempt has a new token")
		require.NotNil(t, first.FinishedAt)
		assert.GreaterOrEqual(t, second.CreatedAt.Sub(first.FinishedAt.Truncate(time.Millisecond)), 50*time.Millisecond,
			"the retry waited for the backoff")

		assert.Len(t, launchesOf(e.fake, first.Token), 1, "capacity errors are not retried with the same token")
		assert.Len(t, launchesOf(e.fake, second.Token), 1)
		live := e.fake.live()
		require.Len(t, live, 1, "exactly one instance for the slot")
		assert.Equal(t, second.InstanceID, live[0].ID)
	})
}

func TestCapacityErrorFailsGatewayUntilRetry(t *testing.T) {
	storetest.Each(t, func(t *testing.T, _ string, st *store.Store) {
		e := newEnv(t, st)
		e.svc.Policy = gateways.Policy{Backoff: []time.Duration{time.Hour}}
		e.fake.BeforeLaunch = func(context.Context, backends.LaunchRequest, int) error {
			return &backends.Error{Kind: backends.Capacity, Code: "InsufficientInstanceCapacity", Message: "no t3.micro"}
		}
		e.apply(spec("waits", 1))
		e.start(e.engine("a"))
		e.eventually(func(g *models.Gateway) bool { return g.Status == models.GatewayFailed }, "waits",
			"the gateway reports the failure while the slot waits out its backoff")
		g := e.gateway("waits")
		assert.Contains(t, g.StatusMessage, "replica 0: InsufficientInstanceCapacity: no t3.micro (attempt 2 of 6; next in ")
		assert.Len(t, g.Replicas, 1, "no retry before the backoff")
		assert.Len(t, e.fake.launchCalls(), 1)
	})
}

func launchesOf(f *fakeBackend, token string) []backends.LaunchRequest {
	var out []backends.LaunchRequest
	for _, l := range f.launchCalls() {
		if l.Token == token {
			out = append(out, l)
		}
	}
	return out
}
