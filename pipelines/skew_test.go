package pipelines_test

import (
	"context"
	"fmt"
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
	"github.com/portico-dev/portico/gateways/store/storetest"
	"github.com/portico-dev/portico/internal/testsupport"
	"github.com/portico-dev/portico/pipelines"
)

// Scenario 20: two engines share one PostgreSQL and one (fake) EC2, one of
// them with its clock 120 s ahead. Leases are computed on the database
// clock, so the skewed engine never takes a lease early: no replica is ever
// worked on by both at once, neither loses a lease nor writes with a stale
// one, and what the skewed engine writes is on the database clock.
func TestServerClockSkewStealsNoLease(t *testing.T) {
	dsn := storetest.Postgres(t)
	st := storetest.Open(t, dsn)
	fake := awstest.NewServer(awstest.Options{RunningAfter: time.Second})
	t.Cleanup(fake.Close)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	ov := &overlap{active: map[string]int{}, tokenOf: map[string]string{}, sawRunning: map[string]time.Time{}}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	var engines []*pipelines.Engine
	for i, skew := range []time.Duration{0, 120 * time.Second} {
		reg := backends.NewRegistry()
		reg.Register("aws", func(ctx context.Context) (backends.Backend, error) {
			b, err := aws.New(ctx, aws.Config{Endpoint: fake.URL(), PollInterval: 200 * time.Millisecond, RetryMaxBackoff: 200 * time.Millisecond,
				Credentials: credentials.NewStaticCredentialsProvider("fake", "fake", "")})
			return &overlapBackend{Backend: b, o: ov, skewed: skew != 0}, err
		})
		e := pipelines.New(pipelines.Config{Service: gateways.NewService(storetest.Open(t, dsn)), Backends: reg,
			Owner: fmt.Sprintf("engine-%d", i), LeaseTTL: 2 * time.Second, Workers: 8, Tick: 200 * time.Millisecond,
			Clock: func() time.Time { return time.Now().Add(skew) }})
		engines = append(engines, e)
		wg.Go(func() { _ = e.Run(ctx) })
	}

	svc := gateways.NewService(st)
	for i := range 20 {
		yml := fmt.Sprintf("type: gateway\nname: skew-%02d\nbackend: aws\nregion: eu-west-1\nreplicas: 3\nhealth: {period: 1h}\n", i)
		spec, err := gateways.ParseSpec("skew.yml", []byte(yml), gateways.SpecOptions{})
		require.NoError(t, err)
		testsupport.Apply(t, svc, *spec)
	}
	require.Eventually(t, func() bool {
		var n int
		return st.DB().QueryRow(`SELECT COUNT(*) FROM replicas WHERE status = 'running'`).Scan(&n) == nil && n == 60
	}, 2*time.Minute, 100*time.Millisecond, "60 replicas running")
	cancel()
	wg.Wait()

	assert.Equal(t, 1, ov.max, "a replica was worked on by both engines at once")
	for i, e := range engines {
		assert.Zero(t, e.Metrics().LeasesLost.Load(), "engine %d lost leases", i)
		assert.Zero(t, e.Metrics().StaleWrites.Load(), "engine %d wrote with a stale lease", i)
		assert.Positive(t, e.Metrics().BackendCalls.Load(), "engine %d did no work", i)
	}
	require.NotEmpty(t, ov.sawRunning, "the skewed engine saw no replica start")
	for id, seen := range ov.sawRunning {
		var ms int64
		require.NoError(t, st.DB().QueryRow(`SELECT running_at FROM replicas WHERE instance_id = $1`, id).Scan(&ms))
		assert.WithinDuration(t, seen, time.UnixMilli(ms), 3*time.Second, "running_at of %s, written by the skewed engine", id)
	}
	insts, tokens := fake.Instances("eu-west-1"), map[string]bool{}
	for _, in := range insts {
		tokens[in.Tags["portico-token"]] = true
	}
	assert.Len(t, insts, 60, "one instance per replica")
	assert.Len(t, tokens, 60, "no two instances for one token")
	t.Logf("skewed engine: %d backend calls, saw %d replicas start; other engine: %d backend calls; max concurrent operations on one replica: %d",
		engines[1].Metrics().BackendCalls.Load(), len(ov.sawRunning), engines[0].Metrics().BackendCalls.Load(), ov.max)
}

// overlap counts the operations in flight on each replica (keyed by its
// token) across both engines; max above 1 means two engines overlapped.
type overlap struct {
	mu         sync.Mutex
	active     map[string]int
	max        int
	tokenOf    map[string]string    // instance id → replica token
	sawRunning map[string]time.Time // instance id → when the skewed engine saw it run
}

// enter marks keys busy for the call, held a little longer than the call
// itself so that overlapping work cannot slip between two samples.
func (o *overlap) enter(keys ...string) func() {
	o.mu.Lock()
	for _, k := range keys {
		o.active[k]++
		o.max = max(o.max, o.active[k])
	}
	o.mu.Unlock()
	time.Sleep(20 * time.Millisecond)
	return func() {
		o.mu.Lock()
		defer o.mu.Unlock()
		for _, k := range keys {
			o.active[k]--
		}
	}
}

type overlapBackend struct {
	backends.Backend
	o      *overlap
	skewed bool
}

func (b *overlapBackend) Launch(ctx context.Context, req backends.LaunchRequest) (backends.Instance, error) {
	defer b.o.enter(req.Token)()
	inst, err := b.Backend.Launch(ctx, req)
	b.o.mu.Lock()
	b.o.tokenOf[inst.ID] = req.Token
	b.o.mu.Unlock()
	return inst, err
}

func (b *overlapBackend) Describe(ctx context.Context, refs ...backends.InstanceRef) ([]backends.Instance, error) {
	keys := make([]string, len(refs))
	b.o.mu.Lock()
	for i, r := range refs {
		keys[i] = b.o.tokenOf[r.ID]
	}
	b.o.mu.Unlock()
	defer b.o.enter(keys...)()
	insts, err := b.Backend.Describe(ctx, refs...)
	b.o.mu.Lock()
	defer b.o.mu.Unlock()
	for _, in := range insts {
		if _, seen := b.o.sawRunning[in.ID]; b.skewed && !seen && in.State == backends.StateRunning {
			b.o.sawRunning[in.ID] = time.Now()
		}
	}
	return insts, err
}

func (b *overlapBackend) Terminate(ctx context.Context, ref backends.InstanceRef) error {
	b.o.mu.Lock()
	key := b.o.tokenOf[ref.ID]
	b.o.mu.Unlock()
	defer b.o.enter(key)()
	return b.Backend.Terminate(ctx, ref)
}
