package gcp

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/backends"
	"github.com/portico-dev/portico/backends/gcptest"
)

// fixture is a backend talking to its own fake Compute Engine.
type fixture struct {
	srv *gcptest.Server
	b   *backend
}

// fastRetry keeps retry tests quick while keeping the backoff shape.
var fastRetry = RetryPolicy{Initial: 20 * time.Millisecond, Max: 100 * time.Millisecond, Multiplier: 2, MaxAttempts: 5}

func newFixture(t *testing.T, opts gcptest.Options, cfg Config) *fixture {
	t.Helper()
	srv := gcptest.NewServer(opts)
	t.Cleanup(srv.Close)
	return &fixture{srv: srv, b: newBackendFor(t, srv, cfg)}
}

// newBackendFor builds a backend on srv, as a new process would.
func newBackendFor(t testing.TB, srv *gcptest.Server, cfg Config) *backend {
	t.Helper()
	cfg.Project = srv.Project()
	cfg.Endpoint = srv.URL()
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 50 * time.Millisecond
	}
	if cfg.Retry == (RetryPolicy{}) {
		cfg.Retry = fastRetry
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	be, err := New(context.Background(), cfg)
	require.NoError(t, err)
	b := be.(*backend)
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// request is a launch request in europe-west1 (zones b, c, d on the fake).
func request(token string, replica int) backends.LaunchRequest {
	return backends.LaunchRequest{
		Token: token, Install: "inst1", Gateway: "edge", ReplicaNum: replica, Attempt: 1,
		Region: "europe-west1", ZoneIndex: replica, PublicIP: true,
		Domain: "example.com", HealthPath: "/healthz", HealthPort: 80,
	}
}
