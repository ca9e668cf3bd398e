package gateways

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/models"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// rep builds a replica row for tests: id, num, attempt, status.
func rep(id int64, num, attempt int, st models.ReplicaStatus, mods ...func(*models.Replica)) models.Replica {
	r := models.Replica{ID: id, Num: num, Attempt: attempt, Status: st, Region: "eu-west-1", ZoneIndex: num,
		CreatedAt: t0.Add(time.Duration(id) * time.Second)}
	if st.Serving() {
		at := r.CreatedAt.Add(time.Second)
		r.RunningAt = &at
	}
	for _, m := range mods {
		m(&r)
	}
	return r
}

func stopped(r *models.Replica) { r.StopRequested = true }

func failedAt(d time.Duration, kind string) func(*models.Replica) {
	return func(r *models.Replica) {
		at := t0.Add(-d)
		r.FinishedAt, r.ErrorKind, r.RunningAt, r.StatusMessage = &at, kind, nil, "no capacity"
	}
}

func unhealthyFor(d time.Duration) func(*models.Replica) {
	return func(r *models.Replica) { at := t0.Add(-d); r.UnhealthySince = &at }
}

func gw(n int, reps ...models.Replica) *models.Gateway {
	return &models.Gateway{Name: "edge", Status: models.GatewayProvisioning,
		Spec: models.Spec{Name: "edge", Backend: "aws", Region: "eu-west-1", Replicas: n}, Replicas: reps}
}

func nums(adds []NewReplica) []int {
	out := []int{}
	for _, a := range adds {
		out = append(out, a.Num)
	}
	return out
}

func stopIDs(stops []StopReplica) []int64 {
	out := []int64{}
	for _, s := range stops {
		out = append(out, s.ID)
	}
	return out
}

func TestReconcileScaling(t *testing.T) {
	p := Policy{Now: t0}
	tests := []struct {
		name     string
		g        *models.Gateway
		wantAdd  []int
		wantStop []int64
		status   models.GatewayStatus
	}{
		{"create", gw(3), []int{0, 1, 2}, []int64{}, models.GatewayProvisioning},
		{"steady", gw(2, rep(1, 0, 1, models.ReplicaRunning), rep(2, 1, 1, models.ReplicaRunning)), []int{}, []int64{}, models.GatewayRunning},
		{"scale out takes the lowest free numbers", gw(4, rep(1, 0, 1, models.ReplicaRunning), rep(2, 2, 1, models.ReplicaRunning)),
			[]int{1, 3}, []int64{}, models.GatewayProvisioning},
		{"scale in removes pending, then provisioning, then oldest running", gw(2,
			rep(1, 0, 1, models.ReplicaRunning), rep(2, 1, 1, models.ReplicaRunning), rep(3, 2, 1, models.ReplicaProvisioning),
			rep(4, 3, 1, models.ReplicaPending), rep(5, 4, 1, models.ReplicaRunning)),
			[]int{}, []int64{1, 3, 4}, models.GatewayRunning},
		{"stopped rows do not count", gw(1, rep(1, 0, 1, models.ReplicaTerminating, stopped), rep(2, 1, 1, models.ReplicaRunning)),
			[]int{}, []int64{}, models.GatewayRunning},
		{"a removed number is reused with the next attempt", gw(1, rep(1, 0, 1, models.ReplicaTerminated, stopped)),
			[]int{0}, []int64{}, models.GatewayProvisioning},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := Reconcile(tt.g, p)
			assert.Equal(t, tt.wantAdd, nums(ch.Add))
			assert.Equal(t, tt.wantStop, stopIDs(ch.Stop))
			assert.Equal(t, tt.status, ch.Status)
		})
	}
}

func TestReconcileReusedNumberGetsNextAttempt(t *testing.T) {
	ch := Reconcile(gw(1, rep(1, 0, 3, models.ReplicaTerminated, stopped)), Policy{Now: t0})
	require.Len(t, ch.Add, 1)
	assert.Equal(t, 4, ch.Add[0].Attempt)
}

