package faults_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/backends/awstest"
	"github.com/portico-dev/portico/gateways/store"
	"github.com/portico-dev/portico/gateways/store/storetest"
	"github.com/portico-dev/portico/models"
)

// TestThrottlingBacksOffWithTheSameToken is scenario 11. The first k
// RunInstances (more than the SDK attempts of one call) and the first
// DescribeInstances are throttled. The SDK retries with jittered backoff;
// once its attempts are spent, the replica pipeline retries after its own
// backoff (1 s ± 20%). Every RunInstances carries the same token, attempts are
// bounded, and there is no hot loop.
func TestThrottlingBacksOffWithTheSameToken(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, dsn string, st *store.Store) {
		w := newWorld(t, dsn, st, awstest.Options{})
		const k = sdkAttempts + 2
		w.fake.Throttle("RunInstances", k)
		w.fake.Throttle("DescribeInstances", 3)
		w.apply(spec("edge", 1))
		w.start(w.engine("a"))
		w.waitFor("edge", allRunning(1), "the launch succeeds once the throttling stops")

		r := current(w.gateway("edge"))[0]
		runs := w.calls("RunInstances")
		require.Len(t, runs, k+1, "k throttled calls, then one that succeeds: no extra attempt")
		var sdkGaps []time.Duration
		pipelineRetries := 0
		for i, c := range runs {
			assert.Equal(t, runs[0].ClientToken, c.ClientToken, "call %d reuses the token", i)
			assert.LessOrEqual(t, c.Attempt, sdkAttempts, "the SDK's attempts per call are bounded")
			if i < k {
				assert.Equal(t, "RequestLimitExceeded", c.Result, "call %d", i)
			}
			if i == 0 {
				continue
			}
			gap := c.Time.Sub(runs[i-1].Time)
			if c.Attempt > 1 {
				sdkGaps = append(sdkGaps, gap)
				continue
			}
			pipelineRetries++
			assert.GreaterOrEqual(t, gap, 750*time.Millisecond, "the pipeline's retry waits its backoff (1 s, jittered by at most 20%)")
		}
		assert.Empty(t, runs[k].Result)
		assert.Equal(t, 1, pipelineRetries, "one pipeline-level retry after the SDK gave up")
		require.Len(t, sdkGaps, k-1)
		var sum, lo, hi time.Duration
		lo = time.Hour
		for _, g := range sdkGaps {
			sum += g
			lo, hi = min(lo, g), max(hi, g)
		}
		assert.GreaterOrEqual(t, sum/time.Duration(len(sdkGaps)), time.Millisecond, "SDK retries wait between attempts: %v", sdkGaps)
		assert.Greater(t, hi-lo, time.Duration(0), "SDK backoff is jittered: %v", sdkGaps)
		assert.Equal(t, r.Token+"-"+r.Zone, runs[0].ClientToken)

		desc := w.calls("DescribeInstances")
		require.GreaterOrEqual(t, len(desc), 4)
		for i, c := range desc[:3] {
			assert.Equal(t, "RequestLimitExceeded", c.Result, "describe %d", i)
			assert.LessOrEqual(t, c.Attempt, sdkAttempts)
		}
		assert.Empty(t, desc[3].Result, "the describe succeeds after its throttled attempts")
		assert.Len(t, ids(w.live(ofGateway("edge"))), 1)
		assert.True(t, hasEvent(t, st, "edge", "with the same token: RequestLimitExceeded"), "the retry is in the history")
		checkInvariants(w)
	})
}

// TestNoCapacityInOneZone is scenario 12: the replica's zone has no
// capacity; it lands in the next zone, under that zone's own token.
func TestNoCapacityInOneZone(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, dsn string, st *store.Store) {
		w := newWorld(t, dsn, st, awstest.Options{})
		w.fake.SetCapacity(region, region+"a", false)
		w.apply(spec("edge", 1))
		w.start(w.engine("a"))
		w.waitFor("edge", allRunning(1), "the replica runs in another zone")

		r := current(w.gateway("edge"))[0]
		assert.Equal(t, region+"b", r.Zone)
		assert.Equal(t, region+"a,"+region+"b", r.BackendData["zones_tried"], "the record lists zone a as tried")
		runs := w.calls("RunInstances")
		require.Len(t, runs, 2, "one refused call in a, one in b")
		assert.Equal(t, r.Token+"-"+region+"a", runs[0].ClientToken)
		assert.Equal(t, "InsufficientInstanceCapacity", runs[0].Result)
		assert.Equal(t, r.Token+"-"+region+"b", runs[1].ClientToken, "zone b gets its own token")
		assert.Empty(t, runs[1].Result, "no IdempotentParameterMismatch")
		insts := w.live(ofGateway("edge"))
		require.Len(t, ids(insts), 1)
		assert.Equal(t, region+"b", insts[0].Zone)
		checkInvariants(w)
	})
}

