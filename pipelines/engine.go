// Package pipelines reconciles recorded desire with the world: the gateway
// pipeline keeps one replica row per wanted replica, and the replica pipeline
// moves each row through launch, wait, health and termination with a
// backend. Both lease their rows, so any number of processes (CLI runs,
// servers) can work on one database without doing a row's work twice.
package pipelines

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portico-dev/portico/backends"
	"github.com/portico-dev/portico/gateways"
	"github.com/portico-dev/portico/gateways/store"
	"github.com/portico-dev/portico/models"
)

// Config wires an Engine.
type Config struct {
	Service  *gateways.Service
	Backends *backends.Registry
	// Owner names this process in lease columns ("cli-1234", a server id).
	Owner string
	// LeaseTTL bounds how long a crashed worker's rows stay locked.
	LeaseTTL time.Duration
	// Workers bounds concurrent replica steps (launches run in parallel up
	// to this many).
	Workers int
	// Gateways, when set, restricts the engine to the gateway ids it returns
	// (nil from the func means all): the CLI's one gateway, a server's shard.
	Gateways func() []int64
	// Health enables health checks of running replicas.
	Health bool
	// Tick is the longest the claim loop sleeps when idle.
	Tick time.Duration
	// ProvisionTimeout fails a launch that has not run after this long.
	ProvisionTimeout time.Duration
	// HTTPClient probes replicas; it must not use proxies.
	HTTPClient *http.Client
	Logger     *slog.Logger
	Metrics    *Metrics
	// Clock reads this host's clock; tests skew it to show that a wrong
	// host clock changes nothing (leases and timestamps use the database's).
	Clock func() time.Time
}

// Engine runs the gateway and replica pipelines.
type Engine struct {
	cfg     Config
	st      *store.Store
	log     *slog.Logger
	wake    chan struct{}
	sem     chan struct{}
	leases  *leaseSet
	batcher *describeBatcher
	wg      sync.WaitGroup
	install string
	// offset is the database clock minus this host's, measured every pass:
	// timestamps the engine writes (running, unhealthy since, finished) are
	// on the database clock, so a server with a wrong clock cannot skew
	// backoffs and replacement deadlines that others evaluate.
	offset atomic.Int64
}

// now is the current time on the database clock.
func (e *Engine) now() time.Time {
	return e.cfg.Clock().Add(time.Duration(e.offset.Load())).UTC()
}

// New returns an engine; defaults fill zero fields.
func New(cfg Config) *Engine {
	if cfg.LeaseTTL == 0 {
		cfg.LeaseTTL = 30 * time.Second
	}
	if cfg.Workers == 0 {
		cfg.Workers = 128
	}
	if cfg.Tick == 0 {
		cfg.Tick = time.Second
	}
	if cfg.ProvisionTimeout == 0 {
		cfg.ProvisionTimeout = 15 * time.Minute
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = &Metrics{}
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	return &Engine{
		cfg:     cfg,
		st:      cfg.Service.Store,
		log:     cfg.Logger.With("owner", cfg.Owner),
		wake:    make(chan struct{}, 1),
		sem:     make(chan struct{}, cfg.Workers),
		leases:  newLeaseSet(cfg.LeaseTTL),
		batcher: newDescribeBatcher(50 * time.Millisecond),
	}
}

// Metrics returns the engine's counters.
func (e *Engine) Metrics() *Metrics { return e.cfg.Metrics }

// Wake asks the claim loop to look for work now.
func (e *Engine) Wake() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Run works until ctx ends, then waits for in-flight steps and releases
// every lease this engine holds, so that others can take over at once.
func (e *Engine) Run(ctx context.Context) error {
	install, err := e.st.InstallID(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped before it started: nothing held, a clean stop
		}
		return err
	}
	e.install = install
	hbDone := make(chan struct{})
	go func() { defer close(hbDone); e.heartbeat(ctx) }()
	idle := 50 * time.Millisecond
	for {
		n, err := e.Pass(ctx)
		if err != nil && ctx.Err() == nil {
			e.log.Warn("pipeline pass failed", "err", err)
		}
		if n > 0 {
			idle = 50 * time.Millisecond
		} else {
			idle = min(idle*2, e.cfg.Tick)
		}
		select {
		case <-ctx.Done():
			e.wg.Wait()
			<-hbDone
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			return e.st.ReleaseOwner(rctx, e.cfg.Owner)
		case <-e.wake:
		case <-time.After(idle):
		}
	}
}

