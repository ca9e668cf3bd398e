package faults_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/backends/awstest"
	"github.com/portico-dev/portico/gateways/store"
	"github.com/portico-dev/portico/gateways/store/storetest"
	"github.com/portico-dev/portico/models"
	"github.com/portico-dev/portico/pipelines"
)

// TestStolenLeaseIsFenced is scenario 4. Worker A claims the replica with a
// tiny lease and stalls inside RunInstances (the fake holds its request
// before acting). A runs single passes without Run, hence without a
// heartbeat, as a stalled process would. Worker B claims the expired lease,
// resumes the launch with the same token and finishes. When A wakes up, EC2
// answers its RunInstances with B's instance (same token), and A's guarded
// write is refused: no status, no event, no second instance.
func TestStolenLeaseIsFenced(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, dsn string, st *store.Store) {
		w := newWorld(t, dsn, st, awstest.Options{})
		stall := w.newGate()
		var runs atomic.Int32
		w.fake.Hook("RunInstances", awstest.BeforeAction, func() {
			if runs.Add(1) == 1 {
				stall.wait() // A's call
			}
		})
		w.apply(spec("stolen", 1))

		a := w.engine("A", func(c *pipelines.Config) { c.LeaseTTL = 300 * time.Millisecond })
		actx, acancel := context.WithCancel(bg)
		t.Cleanup(acancel)
		_, err := a.Pass(actx)
		require.NoError(t, err)
		require.Eventually(t, func() bool { return runs.Load() == 1 }, converge, 5*time.Millisecond, "A's RunInstances is stalled")
		var staleToken string
		require.NoError(t, st.DB().QueryRowContext(bg, `SELECT lock_token FROM replicas`).Scan(&staleToken))
		require.NotEmpty(t, staleToken)

		w.start(w.engine("B"))
		w.waitFor("stolen", allRunning(1), "B claims the expired lease and finishes the launch")
		won := w.gateway("stolen").Replicas[0]
		eventsBefore, err := st.Events(bg, "stolen", 0)
		require.NoError(t, err)

		stall.open()
		require.Eventually(t, func() bool {
			h, ok := a.Metrics().Latency()["replica"]
			return ok && h.Count >= 1
		}, converge, 5*time.Millisecond, "A's step ends")
		assert.GreaterOrEqual(t, a.Metrics().StaleWrites.Load(), int64(1), "A's guarded write affected no row")
		assert.Contains(t, w.logs.String(), staleToken, "a log line names the stale lease")
		assert.Contains(t, w.logs.String(), "stale lease")

		after := w.gateway("stolen").Replicas[0]
		assert.Equal(t, won.InstanceID, after.InstanceID)
		assert.Equal(t, models.ReplicaRunning, after.Status)
		assert.Equal(t, won.UpdatedAt, after.UpdatedAt, "A wrote nothing to the row")
		eventsAfter, err := st.Events(bg, "stolen", 0)
		require.NoError(t, err)
		assert.Equal(t, eventsBefore, eventsAfter, "A appended no event")

		calls := w.calls("RunInstances")
		require.Len(t, calls, 2, "A's call and B's")
		assert.Equal(t, calls[0].ClientToken, calls[1].ClientToken, "both launches carry the replica's token")
		for _, c := range calls {
			assert.Empty(t, c.Result, "EC2 answered both, the second from the token")
		}
		insts := w.live(ofGateway("stolen"))
		require.Len(t, ids(insts), 1, "one instance: A's late create was a replay")
		assert.Equal(t, won.InstanceID, insts[0].ID)
		transitions := map[string]int{}
		for _, ev := range eventsAfter {
			if _, to, ok := strings.Cut(ev.Message, "→ "); ok && ev.ReplicaNum != nil {
				status, _, _ := strings.Cut(to, ":")
				transitions[status]++
			}
		}
		assert.Equal(t, 1, transitions["running"], "one move to running, B's: %v", transitions)
		assert.LessOrEqual(t, transitions["provisioning"], 1, "at most one move to provisioning, B's: %v", transitions)
		checkInvariants(w)
	})
}
