package faults_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/backends/awstest"
	"github.com/portico-dev/portico/gateways"
	"github.com/portico-dev/portico/gateways/store"
	"github.com/portico-dev/portico/gateways/store/storetest"
	"github.com/portico-dev/portico/models"
	"github.com/portico-dev/portico/pipelines"
)

// race plans every spec first (as each user's apply shows its plan), then
// applies them all at once, and returns each Apply's error.
func (w *world) race(specs ...models.Spec) []error {
	w.t.Helper()
	plans := make([]gateways.Plan, len(specs))
	for i, s := range specs {
		var err error
		plans[i], _, err = w.svc.Plan(bg, s, false)
		require.NoError(w.t, err)
	}
	errs := make([]error, len(specs))
	var wg sync.WaitGroup
	startLine := make(chan struct{})
	for i := range specs {
		wg.Go(func() {
			<-startLine
			_, _, errs[i] = w.svc.Apply(bg, specs[i], plans[i])
		})
	}
	close(startLine)
	wg.Wait()
	return errs
}

func (w *world) count(query string, args ...any) int {
	w.t.Helper()
	var n int
	q := query
	if w.st.Dialect() == "postgres" {
		q = pgPlaceholders(query)
	}
	require.NoError(w.t, w.st.DB().QueryRowContext(bg, q, args...).Scan(&n))
	return n
}

func pgPlaceholders(q string) string {
	out, n := []byte{}, 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			out = append(out, fmt.Sprintf("$%d", n)...)
			continue
		}
		out = append(out, q[i])
	}
	return string(out)
}

// TestConcurrentAppliesSameSpec is scenario 5 in-process: two applies of
// the same spec race, five times over: on new gateways, and on running
// gateways being scaled from 1 to 2. Both succeed, or the loser is told
// the very same spec was just written; one gateway row, one row per
// replica, exactly N instances.
func TestConcurrentAppliesSameSpec(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, dsn string, st *store.Store) {
		w := newWorld(t, dsn, st, awstest.Options{})
		const rounds, n = 5, 2
		w.start(w.engine("a"))
		for i := range rounds {
			w.apply(spec(fmt.Sprintf("scaled-%d", i), 1))
		}
		for i := range rounds {
			w.waitFor(fmt.Sprintf("scaled-%d", i), allRunning(1), "the gateway to scale runs")
		}
		for _, prefix := range []string{"new", "scaled"} {
			for i := range rounds {
				name := fmt.Sprintf("%s-%d", prefix, i)
				errs := w.race(spec(name, n), spec(name, n))
				ok := 0
				for _, err := range errs {
					if err == nil {
						ok++
						continue
					}
					assert.ErrorIs(t, err, gateways.ErrUnchanged, "%s: the loser is told the spec was just written", name)
				}
				assert.Positive(t, ok, "%s: one apply wrote the gateway", name)
				assert.Equal(t, 1, w.count(`SELECT COUNT(*) FROM gateways WHERE name = ?`, name), "%s: one gateway row", name)
				assert.Equal(t, n, w.count(`SELECT COUNT(*) FROM replicas r JOIN gateways g ON g.id = r.gateway_id WHERE g.name = ?`, name),
					"%s: one row per replica", name)
			}
		}
		for _, prefix := range []string{"new", "scaled"} {
			for i := range rounds {
				w.waitFor(fmt.Sprintf("%s-%d", prefix, i), allRunning(n), "every raced gateway runs")
			}
		}
		checkInvariants(w)
	})
}

// TestConcurrentAppliesSameSpecCLI is scenario 5 with two `portico apply`
// processes started together on one database: both exit 0, one gateway
// row, exactly N instances, and SQLite never reports "database is locked".
func TestConcurrentAppliesSameSpecCLI(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, dsn string, st *store.Store) {
		w := newWorld(t, dsn, st, awstest.Options{})
		c := w.cli("")
		file := c.file("gateway.yml", specYAML("edge", 2))
		p1, p2 := c.start("apply", "-f", file, "-y"), c.start("apply", "-f", file, "-y")
		for i, r := range []result{p1.wait(), p2.wait()} {
			assert.Equal(t, 0, r.code, "apply %d\nstdout:\n%s\nstderr:\n%s", i+1, r.stdout, r.stderr)
			assert.NotContains(t, r.stderr, "database is locked")
		}
		assert.Equal(t, 1, w.count(`SELECT COUNT(*) FROM gateways WHERE name = ?`, "edge"))
		w.waitFor("edge", allRunning(2), "the gateway runs")
		assert.Len(t, ids(w.live(ofGateway("edge"))), 2)
		checkInvariants(w)
	})
}

