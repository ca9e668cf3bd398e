package faults_test

import (
	"encoding/json"
	"net/http"
	"sort"
	"sync"
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

const (
	probePeriod  = 100 * time.Millisecond
	threshold    = 3
	replaceAfter = 400 * time.Millisecond
)

// newHealthWorld is a world whose instances answer probes on their own
// loopback addresses and whose engines check health.
func newHealthWorld(t *testing.T, dsn string, st *store.Store) *world {
	w := newWorld(t, dsn, st, awstest.Options{ServeHealth: true})
	w.health = true
	return w
}

// healthSpec probes the fake's health port every 100 ms.
func (w *world) healthSpec(name string, n int) models.Spec {
	s := spec(name, n)
	s.Health = &models.HealthSpec{Path: "/healthz", Port: w.fake.HealthPort(), Period: models.Duration(probePeriod),
		Timeout: models.Duration(500 * time.Millisecond), FailureThreshold: threshold,
		ReplaceAfter: models.Duration(replaceAfter), MaxUnhealthy: "1"}
	return s
}

// TestTerminatedOutOfBand is scenario 9: EC2 terminates a running
// replica's instance behind Portico's back. The replica fails ("terminated
// outside Portico"), a replacement with attempt+1 and a new token runs in
// the same slot, `gateway list` shows both under the gateway, and exactly
// N instances run.
func TestTerminatedOutOfBand(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, dsn string, st *store.Store) {
		w := newHealthWorld(t, dsn, st)
		w.apply(w.healthSpec("edge", 2))
		w.start(w.engine("a"))
		w.waitFor("edge", allRunning(2), "the gateway runs")
		victim := current(w.gateway("edge"))[0]
		require.NoError(t, w.fake.TerminateOutOfBand(region, victim.InstanceID))

		w.waitFor("edge", func(g *models.Gateway) bool {
			r, ok := byAttempt(g, 0, 2)
			return allRunning(2)(g) && ok && current(g)[0].ID == r.ID
		}, "a replacement runs in slot 0")
		g := w.gateway("edge")
		old, _ := byAttempt(g, 0, 1)
		repl := current(g)[0]
		assert.Equal(t, models.ReplicaFailed, old.Status)
		assert.Contains(t, old.StatusMessage, "terminated outside Portico")
		assert.Equal(t, 2, repl.Attempt)
		assert.NotEqual(t, old.Token, repl.Token, "the replacement has a new token")
		assert.NotEqual(t, old.InstanceID, repl.InstanceID)
		assert.Len(t, ids(w.live(ofGateway("edge"))), 2, "exactly N instances")
		other, _ := byAttempt(g, 1, 1)
		assert.Equal(t, models.ReplicaRunning, other.Status, "the other replica was not touched")

		var listed []struct {
			Name     string `json:"name"`
			Replicas []struct {
				Num     int    `json:"replica_num"`
				Attempt int    `json:"attempt"`
				Status  string `json:"status"`
			} `json:"replicas"`
		}
		r := w.cli("").mustRun("gateway", "list", "--json", "--all")
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &listed), r.stdout)
		require.Len(t, listed, 1)
		statuses := map[[2]int]string{}
		for _, rep := range listed[0].Replicas {
			statuses[[2]int{rep.Num, rep.Attempt}] = rep.Status
		}
		assert.Equal(t, "failed", statuses[[2]int{0, 1}], "the old replica shows as failed under the gateway")
		assert.Equal(t, "running", statuses[[2]int{0, 2}], "its replacement runs under the same node")
		checkInvariants(w)
	})
}