func (e *Engine) shard() []int64 {
	if e.cfg.Gateways == nil {
		return nil
	}
	ids := e.cfg.Gateways()
	if ids == nil {
		return []int64{}
	}
	return ids
}

// Pass runs one round: reconcile due gateways, then dispatch due replica
// rows to workers (without waiting for them). It returns how much work it
// found.
func (e *Engine) Pass(ctx context.Context) (int, error) {
	if e.install == "" {
		id, err := e.st.InstallID(ctx)
		if err != nil {
			return 0, err
		}
		e.install = id
	}
	if dbNow, err := e.st.Now(ctx); err == nil {
		e.offset.Store(int64(dbNow.Sub(e.cfg.Clock())))
	}
	ids := e.shard()
	n, err := e.reconcileGateways(ctx, ids)
	if err != nil {
		return n, err
	}
	free := cap(e.sem) - len(e.sem)
	if free == 0 {
		return n, nil
	}
	rows, err := e.st.ClaimReplicas(ctx, store.ClaimOptions{Owner: e.cfg.Owner, Limit: free, TTL: e.cfg.LeaseTTL,
		Gateways: ids, Health: e.cfg.Health})
	if err != nil {
		return n, err
	}
	// One query for the specs of the whole batch: fewer round trips, and
	// the steps reach their backends together, so their Describe calls
	// fall into one batch.
	specs, err := e.st.GatewaySpecs(ctx, gatewayIDs(rows))
	if err != nil {
		e.log.Warn("load gateway specs", "err", err)
	}
	for _, r := range rows {
		e.leases.add(r.ID, r.LockToken)
		e.sem <- struct{}{}
		e.wg.Add(1)
		spec, ok := specs[r.GatewayID]
		go func(r models.Replica) {
			defer func() { <-e.sem; e.wg.Done(); e.leases.remove(r.ID, r.LockToken); e.Wake() }()
			if !ok {
				e.release(ctx, &r, time.Second) // gateway unreadable just now; try again soon
				return
			}
			e.step(ctx, r, spec)
		}(r)
	}
	return n + len(rows), nil
}

func gatewayIDs(rows []models.Replica) []int64 {
	seen := map[int64]bool{}
	var out []int64
	for _, r := range rows {
		if !seen[r.GatewayID] {
			seen[r.GatewayID] = true
			out = append(out, r.GatewayID)
		}
	}
	return out
}

func (e *Engine) reconcileGateways(ctx context.Context, ids []int64) (int, error) {
	leases, err := e.st.ClaimGateways(ctx, e.cfg.Owner, 64, e.cfg.LeaseTTL, ids)
	if err != nil {
		return 0, err
	}
	for _, l := range leases {
		start := time.Now()
		removed, err := e.cfg.Service.ReconcileGateway(ctx, l.Name)
		e.cfg.Metrics.observe("gateway", time.Since(start))
		if err != nil {
			e.log.Warn("reconcile gateway", "gateway", l.Name, "err", err)
		}
		if !removed {
			if err := e.st.ReleaseGateway(ctx, l); err != nil && ctx.Err() == nil {
				e.log.Warn("release gateway lease", "gateway", l.Name, "err", err)
			}
		}
	}
	return len(leases), nil
}

// WaitIdle runs passes until no step is in flight and none is due; tests
// and `portico gateway check` use it to run the pipelines to quiescence.
func (e *Engine) WaitIdle(ctx context.Context) error {
	for {
		n, err := e.Pass(ctx)
		if err != nil {
			return err
		}
		e.wg.Wait()
		if n == 0 {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// errFenced stops a step that can no longer prove it holds its lease.
var errFenced = errors.New("lease could not be renewed in time; not starting new cloud work")

func (e *Engine) fenced(r models.Replica) error {
	if !e.leases.valid(r.ID) {
		return fmt.Errorf("replica %d: %w", r.ID, errFenced)
	}
	return nil
}
