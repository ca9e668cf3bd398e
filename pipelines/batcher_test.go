package pipelines

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/backends"
	"github.com/portico-dev/portico/gateways/store"
	"github.com/portico-dev/portico/gateways/store/storetest"
	"github.com/portico-dev/portico/models"
)

// describeOnly is a backend whose Describe is a function and whose other
// methods are never called by the batcher.
type describeOnly struct {
	backends.Backend
	mu    sync.Mutex
	calls [][]backends.InstanceRef
	fn    func(refs []backends.InstanceRef) ([]backends.Instance, error)
}

func (d *describeOnly) Name() string { return "describe-only" }

func (d *describeOnly) Describe(_ context.Context, refs ...backends.InstanceRef) ([]backends.Instance, error) {
	d.mu.Lock()
	d.calls = append(d.calls, slices.Clone(refs))
	d.mu.Unlock()
	if d.fn != nil {
		return d.fn(refs)
	}
	out := make([]backends.Instance, len(refs))
	for i, r := range refs {
		out[i] = backends.Instance{ID: r.ID, Region: r.Region, State: backends.StateRunning, Hostname: "host-" + r.ID}
	}
	return out, nil
}

func (d *describeOnly) recorded() [][]backends.InstanceRef {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.calls)
}

type outcome struct {
	inst backends.Instance
	err  error
}

// describeAll starts n Describe calls one after the other, each joining the
// open batch before the next starts (so the batch order is the call order),
// then flushes the batch as the window's timer would, and returns what each
// caller got.
func describeAll(t *testing.T, d *describeBatcher, b backends.Backend, m *Metrics, n int) []outcome {
	t.Helper()
	out := make([]outcome, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			inst, err := d.Describe(bg, b, backends.InstanceRef{ID: fmt.Sprintf("i-%d", i), Region: "r1"}, m)
			out[i] = outcome{inst, err}
		}()
		require.Eventually(t, func() bool { return queued(d, b) == i+1 }, converge, time.Millisecond)
	}
	d.mu.Lock()
	batch := d.open[b]
	d.mu.Unlock()
	d.flush(b, batch, m)
	wg.Wait()
	return out
}

func queued(d *describeBatcher, b backends.Backend) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if batch := d.open[b]; batch != nil {
		return len(batch.refs)
	}
	return 0
}

func TestBatcherMergesConcurrentDescribes(t *testing.T) {
	d := newDescribeBatcher(time.Hour) // the test flushes, standing in for the timer
	b := &describeOnly{}
	m := &Metrics{}
	out := describeAll(t, d, b, m, 50)

	calls := b.recorded()
	require.Len(t, calls, 1, "one backend call for the whole window")
	require.Len(t, calls[0], 50)
	for i, ref := range calls[0] {
		assert.Equal(t, fmt.Sprintf("i-%d", i), ref.ID, "refs in call order")
	}
	for i, o := range out {
		require.NoError(t, o.err)
		assert.Equal(t, fmt.Sprintf("i-%d", i), o.inst.ID, "each caller gets its own instance")
		assert.Equal(t, "host-"+o.inst.ID, o.inst.Hostname)
	}
	assert.EqualValues(t, 1, m.BackendCalls.Load())
	assert.Zero(t, queued(d, b), "the window is closed; the next call opens a new one")
}

func TestBatcherDeliversErrorsToEveryWaiter(t *testing.T) {
	boom := errors.New("RequestLimitExceeded: slow down")
	cases := []struct {
		name string
		fn   func([]backends.InstanceRef) ([]backends.Instance, error)
		want string
	}{
		{"backend error", func([]backends.InstanceRef) ([]backends.Instance, error) { return nil, boom }, boom.Error()},
		{"short answer", func(refs []backends.InstanceRef) ([]backends.Instance, error) {
			return make([]backends.Instance, len(refs)-1), nil
		}, "described 49 instances for 50 refs"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := newDescribeBatcher(time.Hour)
			b := &describeOnly{fn: tc.fn}
			m := &Metrics{}
			for i, o := range describeAll(t, d, b, m, 50) {
				require.Error(t, o.err, "waiter %d", i)
				assert.Contains(t, o.err.Error(), tc.want)
			}
			assert.Len(t, b.recorded(), 1)
			assert.EqualValues(t, 1, m.BackendErrors.Load())
		})
	}
}

