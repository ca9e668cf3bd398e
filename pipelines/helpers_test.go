package pipelines

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/backends"
	"github.com/portico-dev/portico/gateways"
	"github.com/portico-dev/portico/gateways/store"
	"github.com/portico-dev/portico/internal/testsupport"
	"github.com/portico-dev/portico/models"
)

var bg = context.Background()

// converge bounds every "until the pipelines get there" wait: generous, as
// the race detector and PostgreSQL make a loaded machine slow.
const converge = 30 * time.Second

// env is one test's world: a real store, the gateway service over it, and a
// registry holding one fake backend.
type env struct {
	t    *testing.T
	st   *store.Store
	svc  *gateways.Service
	reg  *backends.Registry
	fake *fakeBackend
	logs *testsupport.SyncBuffer
}

func newEnv(t *testing.T, st *store.Store) *env {
	f := newFake(t)
	reg := backends.NewRegistry()
	reg.Register("fake", func(context.Context) (backends.Backend, error) { return f, nil })
	return &env{t: t, st: st, svc: gateways.NewService(st), reg: reg, fake: f, logs: &testsupport.SyncBuffer{}}
}

// spec is a gateway on the fake backend with fast health checks.
func spec(name string, replicas int) models.Spec {
	return models.Spec{Type: "gateway", Name: name, Backend: "fake", Region: "r1", Replicas: replicas,
		Health: &models.HealthSpec{Path: "/healthz", Period: models.Duration(50 * time.Millisecond),
			Timeout: models.Duration(time.Second), FailureThreshold: 3,
			ReplaceAfter: models.Duration(200 * time.Millisecond)}}
}

// apply plans and applies spec the way `portico apply -y` does.
func (e *env) apply(s models.Spec) *models.Gateway {
	e.t.Helper()
	return testsupport.Apply(e.t, e.svc, s)
}

func (e *env) gateway(name string) *models.Gateway {
	e.t.Helper()
	g, err := e.st.GetGateway(bg, name)
	require.NoError(e.t, err)
	return g
}

// engine builds an engine over the env; mods adjust its config.
func (e *env) engine(owner string, mods ...func(*Config)) *Engine {
	cfg := Config{Service: e.svc, Backends: e.reg, Owner: owner, LeaseTTL: 10 * time.Second,
		Tick: 50 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(e.logs, nil))}
	for _, m := range mods {
		m(&cfg)
	}
	return New(cfg)
}

func withHealth(c *Config) { c.Health = true }

// start runs eng until the returned stop is called or the test ends; stop
// cancels it and waits until Run has released its leases.
func (e *env) start(eng *Engine) (stop func()) { return e.startIn(bg, eng) }

// startIn is start under parent: cancelling parent stops the engine too (a
// crash), and stop still waits for Run to return.
func (e *env) startIn(parent context.Context, eng *Engine) (stop func()) {
	ctx, cancel := context.WithCancel(parent)
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			assert.NoError(e.t, <-done, "engine %s stopped with an error", eng.cfg.Owner)
		})
	}
	e.t.Cleanup(stop)
	return stop
}

// eventually waits for cond, which reads the store; it must not call require.
func (e *env) eventually(cond func(g *models.Gateway) bool, name, msg string) {
	e.t.Helper()
	ok := assert.Eventually(e.t, func() bool {
		g, err := e.st.GetGateway(bg, name)
		return err == nil && cond(g)
	}, converge, 10*time.Millisecond, msg)
	if !ok {
		last, _ := e.st.GetGateway(bg, name)
		var evs []string
		if all, err := e.st.Events(bg, name, 0); err == nil {
			for _, ev := range all {
				evs = append(evs, ev.At.Format("15:04:05.000")+" "+ev.Kind+": "+ev.Message)
			}
		}
		e.t.Fatalf("gateway at the end: %s\nevents:\n%s\nlogs:\n%s", describe(last), strings.Join(evs, "\n"), e.logs)
	}
}

func describe(g *models.Gateway) string {
	if g == nil {
		return "<none>"
	}
	var b bytes.Buffer
	b.WriteString(string(g.Status) + " " + g.StatusMessage)
	for _, r := range g.Replicas {
		b.WriteString("\n  ")
		b.WriteString(r.Token + " " + string(r.Status) + " " + r.InstanceID + " " + r.StatusMessage)
	}
	return b.String()
}

// current returns each slot's wanted row (newest attempt not asked to stop).
func current(g *models.Gateway) map[int]models.Replica {
	out := map[int]models.Replica{}
	for _, r := range g.Replicas {
		if c, ok := out[r.Num]; !r.StopRequested && (!ok || r.Attempt > c.Attempt) {
			out[r.Num] = r
		}
	}
	return out
}

// allRunning reports whether the gateway runs n wanted replicas and every
// other row has finished.
func allRunning(n int) func(*models.Gateway) bool {
	return func(g *models.Gateway) bool {
		cur := current(g)
		if len(cur) != n || g.Status != models.GatewayRunning {
			return false
		}
		for _, r := range g.Replicas {
			if c := cur[r.Num]; c.ID == r.ID && r.Status != models.ReplicaRunning {
				return false
			}
			if c := cur[r.Num]; c.ID != r.ID && !r.Status.Finished() {
				return false
			}
		}
		return true
	}
}

func byAttempt(g *models.Gateway, num, attempt int) (models.Replica, bool) {
	for _, r := range g.Replicas {
		if r.Num == num && r.Attempt == attempt {
			return r, true
		}
	}
	return models.Replica{}, false
}

// leasesHeld counts replica and gateway rows with any lease column set, or
// returns -1 if the store cannot say. It may run in an Eventually condition.
func leasesHeld(st *store.Store) int {
	var n int
	err := st.DB().QueryRowContext(bg, `SELECT
		(SELECT COUNT(*) FROM replicas WHERE lock_token IS NOT NULL OR lock_owner IS NOT NULL OR lock_expires_at IS NOT NULL) +
		(SELECT COUNT(*) FROM gateways WHERE lock_token IS NOT NULL OR lock_owner IS NOT NULL OR lock_expires_at IS NOT NULL)`).Scan(&n)
	if err != nil {
		return -1
	}
	return n
}

func events(t *testing.T, st *store.Store, name string) []models.Event {
	t.Helper()
	evs, err := st.Events(bg, name, 0)
	require.NoError(t, err)
	return evs
}