func TestReconcileFailures(t *testing.T) {
	t.Run("permanent error is not retried", func(t *testing.T) {
		ch := Reconcile(gw(1, rep(1, 0, 1, models.ReplicaFailed, failedAt(time.Hour, "permanent"))), Policy{Now: t0})
		assert.Empty(t, ch.Add)
		assert.Equal(t, models.GatewayFailed, ch.Status)
		assert.Contains(t, ch.Message, "replica 0: no capacity")
		assert.Zero(t, ch.RecheckIn)
	})
	t.Run("capacity error waits for the backoff", func(t *testing.T) {
		ch := Reconcile(gw(1, rep(1, 0, 1, models.ReplicaFailed, failedAt(20*time.Second, "capacity"))), Policy{Now: t0})
		assert.Empty(t, ch.Add)
		assert.Equal(t, models.GatewayFailed, ch.Status)
		assert.Equal(t, 40*time.Second, ch.RecheckIn)
		assert.Contains(t, ch.Message, "attempt 2 of 6")
	})
	t.Run("capacity error retried after the backoff with the next attempt", func(t *testing.T) {
		ch := Reconcile(gw(1, rep(1, 0, 1, models.ReplicaFailed, failedAt(61*time.Second, "capacity"))), Policy{Now: t0})
		require.Len(t, ch.Add, 1)
		assert.Equal(t, NewReplica{Num: 0, Attempt: 2, Placement: Placement{"eu-west-1", 0}, Reason: "retry after attempt 1 failed"}, ch.Add[0])
		assert.Equal(t, []int64{1}, stopIDs(ch.Stop), "the failed row is retired")
		assert.Equal(t, models.GatewayProvisioning, ch.Status)
	})
	t.Run("backoff grows with consecutive failures", func(t *testing.T) {
		g := gw(1,
			rep(1, 0, 1, models.ReplicaFailed, failedAt(10*time.Minute, "capacity"), stopped),
			rep(2, 0, 2, models.ReplicaFailed, failedAt(90*time.Second, "capacity")))
		ch := Reconcile(g, Policy{Now: t0})
		assert.Empty(t, ch.Add)
		assert.Equal(t, 30*time.Second, ch.RecheckIn, "second failure waits 2 minutes")
	})
	t.Run("gives up after max attempts", func(t *testing.T) {
		g := gw(1,
			rep(1, 0, 1, models.ReplicaFailed, failedAt(3*time.Hour, "capacity"), stopped),
			rep(2, 0, 2, models.ReplicaFailed, failedAt(2*time.Hour, "capacity")))
		ch := Reconcile(g, Policy{Now: t0, MaxAttempts: 2})
		assert.Empty(t, ch.Add)
		assert.Contains(t, ch.Message, "gave up after 2 attempts")
	})
	t.Run("an instance lost after running is replaced at once", func(t *testing.T) {
		lost := rep(1, 0, 1, models.ReplicaFailed, func(r *models.Replica) {
			at, fin := t0.Add(-time.Hour), t0
			r.RunningAt, r.FinishedAt, r.ErrorKind = &at, &fin, "transient"
		})
		ch := Reconcile(gw(1, lost), Policy{Now: t0})
		require.Len(t, ch.Add, 1)
		assert.Equal(t, 2, ch.Add[0].Attempt)
	})
	t.Run("one failed replica does not stop its siblings", func(t *testing.T) {
		g := gw(2, rep(1, 0, 1, models.ReplicaFailed, failedAt(time.Hour, "permanent")), rep(2, 1, 1, models.ReplicaProvisioning))
		ch := Reconcile(g, Policy{Now: t0})
		assert.Empty(t, ch.Stop)
		assert.Equal(t, models.GatewayFailed, ch.Status)
	})
}

