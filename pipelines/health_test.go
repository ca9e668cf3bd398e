package pipelines

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/gateways/store"
	"github.com/portico-dev/portico/gateways/store/storetest"
	"github.com/portico-dev/portico/models"
)

// checkedByHand runs one replica to running with health checks that happen
// only when the returned check says so: each call makes the replica due and
// runs the pipelines until idle, so one call is exactly one probe.
func checkedByHand(t *testing.T, st *store.Store, name string) (e *env, fi *fakeInstance, check func() models.Replica) {
	e = newEnv(t, st)
	s := spec(name, 1)
	s.Health.Period = models.Duration(time.Hour)
	s.Health.ReplaceAfter = models.Duration(time.Hour)
	e.apply(s)
	eng := e.engine("a", withHealth)
	require.NoError(t, eng.WaitIdle(bg))
	g := e.gateway(name)
	require.Equal(t, models.ReplicaRunning, g.Replicas[0].Status)
	fi = e.fake.instance(g.Replicas[0].InstanceID)
	return e, fi, func() models.Replica {
		t.Helper()
		require.NoError(t, st.MarkHealthDue(bg, g.ID))
		require.NoError(t, eng.WaitIdle(bg))
		g := e.gateway(name)
		require.Len(t, g.Replicas, 1, "no replacement before replace_after")
		return g.Replicas[0]
	}
}

func TestUnhealthyOnlyAfterThreshold(t *testing.T) {
	storetest.Each(t, func(t *testing.T, _ string, st *store.Store) {
		_, fi, check := checkedByHand(t, st, "probed")
		r := check()
		assert.Equal(t, models.ReplicaRunning, r.Status)
		assert.Zero(t, r.HealthFailures)
		assert.EqualValues(t, 1, fi.probes.Load())

		fi.code.Store(http.StatusServiceUnavailable)
		for i := 1; i < 3; i++ {
			r = check()
			assert.Equal(t, i, r.HealthFailures)
			assert.Equal(t, models.ReplicaRunning, r.Status, "%d failures are below the threshold", i)
			assert.Nil(t, r.UnhealthySince)
		}
		r = check()
		assert.Equal(t, 3, r.HealthFailures)
		assert.Equal(t, models.ReplicaUnhealthy, r.Status)
		assert.NotNil(t, r.UnhealthySince)
		assert.Equal(t, "3 health probes failed in a row: GET /healthz answered 503", r.StatusMessage)
		r = check()
		assert.Equal(t, 4, r.HealthFailures, "failures keep counting while unhealthy")

		fi.code.Store(http.StatusOK)
		r = check()
		assert.Equal(t, models.ReplicaRunning, r.Status, "one good probe heals")
		assert.Zero(t, r.HealthFailures)
		assert.Nil(t, r.UnhealthySince)
		assert.EqualValues(t, 6, fi.probes.Load(), "one probe per check")
	})
}

func TestFlappingProbeNeverUnhealthy(t *testing.T) {
	storetest.Each(t, func(t *testing.T, _ string, st *store.Store) {
		_, fi, check := checkedByHand(t, st, "flappy")
		fi.flap.Store(true)
		failed := 0
		for range 10 {
			r := check()
			assert.Equal(t, models.ReplicaRunning, r.Status)
			assert.LessOrEqual(t, r.HealthFailures, 1)
			failed += r.HealthFailures
		}
		assert.Equal(t, 5, failed, "every other probe failed")
	})
}

func TestFlappingProbeUnderRunCausesNoReplacement(t *testing.T) {
	storetest.Each(t, func(t *testing.T, _ string, st *store.Store) {
		e := newEnv(t, st)
		e.apply(spec("flaps", 1))
		e.start(e.engine("a", withHealth))
		e.eventually(allRunning(1), "flaps", "the replica runs")
		fi := e.fake.instance(e.gateway("flaps").Replicas[0].InstanceID)
		fi.flap.Store(true)
		start := fi.probes.Load()
		require.Eventually(t, func() bool { return fi.probes.Load() >= start+12 }, converge, 10*time.Millisecond)

		g := e.gateway("flaps")
		require.Len(t, g.Replicas, 1, "no replacement")
		assert.Equal(t, models.ReplicaRunning, g.Replicas[0].Status)
		for _, ev := range events(t, st, "flaps") {
			assert.NotContains(t, ev.Message, "unhealthy")
		}
		assert.Len(t, e.fake.launchCalls(), 1)
	})
}