// TestNoCapacityAnywhere is scenario 13: every zone is full. Each attempt
// fails naming the instance type, region and zones; the gateway retries on
// its backoff schedule (200 ms, 400 ms in this suite) with a new token, and
// gives up after MaxAttempts (3). Nothing is leaked. A later apply, once
// capacity is back, retries and converges.
func TestNoCapacityAnywhere(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, dsn string, st *store.Store) {
		w := newWorld(t, dsn, st, awstest.Options{})
		for _, z := range []string{"a", "b", "c"} {
			w.fake.SetCapacity(region, region+z, false)
		}
		w.apply(spec("edge", 1))
		w.start(w.engine("a"))
		w.waitFor("edge", func(g *models.Gateway) bool {
			return g != nil && g.Status == models.GatewayFailed && strings.Contains(g.StatusMessage, "gave up after 3 attempts")
		}, "the gateway gives up after MaxAttempts")

		g := w.gateway("edge")
		require.Len(t, g.Replicas, 3, "exactly MaxAttempts attempts")
		for i, r := range g.Replicas {
			assert.Equal(t, i+1, r.Attempt)
			assert.Equal(t, models.ReplicaFailed, r.Status)
			assert.Equal(t, "capacity", r.ErrorKind)
			for _, want := range []string{"t3.micro", region, region + "a", region + "b", region + "c"} {
				assert.Contains(t, r.StatusMessage, want, "attempt %d names what was tried", r.Attempt)
			}
			if i > 0 {
				prev := g.Replicas[i-1]
				require.NotNil(t, prev.FinishedAt)
				wait := fastPolicy.Backoff[i-1]
				assert.GreaterOrEqual(t, r.CreatedAt.Sub(*prev.FinishedAt), wait, "attempt %d waits its backoff", r.Attempt)
			}
		}
		assert.Contains(t, g.StatusMessage, "t3.micro")
		runs := w.calls("RunInstances")
		assert.Len(t, runs, 9, "three attempts, three zones each")
		tokens := map[string]bool{}
		for _, c := range runs {
			tokens[c.ClientToken] = true
		}
		assert.Len(t, tokens, 9, "each attempt and zone has its own token")
		assert.Empty(t, ids(w.live(nil)), "no instance leaked")
		time.Sleep(time.Second) // longer than the whole backoff schedule
		assert.Len(t, w.calls("RunInstances"), 9, "no attempt after giving up")
		assert.Len(t, w.gateway("edge").Replicas, 3)
		checkInvariants(w)

		for _, z := range []string{"a", "b", "c"} {
			w.fake.SetCapacity(region, region+z, true)
		}
		plan, _, err := w.svc.Plan(bg, spec("edge", 1), false)
		require.NoError(t, err)
		assert.Equal(t, "retry", string(plan.Action), "a re-apply retries the failed slot")
		w.apply(spec("edge", 1))
		w.start(w.engine("b"))
		w.waitFor("edge", allRunning(1), "the retried slot runs once capacity is back")
		assert.Equal(t, 4, current(w.gateway("edge"))[0].Attempt)
		checkInvariants(w)
	})
}

// TestPermanentLaunchErrors is scenario 14: no blind retry of an error
// that cannot heal by itself; the gateway fails with the AWS code.
func TestPermanentLaunchErrors(t *testing.T) {
	t.Parallel()
	for _, code := range []string{"InvalidAMIID.NotFound", "UnauthorizedOperation", "InstanceLimitExceeded"} {
		t.Run(code, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, dsn string, st *store.Store) {
				w := newWorld(t, dsn, st, awstest.Options{})
				w.fake.FailNext("RunInstances", code, "injected by the fault suite", 100)
				w.apply(spec("edge", 1))
				w.start(w.engine("a"))
				w.waitFor("edge", func(g *models.Gateway) bool {
					return g != nil && g.Status == models.GatewayFailed
				}, "the gateway fails")

				g := w.gateway("edge")
				assert.Contains(t, g.StatusMessage, code, "the status names the provider's code")
				require.Len(t, g.Replicas, 1)
				assert.Equal(t, "permanent", g.Replicas[0].ErrorKind)
				time.Sleep(700 * time.Millisecond) // longer than the backoff schedule
				assert.Len(t, w.calls("RunInstances"), 1, "exactly one attempt: no blind retry")
				assert.Len(t, w.gateway("edge").Replicas, 1, "no new attempt")
				assert.Empty(t, ids(w.live(nil)), "no instance")
				checkInvariants(w)
			})
		})
	}
}

func hasEvent(t *testing.T, st *store.Store, name, substr string) bool {
	t.Helper()
	evs, err := st.Events(bg, name, 0)
	require.NoError(t, err)
	for _, ev := range evs {
		if strings.Contains(ev.Message, substr) {
			return true
		}
	}
	return false
}
