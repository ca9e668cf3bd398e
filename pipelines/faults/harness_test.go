package faults_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/backends"
	"github.com/portico-dev/portico/backends/aws"
	"github.com/portico-dev/portico/backends/awstest"
	"github.com/portico-dev/portico/gateways"
	"github.com/portico-dev/portico/gateways/store"
	"github.com/portico-dev/portico/internal/testsupport"
	"github.com/portico-dev/portico/models"
	"github.com/portico-dev/portico/pipelines"
)

// TestMain keeps the developer's AWS and Google setup out of the suite: no
// profiles, no credential files, no metadata service (which would dial
// 169.254.169.254). Everything the tests reach is on loopback.
func TestMain(m *testing.M) {
	for _, k := range []string{"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_EC2",
		"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
		"AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE",
		"GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT", "GOOGLE_APPLICATION_CREDENTIALS"} {
		_ = os.Unsetenv(k)
	}
	_ = os.Setenv("AWS_CONFIG_FILE", os.DevNull)
	_ = os.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	_ = os.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	// The sweeper and the AWS backend log through the default logger;
	// engines log into each world's buffer, shown when a scenario fails.
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	os.Exit(testsupport.Run(m))
}

var bg = context.Background()

const (
	region = "eu-west-1"
	// converge bounds every "until the pipelines get there": generous, as
	// the race detector and PostgreSQL make a loaded machine slow.
	converge = 30 * time.Second
	// sdkAttempts and sdkMaxBackoff bound the SDK's own retries of a call.
	sdkAttempts   = 5
	sdkMaxBackoff = 20 * time.Millisecond
	pollInterval  = 50 * time.Millisecond
)

// fastPolicy makes the gateway pipeline's retry schedule short enough to
// watch: 200 ms, then 400 ms, at most three failed attempts per slot.
var fastPolicy = gateways.Policy{Backoff: []time.Duration{200 * time.Millisecond, 400 * time.Millisecond}, MaxAttempts: 3}

// world is one scenario's universe: a real store, the gateway service over
// it, a fake EC2 and the engines running against them.
type world struct {
	t    *testing.T
	dsn  string
	st   *store.Store
	svc  *gateways.Service
	fake *awstest.Server
	logs *testsupport.SyncBuffer
	// health says engines probe replicas, so leases come and go even when
	// nothing changes: I4 is then checked once the engines stopped.
	health bool
	// grace is how old an unrecorded instance may be for I2; 0 is strict.
	grace time.Duration
	// gone are gateways deleted during the scenario, for I1.
	gone []string

	mu    sync.Mutex
	stops []func()
	gates []*gate
}

func newWorld(t *testing.T, dsn string, st *store.Store, opts awstest.Options) *world {
	t.Helper()
	if opts.RunningAfter == 0 {
		opts.RunningAfter = 50 * time.Millisecond
	}
	fake := awstest.NewServer(opts)
	t.Cleanup(fake.Close)
	svc := gateways.NewService(st)
	svc.Policy = fastPolicy
	return &world{t: t, dsn: dsn, st: st, svc: svc, fake: fake, logs: &testsupport.SyncBuffer{}}
}

// registry is what a freshly started process has: its own AWS backend
// (no cached discovery, no memory of earlier launches).
func (w *world) registry() *backends.Registry {
	reg := backends.NewRegistry()
	reg.Register("aws", func(ctx context.Context) (backends.Backend, error) {
		return aws.New(ctx, aws.Config{
			Endpoint: w.fake.URL(), PollInterval: pollInterval, RetryMaxAttempts: sdkAttempts, RetryMaxBackoff: sdkMaxBackoff,
			Credentials: credentials.NewStaticCredentialsProvider("AKIDFAULTSUITE", "not-a-secret", ""),
		})
	})
	return reg
}

// engine builds a "process": an engine with its own backend registry.
func (w *world) engine(owner string, mods ...func(*pipelines.Config)) *pipelines.Engine {
	cfg := pipelines.Config{Service: w.svc, Backends: w.registry(), Owner: owner, LeaseTTL: 5 * time.Second,
		Tick: 50 * time.Millisecond, Health: w.health, Logger: slog.New(slog.NewTextHandler(w.logs, nil))}
	for _, m := range mods {
		m(&cfg)
	}
	return pipelines.New(cfg)
}

// start runs eng until stop is called or the test ends.
func (w *world) start(eng *pipelines.Engine) (stop func()) { return w.startIn(bg, eng) }

// startIn runs eng under parent: cancelling parent is a crash of that
// process; stop still waits until Run returned.
func (w *world) startIn(parent context.Context, eng *pipelines.Engine) (stop func()) {
	ctx, cancel := context.WithCancel(parent)
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			assert.NoError(w.t, <-done, "engine stopped with an error")
		})
	}
	w.mu.Lock()
	w.stops = append(w.stops, stop)
	w.mu.Unlock()
	// A step blocked in a hook would keep Run from returning.
	w.t.Cleanup(func() { w.openGates(); stop() })
	return stop
}

func (w *world) stopAll() {
	w.mu.Lock()
	stops := append([]func(){}, w.stops...)
	w.mu.Unlock()
	for _, s := range stops {
		s()
	}
}

// spec is a valid AWS gateway of n replicas in eu-west-1.
func spec(name string, n int) models.Spec {
	return models.Spec{Type: "gateway", Name: name, Backend: "aws", Region: region, Domain: "example.com",
		Replicas: n, InstanceType: "t3.micro"}
}

// apply plans and applies s the way `portico apply -y` does.
func (w *world) apply(s models.Spec) *models.Gateway {
	w.t.Helper()
	return testsupport.Apply(w.t, w.svc, s)
}

func (w *world) gateway(name string) *models.Gateway {
	w.t.Helper()
	g, err := w.st.GetGateway(bg, name)
	require.NoError(w.t, err)
	return g
}

// waitFor waits until cond holds for the named gateway (nil when it does
// not exist), and on timeout fails with the gateway, its events and logs.
func (w *world) waitFor(name string, cond func(g *models.Gateway) bool, msg string) {
	w.t.Helper()
	ok := assert.Eventually(w.t, func() bool {
		g, err := w.st.GetGateway(bg, name)
		if err != nil && !strings.Contains(err.Error(), store.ErrNotFound.Error()) {
			return false
		}
		return cond(g)
	}, converge, 20*time.Millisecond, msg)
	if !ok {
		w.t.Fatalf("%s\n%s", msg, w.dump(name))
	}
}

// dump describes a gateway, its history and the engines' logs.
func (w *world) dump(name string) string {
	var b bytes.Buffer
	g, _ := w.st.GetGateway(bg, name)
	if g == nil {
		b.WriteString("gateway: <none>")
	} else {
		b.WriteString("gateway: " + string(g.Status) + " " + g.StatusMessage)
		for _, r := range g.Replicas {
			b.WriteString("\n  " + r.Token + " " + string(r.Status) + " " + r.InstanceID + " " + r.StatusMessage)
		}
	}
	evs, _ := w.st.Events(bg, name, 0)
	b.WriteString("\nevents:")
	for _, ev := range evs {
		b.WriteString("\n  " + ev.At.Format("15:04:05.000") + " " + ev.Kind + ": " + ev.Message)
	}
	b.WriteString("\nlogs:\n" + w.logs.String())
	return b.String()
}