func TestBatcherSendsFullBatchAtOnce(t *testing.T) {
	d := newDescribeBatcher(time.Hour)
	d.max = 10
	b := &describeOnly{}
	var wg sync.WaitGroup
	for i := range 25 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := d.Describe(bg, b, backends.InstanceRef{ID: fmt.Sprint(i)}, &Metrics{})
			assert.NoError(t, err)
		}()
	}
	require.Eventually(t, func() bool { return len(b.recorded()) == 2 && queued(d, b) == 5 }, converge, time.Millisecond,
		"two full batches go at once; five refs wait for the window")
	d.mu.Lock()
	batch := d.open[b]
	d.mu.Unlock()
	d.flush(b, batch, &Metrics{})
	wg.Wait()
	assert.Equal(t, []int{10, 10, 5}, batchSizes(b.recorded()))
}

func TestBatcherWindowTimerFlushes(t *testing.T) {
	d := newDescribeBatcher(10 * time.Millisecond)
	b := &describeOnly{}
	inst, err := d.Describe(bg, b, backends.InstanceRef{ID: "i-1"}, &Metrics{})
	require.NoError(t, err)
	assert.Equal(t, "i-1", inst.ID)
	assert.Len(t, b.recorded(), 1)

	ctx, cancel := context.WithCancel(bg)
	cancel()
	_, err = d.Describe(ctx, b, backends.InstanceRef{ID: "i-2"}, &Metrics{})
	assert.ErrorIs(t, err, context.Canceled, "a caller that gives up does not wait for the batch")
}

// TestPollRoundIsOneDescribe drives the replica pipeline round by round:
// every provisioning row comes due at once, and all of the round's polls
// join one batch, which reaches the backend as one Describe carrying every
// instance.
func TestPollRoundIsOneDescribe(t *testing.T) {
	storetest.Each(t, func(t *testing.T, _ string, st *store.Store) {
		e := newEnv(t, st)
		const n = 20
		e.fake.RunAfter = 3 // running at the third describe
		e.fake.Poll = time.Hour
		e.apply(spec("batched", n))
		eng := e.engine("a")
		// The test closes the window once the round's polls have all joined,
		// standing in for the timer: how long 20 steps take to get there
		// depends on the machine, not on the pipeline.
		eng.batcher = newDescribeBatcher(time.Hour)
		require.NoError(t, eng.WaitIdle(bg))
		for _, r := range e.gateway("batched").Replicas {
			require.Equal(t, models.ReplicaProvisioning, r.Status)
		}
		for round := 1; round <= 3; round++ {
			_, err := st.DB().ExecContext(bg, `UPDATE replicas SET process_after = 0 WHERE status = 'provisioning'`)
			require.NoError(t, err)
			ctx, cancel := context.WithCancel(bg)
			t.Cleanup(cancel) // lets the round end if the test fails before the flush
			idle := make(chan error, 1)
			go func() { idle <- eng.WaitIdle(ctx) }()
			require.Eventually(t, func() bool { return queued(eng.batcher, e.fake) == n }, converge, time.Millisecond,
				"round %d: every poll joins the open batch", round)
			eng.batcher.mu.Lock()
			batch := eng.batcher.open[e.fake]
			eng.batcher.mu.Unlock()
			eng.batcher.flush(e.fake, batch, eng.Metrics())
			require.NoError(t, <-idle)
			calls := e.fake.describeCalls()
			require.Len(t, calls, round, "one describe per round")
			assert.Len(t, calls[round-1], n, "carrying every instance")
		}
		for _, r := range e.gateway("batched").Replicas {
			assert.Equal(t, models.ReplicaRunning, r.Status)
		}
		assert.Equal(t, models.GatewayRunning, e.gateway("batched").Status)
	})
}