func TestUnhealthyReplicaIsReplaced(t *testing.T) {
	storetest.Each(t, func(t *testing.T, _ string, st *store.Store) {
		e := newEnv(t, st)
		s := spec("sick", 1)
		e.apply(s)
		e.start(e.engine("a", withHealth))
		e.eventually(allRunning(1), "sick", "the replica runs")
		first := e.gateway("sick").Replicas[0]
		e.fake.instance(first.InstanceID).code.Store(http.StatusServiceUnavailable)

		e.eventually(func(g *models.Gateway) bool {
			old, _ := byAttempt(g, 0, 1)
			next, ok := byAttempt(g, 0, 2)
			return ok && next.Status == models.ReplicaRunning && old.Status == models.ReplicaTerminated && allRunning(1)(g)
		}, "sick", "a replacement runs and the unhealthy replica is terminated")

		g := e.gateway("sick")
		old, _ := byAttempt(g, 0, 1)
		next, _ := byAttempt(g, 0, 2)
		assert.NotEqual(t, old.Token, next.Token)
		require.NotNil(t, old.UnhealthySince)
		assert.GreaterOrEqual(t, next.CreatedAt.Sub(*old.UnhealthySince), s.Health.ReplaceAfter.D(),
			"the replacement waited for replace_after")
		live := e.fake.live()
		require.Len(t, live, 1)
		assert.Equal(t, next.InstanceID, live[0].ID)
		assert.Contains(t, e.fake.terminateCalls(), old.InstanceID)

		var msgs []string
		nextRuns, oldStops := -1, -1
		for i, ev := range events(t, st, "sick") {
			msgs = append(msgs, ev.Message)
			if ev.Attempt != nil && *ev.Attempt == 2 && strings.Contains(ev.Message, "→ running") {
				nextRuns = i
			}
			if strings.HasPrefix(ev.Message, "replica 0 attempt 1 stop requested") {
				oldStops = i
			}
		}
		require.NotEqual(t, -1, nextRuns)
		assert.Greater(t, oldStops, nextRuns, "the unhealthy replica is stopped only once its replacement runs")
		assert.Contains(t, msgs, "replica 0 attempt 1: running → unhealthy: 3 health probes failed in a row: GET /healthz answered 503")
		assert.Contains(t, msgs, "replica 0 attempt 2 pending in r1: replace unhealthy attempt 1")
		assert.Contains(t, msgs, "replica 0 attempt 1 stop requested: replaced by attempt 2")
	})
}

// TestTerminatedOutOfBandIsReplaced is scenario 9.
func TestTerminatedOutOfBandIsReplaced(t *testing.T) {
	storetest.Each(t, func(t *testing.T, _ string, st *store.Store) {
		e := newEnv(t, st)
		e.apply(spec("oob", 2))
		eng := e.engine("a", withHealth)
		e.start(eng)
		e.eventually(allRunning(2), "oob", "both replicas run")
		victim, _ := byAttempt(e.gateway("oob"), 0, 1)
		e.fake.terminateOutOfBand(victim.InstanceID)

		e.eventually(func(g *models.Gateway) bool {
			next, ok := byAttempt(g, 0, 2)
			return ok && next.Status == models.ReplicaRunning && allRunning(2)(g)
		}, "oob", "a replacement runs")

		g := e.gateway("oob")
		old, _ := byAttempt(g, 0, 1)
		next, _ := byAttempt(g, 0, 2)
		assert.Equal(t, models.ReplicaFailed, old.Status)
		assert.Contains(t, old.StatusMessage, "terminated outside Portico")
		assert.NotEqual(t, old.Token, next.Token, "the replacement has a new token")
		assert.NotEqual(t, old.InstanceID, next.InstanceID)
		running := 0
		for _, r := range g.Replicas {
			if r.Status == models.ReplicaRunning {
				running++
			}
		}
		assert.Equal(t, 2, running)
		assert.Len(t, e.fake.live(), 2)
		assert.EqualValues(t, 1, eng.Metrics().Replacements.Load())
		_, ok := byAttempt(g, 1, 2)
		assert.False(t, ok, "the healthy sibling was left alone")
	})
}

func TestProbe(t *testing.T) {
	var hits atomic.Int64
	var lastPath atomic.Value
	serve := func(code int) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			lastPath.Store(r.URL.Path)
			w.WriteHeader(code)
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	ok, down := serve(http.StatusOK), serve(http.StatusServiceUnavailable)
	hang := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	t.Cleanup(hang.Close)
	host, port, err := net.SplitHostPort(ok.Listener.Addr().String())
	require.NoError(t, err)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()

	hs := func(p int) models.HealthSpec {
		return models.HealthSpec{Path: "/ready", Port: p, Timeout: models.Duration(5 * time.Second)}
	}
	short := hs(1)
	short.Timeout = models.Duration(100 * time.Millisecond)
	okPort, _ := strconv.Atoi(port)
	cases := []struct {
		name     string
		hostname string
		h        models.HealthSpec
		err      string // "" means the probe passes
	}{
		{"200 passes", ok.Listener.Addr().String(), hs(1), ""},
		{"503 fails", down.Listener.Addr().String(), hs(1), "GET /ready answered 503"},
		{"no answer in time", hang.Listener.Addr().String(), short, "no answer within 100ms"},
		{"hostname without port uses the health port", host, hs(okPort), ""},
		{"refused", closed.Listener.Addr().String(), hs(1), "connection refused"},
		{"no hostname", "", hs(1), "no address to probe"},
	}
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := hits.Load()
			err := Probe(bg, client, tc.hostname, tc.h)
			if tc.err == "" {
				require.NoError(t, err)
				assert.Equal(t, before+1, hits.Load(), "the probe reached the server")
				assert.Equal(t, "/ready", lastPath.Load())
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.err)
		})
	}
}