// TestConcurrentAppliesDifferentReplicas is scenario 6: applies of 2 and 3
// replicas race, on a new gateway and on a running one. One wins by
// revision; the loser gets a conflict naming the gateway and both
// revisions; the gateway converges to the winner's count, and the cloud
// never holds more than 3 instances of it meanwhile.
func TestConcurrentAppliesDifferentReplicas(t *testing.T) {
	t.Parallel()
	for _, existing := range []bool{false, true} {
		t.Run(map[bool]string{false: "new gateway", true: "running gateway"}[existing], func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, dsn string, st *store.Store) {
				w := newWorld(t, dsn, st, awstest.Options{})
				var most atomic.Int32
				sampling := w.sample(func() {
					if n := int32(len(w.live(ofGateway("edge")))); n > most.Load() {
						most.Store(n)
					}
				})
				w.start(w.engine("a"))
				base := int64(0)
				if existing {
					w.apply(spec("edge", 1))
					w.waitFor("edge", allRunning(1), "the gateway runs one replica")
					base = 1
				}
				errs := w.race(spec("edge", 2), spec("edge", 3))
				winner := -1
				for i, err := range errs {
					if err == nil {
						winner = i
						continue
					}
					var conflict *store.ConflictError
					require.ErrorAs(t, err, &conflict, "the loser gets a conflict")
					assert.Equal(t, "edge", conflict.Gateway)
					assert.Equal(t, base, conflict.Expected, "the revision the loser planned against")
					assert.Equal(t, base+1, conflict.Actual, "the revision the winner wrote")
					assert.Contains(t, err.Error(), `gateway "edge"`)
					assert.Contains(t, err.Error(), fmt.Sprintf("revision %d", base))
					assert.Contains(t, err.Error(), fmt.Sprintf("revision %d", base+1))
				}
				require.NotEqual(t, -1, winner, "one apply wins")
				want := winner + 2
				assert.Equal(t, want, w.gateway("edge").Spec.Replicas, "the winner's spec is stored")
				w.waitFor("edge", allRunning(want), "the gateway converges to the winner's count")
				sampling()
				assert.LessOrEqual(t, int(most.Load()), 3, "never more instances than the larger spec")
				checkInvariants(w)
			})
		})
	}
}

// sample calls fn every few milliseconds until the returned stop is called.
func (w *world) sample(fn func()) (stop func()) {
	ctx, cancel := context.WithCancel(bg)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			fn()
			time.Sleep(5 * time.Millisecond)
		}
	}()
	stop = func() { cancel(); <-done }
	w.t.Cleanup(stop)
	return stop
}

// TestDuplicateCreate is scenario 7 through the binary: `gateway create`
// of an existing name fails with "already exists" and launches nothing;
// two creates racing end with exactly one gateway.
func TestDuplicateCreate(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, dsn string, st *store.Store) {
		w := newWorld(t, dsn, st, awstest.Options{})
		c := w.cli("")
		file := c.file("gateway.yml", specYAML("foo", 1))
		c.mustRun("gateway", "create", "-f", file, "-y")
		runs := len(w.calls("RunInstances"))
		require.Equal(t, 1, runs)

		r := c.run("gateway", "create", "-f", file, "-y")
		assert.NotEqual(t, 0, r.code)
		assert.Contains(t, r.stderr, `gateway "foo" already exists`)
		assert.Len(t, w.calls("RunInstances"), runs, "the second create launched nothing")
		assert.EqualValues(t, 1, w.gateway("foo").Revision, "the second create changed nothing")

		race := c.file("race.yml", specYAML("bar", 1))
		p1, p2 := c.start("gateway", "create", "-f", race, "-y"), c.start("gateway", "create", "-f", race, "-y")
		r1, r2 := p1.wait(), p2.wait()
		assert.Equal(t, 1, btoi(r1.code == 0)+btoi(r2.code == 0), "exactly one create wins\n1: %s\n2: %s", r1.stderr, r2.stderr)
		for _, r := range []result{r1, r2} {
			if r.code != 0 {
				assert.Contains(t, r.stderr, `gateway "bar" already exists`)
			}
			assert.NotContains(t, r.stderr, "database is locked")
		}
		w.waitFor("bar", allRunning(1), "the winner's gateway runs")
		assert.Len(t, ids(w.live(ofGateway("bar"))), 1)
		checkInvariants(w)
	})
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestDeleteWhileProvisioning is scenario 8: with one worker, replica 0's
// RunInstances is held in flight and replica 1 is pending; the delete is
// accepted at once. After convergence nothing is left: no live tagged
// instance, no gateway, no orphan for the sweeper even with no grace.
func TestDeleteWhileProvisioning(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, dsn string, st *store.Store) {
		w := newWorld(t, dsn, st, awstest.Options{})
		hold := w.newGate()
		w.fake.Hook("RunInstances", awstest.BeforeAction, hold.wait)
		w.apply(spec("doomed", 2))
		w.start(w.engine("a", func(c *pipelines.Config) { c.Workers = 1 }))
		require.Eventually(t, func() bool { return len(w.calls("RunInstances")) == 1 }, converge, 5*time.Millisecond)
		g := w.gateway("doomed")
		assert.ElementsMatch(t, []models.ReplicaStatus{models.ReplicaPending, models.ReplicaPending},
			[]models.ReplicaStatus{g.Replicas[0].Status, g.Replicas[1].Status})

		_, removed, err := w.svc.Delete(bg, "doomed")
		require.NoError(t, err, "the delete is accepted while a launch is in flight")
		assert.False(t, removed, "a replica may still hold an instance")
		assert.False(t, hold.isOpen(), "accepted without waiting for the launch")
		assert.True(t, w.gateway("doomed").Deleting)

		hold.open()
		w.waitFor("doomed", func(g *models.Gateway) bool { return g == nil }, "the gateway is removed")
		w.gone = append(w.gone, "doomed")
		assert.Empty(t, ids(w.live(ofGateway("doomed"))), "no tagged instance is left")
		assert.Len(t, w.calls("RunInstances"), 1, "the pending replica was never launched")
		assert.Len(t, w.calls("TerminateInstances"), 1, "the launched one was terminated")
		rep, err := pipelines.Sweep(bg, st, w.registry(), pipelines.SweepOptions{Grace: time.Nanosecond, DryRun: true})
		require.NoError(t, err)
		assert.Empty(t, rep.Orphans(), "the sweeper finds no orphan")
		assert.True(t, hasEvent(t, st, "doomed", "gateway removed"))
		checkInvariants(w)
	})
}
