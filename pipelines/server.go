package pipelines

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portico-dev/portico/backends"
	"github.com/portico-dev/portico/gateways"
	"github.com/portico-dev/portico/gateways/store"
)

// ServerConfig wires a long-running server.
type ServerConfig struct {
	Service   *gateways.Service
	Backends  *backends.Registry
	Self      store.Member
	Heartbeat time.Duration
	LeaseTTL  time.Duration
	Workers   int
	// SweepInterval is how often the orphan sweeper runs; 0 disables it.
	SweepInterval time.Duration
	SweepGrace    time.Duration
	Logger        *slog.Logger
}

// Server runs the pipelines continuously for the gateways this member
// owns, with health checks, the orphan sweeper, membership heartbeats, and
// wake-ups from other processes.
type Server struct {
	cfg        ServerConfig
	Engine     *Engine
	Membership *Membership
	ready      atomic.Bool
	refresh    chan struct{}
}

// NewServer builds a server; Run starts it.
func NewServer(cfg ServerConfig) *Server {
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.Self.Interval = cfg.Heartbeat
	s := &Server{cfg: cfg, refresh: make(chan struct{}, 1)}
	s.Membership = &Membership{Store: cfg.Service.Store, Self: cfg.Self, Interval: cfg.Heartbeat, Logger: cfg.Logger}
	s.Engine = New(Config{
		Service: cfg.Service, Backends: cfg.Backends, Owner: cfg.Self.ID, LeaseTTL: cfg.LeaseTTL,
		Workers: cfg.Workers, Gateways: s.Membership.Owned, Health: true, Logger: cfg.Logger,
	})
	s.Membership.OnChange = s.Engine.Wake
	return s
}

// Ready reports whether the server has registered and is working.
func (s *Server) Ready() bool { return s.ready.Load() }

// Run works until ctx ends, then stops taking work, lets in-flight steps
// finish, releases its leases and deregisters, so the other members take
// over at once.
func (s *Server) Run(ctx context.Context) error {
	s.Membership.Refresh(ctx)
	var wg sync.WaitGroup
	start := func(fn func()) {
		wg.Add(1)
		go func() { defer wg.Done(); fn() }()
	}
	start(func() {
		if err := s.Membership.Run(ctx); err != nil {
			s.cfg.Logger.Warn("deregister", "err", err)
		}
	})
	start(func() {
		_ = s.cfg.Service.Store.Listen(ctx, func() {
			select {
			case s.refresh <- struct{}{}:
			default:
			}
		})
	})
	start(func() { s.refreshOnHint(ctx) })
	if s.cfg.SweepInterval > 0 {
		start(func() { s.sweepLoop(ctx) })
	}
	s.ready.Store(true)
	err := s.Engine.Run(ctx)
	s.ready.Store(false)
	wg.Wait()
	return err
}

// refreshOnHint recomputes ownership when another process signals a change
// (a new gateway must find its owner before the next heartbeat).
func (s *Server) refreshOnHint(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.refresh:
			s.Membership.Refresh(ctx)
			s.Engine.Wake()
		}
	}
}

func (s *Server) sweepLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rep, err := Sweep(ctx, s.cfg.Service.Store, s.cfg.Backends, SweepOptions{Grace: s.cfg.SweepGrace})
		if err != nil && ctx.Err() == nil {
			s.cfg.Logger.Warn("orphan sweep", "err", err)
		}
		if n := len(rep.Orphans()); n > 0 {
			s.cfg.Logger.Warn("orphan sweep terminated instances", "count", n)
		}
	}
}