func TestReconcileUnhealthyReplacement(t *testing.T) {
	t.Run("not before replace_after", func(t *testing.T) {
		ch := Reconcile(gw(2, rep(1, 0, 1, models.ReplicaUnhealthy, unhealthyFor(10*time.Second)), rep(2, 1, 1, models.ReplicaRunning)), Policy{Now: t0})
		assert.Empty(t, ch.Add)
		assert.Equal(t, 20*time.Second, ch.RecheckIn)
		assert.Equal(t, models.GatewayRunning, ch.Status, "an unhealthy replica still counts as running")
	})
	t.Run("replacement keeps the old replica until the new one runs", func(t *testing.T) {
		ch := Reconcile(gw(2, rep(1, 0, 1, models.ReplicaUnhealthy, unhealthyFor(time.Minute)), rep(2, 1, 1, models.ReplicaRunning)), Policy{Now: t0})
		require.Len(t, ch.Add, 1)
		assert.Equal(t, 2, ch.Add[0].Attempt)
		assert.Empty(t, ch.Stop)
	})
	t.Run("old replica retired once the replacement runs", func(t *testing.T) {
		ch := Reconcile(gw(1, rep(1, 0, 1, models.ReplicaUnhealthy, unhealthyFor(time.Minute)), rep(2, 0, 2, models.ReplicaRunning)), Policy{Now: t0})
		assert.Equal(t, []int64{1}, stopIDs(ch.Stop))
		assert.Empty(t, ch.Add)
	})
	t.Run("at most max_unhealthy replaced at once", func(t *testing.T) {
		var reps []models.Replica
		for i := range 6 {
			reps = append(reps, rep(int64(i+1), i, 1, models.ReplicaUnhealthy, unhealthyFor(time.Minute)))
		}
		ch := Reconcile(gw(6, reps...), Policy{Now: t0})
		assert.Len(t, ch.Add, 2, "34% of 6 is 2")
		assert.Contains(t, ch.Message, "waits for a replacement slot")
	})
	t.Run("a replacement in flight uses the budget", func(t *testing.T) {
		reps := []models.Replica{
			rep(1, 0, 1, models.ReplicaUnhealthy, unhealthyFor(time.Minute)), rep(2, 0, 2, models.ReplicaProvisioning),
			rep(3, 1, 1, models.ReplicaUnhealthy, unhealthyFor(time.Minute)), rep(4, 2, 1, models.ReplicaRunning),
		}
		ch := Reconcile(gw(3, reps...), Policy{Now: t0})
		assert.Empty(t, ch.Add, "max(1, 34% of 3) = 1 already in flight")
	})
}

func TestReconcileDelete(t *testing.T) {
	g := gw(2, rep(1, 0, 1, models.ReplicaRunning), rep(2, 1, 1, models.ReplicaPending), rep(3, 1, 0, models.ReplicaTerminated, stopped))
	g.Deleting = true
	ch := Reconcile(g, Policy{Now: t0})
	assert.Equal(t, []int64{1, 2}, stopIDs(ch.Stop))
	assert.False(t, ch.Remove)
	assert.Empty(t, ch.Add)

	g = gw(2, rep(1, 0, 1, models.ReplicaTerminated, stopped), rep(2, 1, 1, models.ReplicaFailed))
	g.Deleting = true
	assert.True(t, Reconcile(g, Policy{Now: t0}).Remove)
}

func TestMaxUnhealthy(t *testing.T) {
	for _, tt := range []struct {
		setting string
		n, want int
	}{{"34%", 1, 1}, {"34%", 3, 1}, {"34%", 6, 2}, {"34%", 100, 34}, {"2", 10, 2}, {"0", 10, 1}, {"", 10, 1}, {"bad%", 10, 1}} {
		assert.Equal(t, tt.want, MaxUnhealthy(tt.setting, tt.n), "%s of %d", tt.setting, tt.n)
	}
}