// TestFailingProbeReplacesWithinBudget is scenario 10: the instances run
// but every probe answers 503. No replica changes state before
// (threshold-1) periods after the first failure; then it is unhealthy; it is
// replaced only replace_after later; and with all three unhealthy, at most
// max_unhealthy (1) replacement is under way at any time.
func TestFailingProbeReplacesWithinBudget(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, dsn string, st *store.Store) {
		w := newHealthWorld(t, dsn, st)
		w.apply(w.healthSpec("edge", 3))
		w.start(w.engine("a"))
		w.waitFor("edge", allRunning(3), "the gateway runs")
		t0, err := st.Now(bg)
		require.NoError(t, err)
		for _, r := range current(w.gateway("edge")) {
			require.NoError(t, w.fake.SetHealth(r.InstanceID, http.StatusServiceUnavailable))
		}
		var most atomic.Int32
		stopSampling := w.sample(func() {
			g, err := st.GetGateway(bg, "edge")
			if err != nil {
				return
			}
			unfinished := map[int]int{}
			for _, r := range g.Replicas {
				if !r.Status.Finished() {
					unfinished[r.Num]++
				}
			}
			under := int32(0)
			for _, n := range unfinished {
				if n > 1 {
					under++
				}
			}
			if under > most.Load() {
				most.Store(under)
			}
		})
		w.waitFor("edge", func(g *models.Gateway) bool {
			for _, r := range current(g) {
				if r.Attempt != 2 {
					return false
				}
			}
			return allRunning(3)(g)
		}, "every replica is replaced, one at a time")
		stopSampling()

		g := w.gateway("edge")
		type replaced struct{ old, repl models.Replica }
		var all []replaced
		for num := range 3 {
			old, _ := byAttempt(g, num, 1)
			repl, _ := byAttempt(g, num, 2)
			require.NotNil(t, old.UnhealthySince, "replica %d was unhealthy before it was replaced", num)
			assert.GreaterOrEqual(t, old.UnhealthySince.Sub(t0), (threshold-1)*probePeriod-50*time.Millisecond,
				"replica %d: no state change before %d failed probes, a period apart", num, threshold)
			assert.GreaterOrEqual(t, repl.CreatedAt.Sub(*old.UnhealthySince), replaceAfter,
				"replica %d: replaced only replace_after after it became unhealthy", num)
			assert.Equal(t, models.ReplicaTerminated, old.Status, "replica %d: retired once its replacement ran", num)
			all = append(all, replaced{old, repl})
		}
		sort.Slice(all, func(i, j int) bool { return all[i].repl.CreatedAt.Before(all[j].repl.CreatedAt) })
		for i := 1; i < len(all); i++ {
			require.NotNil(t, all[i-1].old.FinishedAt)
			assert.False(t, all[i].repl.CreatedAt.Before(*all[i-1].old.FinishedAt),
				"replacement %d starts only after replacement %d completed (max_unhealthy 1)", i+1, i)
		}
		assert.LessOrEqual(t, int(most.Load()), 1, "never more than max_unhealthy replacements at once")
		assert.True(t, hasEvent(t, st, "edge", "health probes failed in a row"))
		checkInvariants(w)
	})
}

// TestFlappingProbeCausesNoReplacement is the last part of scenario 10:
// a probe that alternates between 503 and 200 never reaches the failure
// threshold, so the replica is never unhealthy and never replaced.
func TestFlappingProbeCausesNoReplacement(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, dsn string, st *store.Store) {
		w := newHealthWorld(t, dsn, st)
		flap := &flapper{fake: w.fake, next: &http.Transport{Proxy: nil, DisableKeepAlives: true}, byHost: map[string]string{}}
		w.apply(w.healthSpec("edge", 1))
		w.start(w.engine("a", func(c *pipelines.Config) {
			c.HTTPClient = &http.Client{Transport: flap}
		}))
		w.waitFor("edge", allRunning(1), "the gateway runs")
		r := current(w.gateway("edge"))[0]
		flap.start(r.Hostname, r.InstanceID)
		require.Eventually(t, func() bool { return flap.failed.Load() >= 8 }, converge, 10*time.Millisecond,
			"the probe keeps failing every other time")

		g := w.gateway("edge")
		require.Len(t, g.Replicas, 1, "no replacement")
		assert.Equal(t, models.ReplicaRunning, g.Replicas[0].Status)
		assert.Nil(t, g.Replicas[0].UnhealthySince, "never unhealthy")
		assert.False(t, hasEvent(t, st, "edge", "unhealthy"), "no unhealthy transition in the history")
		checkInvariants(w)
	})
}

// flapper is the engines' probe transport: for the flapping instance it
// sets the fake's health answer before each probe, 503 and 200 in turn.
type flapper struct {
	fake   *awstest.Server
	next   http.RoundTripper
	mu     sync.Mutex
	byHost map[string]string
	n      int
	failed atomic.Int32
}

func (f *flapper) start(host, id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.byHost[host] = id
}

func (f *flapper) RoundTrip(req *http.Request) (*http.Response, error) {
	f.mu.Lock()
	id, ok := f.byHost[req.URL.Hostname()]
	if ok {
		status := http.StatusOK
		if f.n%2 == 0 {
			status = http.StatusServiceUnavailable
			f.failed.Add(1)
		}
		f.n++
		_ = f.fake.SetHealth(id, status)
	}
	f.mu.Unlock()
	return f.next.RoundTrip(req)
}
