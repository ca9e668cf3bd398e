package faults_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/backends/awstest"
	"github.com/portico-dev/portico/gateways"
	"github.com/portico-dev/portico/gateways/store"
	"github.com/portico-dev/portico/gateways/store/storetest"
	"github.com/portico-dev/portico/models"
)

// TestTokenReusedWithChangedSpec is scenario 15: a launch crashes after its
// token was saved, the user edits instance_type and applies again. The plan
// re-creates; the interrupted attempt's token is resumed under the new spec
// (its instance, if EC2 made one, is found by token), the new attempt runs,
// and the old attempt is retired: never two live instances for the slot at
// the end, and the old attempt's instance is terminated.
//
// In the third case EC2's consistency delay hides the instance from the
// resumed launch's first lookup (by tag), so RunInstances goes out with the
// old token and the new instance type and meets IdempotentParameterMismatch:
// the backend must then find the instance by its client token and adopt it.
func TestTokenReusedWithChangedSpec(t *testing.T) {
	t.Parallel()
	const hidden = 2500 * time.Millisecond
	cases := []struct {
		name     string
		cp       crashPoint
		delay    time.Duration
		mismatch bool
	}{
		{"crash before RunInstances", crashPoints[1], 0, false},
		{"crash after RunInstances acted", crashPoints[0], 0, false},
		{"crash after RunInstances acted, instance visible only to the mismatch lookup", crashPoints[0], hidden, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, dsn string, st *store.Store) {
				w := newWorld(t, dsn, st, awstest.Options{LaunchLatency: 300 * time.Millisecond, ConsistencyDelay: tc.delay})
				crashedAt, oldToken := w.crashThenEditInstanceType(tc.cp)
				if tc.mismatch {
					// Hold RunInstances until the instance is visible, so the
					// first lookup (before the call) misses it and the one after
					// the mismatch finds it.
					w.fake.Hook("RunInstances", awstest.BeforeAction, func() {
						time.Sleep(time.Until(crashedAt.Add(tc.delay + 100*time.Millisecond)))
					})
				}
				w.start(w.engine("second"))
				w.waitFor("edge", func(g *models.Gateway) bool {
					r, ok := byAttempt(g, 0, 1)
					return allRunning(1)(g) && ok && r.Status.Finished()
				}, "the new attempt runs and the interrupted one is retired")
				w.assertRetiredOldAttempt(oldToken, tc.cp.acted)
				if tc.mismatch {
					var first time.Time
					for _, c := range w.calls("DescribeInstances") {
						if c.Time.After(crashedAt) {
							first = c.Time
							break
						}
					}
					require.True(t, first.Before(crashedAt.Add(tc.delay)),
						"precondition: the resumed launch looked for the instance while it was hidden (machine too slow?)")
					var results []string
					for _, c := range w.calls("RunInstances") {
						if c.ClientToken == oldToken+"-"+region+"a" {
							results = append(results, c.Result)
						}
					}
					assert.Contains(t, results, "IdempotentParameterMismatch", "the mismatch path ran")
				}
				checkInvariants(w)
			})
		})
	}
}

// TestTokenReusedWithChangedSpecInvisibleInstance is the case of scenario 15
// where the instance stays invisible even to the lookup after the
// IdempotentParameterMismatch (EC2 can take seconds). It fails today: the
// backend declares the token's instance gone, the old attempt fails
// permanently without an instance id, and its instance outlives it (until
// the sweeper's grace). See the suite's report; run it with
// PORTICO_FAULTS_KNOWN_BUGS=1.
func TestTokenReusedWithChangedSpecInvisibleInstance(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, dsn string, st *store.Store) {
		w := newWorld(t, dsn, st, awstest.Options{LaunchLatency: 300 * time.Millisecond, ConsistencyDelay: 3 * time.Second})
		_, oldToken := w.crashThenEditInstanceType(crashPoints[0])
		w.start(w.engine("second"))
		w.waitFor("edge", func(g *models.Gateway) bool {
			r, ok := byAttempt(g, 0, 1)
			return allRunning(1)(g) && ok && r.Status.Finished()
		}, "the new attempt runs and the interrupted one is retired")
		w.assertRetiredOldAttempt(oldToken, true)
		checkInvariants(w)
	})
}

// crashThenEditInstanceType provisions one replica, crashes its launch at
// cp, then applies the spec with instance_type t3.small (a re-create). It
// returns when the crash happened and the interrupted attempt's token.
func (w *world) crashThenEditInstanceType(cp crashPoint) (time.Time, string) {
	t := w.t
	t.Helper()
	w.apply(spec("edge", 1))
	ctx, crash := context.WithCancel(bg)
	defer crash()
	var once sync.Once
	var crashedAt time.Time
	w.fake.Hook(cp.action, cp.phase, func() { once.Do(func() { crashedAt = time.Now(); crash() }) })
	stop := w.startIn(ctx, w.engine("first"))
	<-ctx.Done()
	stop()
	w.fake.Hook(cp.action, cp.phase, nil)
	w.assertCrashState("edge", cp.acted)

	edited := spec("edge", 1)
	edited.InstanceType = "t3.small"
	plan, _, err := w.svc.Plan(bg, edited, false)
	require.NoError(t, err)
	require.Equal(t, gateways.ActionRecreate, plan.Action, "instance_type cannot change in place")
	require.Len(t, plan.Changes, 1)
	assert.Equal(t, "instance_type", plan.Changes[0].Field)
	_, _, err = w.svc.Apply(bg, edited, plan)
	require.NoError(t, err)
	return crashedAt, w.gateway("edge").Replicas[0].Token
}

// assertRetiredOldAttempt checks the end of scenario 15: attempt 2 serves
// on a t3.small, attempt 1 is terminated (not failed), and whatever its
// token launched was found and terminated.
func (w *world) assertRetiredOldAttempt(oldToken string, acted bool) {
	t := w.t
	t.Helper()
	g := w.gateway("edge")
	cur := current(g)[0]
	assert.Equal(t, 2, cur.Attempt, "the re-create's attempt serves")
	r1, _ := byAttempt(g, 0, 1)
	assert.Equal(t, models.ReplicaTerminated, r1.Status, "the old attempt is retired, not failed: %s", r1.StatusMessage)
	insts := w.live(ofGateway("edge"))
	require.Len(t, ids(insts), 1, "one live instance for the slot")
	assert.Equal(t, cur.InstanceID, insts[0].ID)
	assert.Equal(t, "t3.small", insts[0].InstanceType)
	assert.Empty(t, ids(w.live(withToken(oldToken))), "nothing of the old token is left running")
	if acted {
		old := w.all(withToken(oldToken))
		require.NotEmpty(t, old)
		assert.Equal(t, old[0].ID, r1.InstanceID, "the old attempt found its instance by token")
	}
}
