package gcp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/compute/apiv1/computepb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/backends"
	"github.com/portico-dev/portico/backends/gcptest"
)

// launchAll launches replicas 0..n-1 at once and returns what each got.
func launchAll(t *testing.T, b *backend, n int, token func(i int) string) ([]backends.Instance, []error) {
	t.Helper()
	ins, errs := make([]backends.Instance, n), make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { ins[i], errs[i] = b.Launch(testCtx(t), request(token(i), i)) })
	}
	wg.Wait()
	return ins, errs
}

func tok(i int) string { return fmt.Sprintf("tok-%d", i) }

// pollerGoroutines counts the goroutines running the poller's code.
func pollerGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "gcp.(*opPoller)") {
			n++
		}
	}
	return n
}

// Capacity errors still move each replica to the next zone within its own
// Launch, with a new requestId, when the operations are polled together.
func TestCapacityFallbackUnderBatching(t *testing.T) {
	for _, bare := range []bool{false, true} {
		t.Run(fmt.Sprintf("bare=%v", bare), func(t *testing.T) {
			f := newFixture(t, gcptest.Options{InsertLatency: 100 * time.Millisecond, BareOperationErrors: bare}, Config{})
			f.srv.SetCapacity("europe-west1-b", false)
			const n = 20
			ins, errs := launchAll(t, f.b, n, tok)
			rids := map[string]bool{}
			for _, c := range f.srv.CallsTo("instances.insert") {
				rids[c.RequestID] = true
			}
			moved := 0
			for i, in := range ins {
				require.NoError(t, errs[i], "replica %d", i)
				if i%3 != 0 {
					assert.Equal(t, in.Zone, in.Data["zones_tried"], "replica %d started elsewhere", i)
					continue
				}
				moved++
				assert.Equal(t, "europe-west1-c", in.Zone, "replica %d", i)
				assert.Equal(t, "europe-west1-b,europe-west1-c", in.Data["zones_tried"], "replica %d", i)
				assert.True(t, rids[RequestID(tok(i), "europe-west1-b")], "replica %d tried zone b", i)
				assert.True(t, rids[RequestID(tok(i), "europe-west1-c")], "replica %d moved with a new requestId", i)
			}
			assert.Equal(t, 7, moved)
			assert.Len(t, rids, n+moved, "every insert had its own requestId")
			assert.Len(t, f.srv.Instances(), n)
			polls := f.srv.Calls("globalOperations.aggregatedList") + f.srv.Calls("zoneOperations.wait")
			assert.LessOrEqual(t, polls, 8, "the operations of both zones were polled together")
		})
	}
}

// The op.Wait gotcha under batching: an operation read from a list that
// finished with an error, with or without httpErrorStatusCode, fails its
// own launch with its code, and only that one.
func TestFailedOperationsInABatch(t *testing.T) {
	for _, bare := range []bool{true, false} {
		t.Run(fmt.Sprintf("bare=%v", bare), func(t *testing.T) {
			f := newFixture(t, gcptest.Options{InsertLatency: 150 * time.Millisecond, BareOperationErrors: bare}, Config{})
			f.srv.FailOperation("QUOTA_EXCEEDED", "Quota 'CPUS' exceeded.  Limit: 8.0 in region europe-west1.", 2)
			_, errs := launchAll(t, f.b, 6, tok)
			failed := 0
			for _, err := range errs {
				if err == nil {
					continue
				}
				failed++
				be := asBackendError(t, err)
				assert.Equal(t, backends.Permanent, be.Kind)
				assert.Equal(t, "QUOTA_EXCEEDED", be.Code)
				assert.Len(t, be.ZonesTried, 1, "a permanent error does not move zones")
			}
			assert.Equal(t, 2, failed)
			assert.Len(t, f.srv.Instances(), 4)
			assert.Equal(t, 6, f.srv.Calls("instances.insert"), "no blind retry")
			assert.Positive(t, f.srv.Calls("globalOperations.aggregatedList"), "the operations were read from a list")
		})
	}
}

// A launch whose context ends stops waiting at once; the poller goes on
// serving the others and stops polling the abandoned operation.
func TestCancelledLaunchLeavesThePollerServingOthers(t *testing.T) {
	f := newFixture(t, gcptest.Options{InsertLatency: 500 * time.Millisecond}, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var cancelledAt time.Time
	errs := make([]error, 5)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() {
			c := testCtx(t)
			if i == 0 {
				c = ctx
			}
			_, errs[i] = f.b.Launch(c, request(tok(i), i))
		})
	}
	require.Eventually(t, func() bool { return f.srv.Calls("globalOperations.aggregatedList") > 0 }, 2*time.Second, 5*time.Millisecond)
	cancelledAt = time.Now()
	cancel()
	wg.Wait()

	require.ErrorIs(t, errs[0], context.Canceled)
	for i, err := range errs[1:] {
		assert.NoError(t, err, "replica %d", i+1)
	}
	lists := f.srv.CallsTo("globalOperations.aggregatedList")
	assert.Equal(t, 5, strings.Count(lists[0].Filter, "name ="), "the first round polled all five")
	for _, c := range lists[1:] {
		if c.At.After(cancelledAt.Add(20 * time.Millisecond)) {
			assert.LessOrEqual(t, strings.Count(c.Filter, "name ="), 4, "the abandoned operation is not polled: %s", c.Filter)
		}
	}
	require.Eventually(t, f.b.ops.idle, 2*time.Second, 10*time.Millisecond)
}

// The poller's goroutines run only while operations are pending: they end
// after the launches, and a long poll ends when its only waiter gives up.
func TestPollerStopsWhenIdle(t *testing.T) {
	base := pollerGoroutines()
	f := newFixture(t, gcptest.Options{InsertLatency: 100 * time.Millisecond}, Config{})
	assert.True(t, f.b.ops.idle(), "nothing runs before the first launch")
	_, errs := launchAll(t, f.b, 3, tok)
	require.NoError(t, errors.Join(errs...))
	require.Eventually(t, f.b.ops.idle, 2*time.Second, 10*time.Millisecond, "after the launches")
	require.Eventually(t, func() bool { return pollerGoroutines() == base }, 2*time.Second, 10*time.Millisecond)

	g := newFixture(t, gcptest.Options{InsertLatency: time.Hour}, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_, err := g.b.Launch(ctx, request("tok", 0))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, 1, g.srv.Calls("zoneOperations.wait"), "the lone operation was long-polled")
	require.Eventually(t, g.b.ops.idle, time.Second, 10*time.Millisecond, "the long poll ended with its waiter")
	require.Eventually(t, func() bool { return pollerGoroutines() == base }, time.Second, 10*time.Millisecond)
}

// Without permission to list operations, each one is waited on by itself,
// as before the poller, from then on.
func TestListRefusedFallsBackToWaits(t *testing.T) {
	f := newFixture(t, gcptest.Options{InsertLatency: 150 * time.Millisecond}, Config{})
	f.srv.FailNext("globalOperations.aggregatedList", http.StatusForbidden, "forbidden",
		"Required 'compute.globalOperations.list' permission for 'projects/portico-test'", 1)
	for round := 1; round <= 2; round++ {
		_, errs := launchAll(t, f.b, 6, func(i int) string { return fmt.Sprintf("tok-%d-%d", round, i) })
		require.NoError(t, errors.Join(errs...))
		assert.Equal(t, 1, f.srv.Calls("globalOperations.aggregatedList"), "refused once, not asked again")
		assert.Equal(t, 6*round, f.srv.Calls("zoneOperations.wait"), "one wait per operation")
	}
	assert.Len(t, f.srv.Instances(), 12)
}

// A throttled list round is retried; past the retry budget the waiting
// launches fail as transient, and launching them again with the same
// tokens finds the instances their inserts created.
func TestThrottledListRounds(t *testing.T) {
	f := newFixture(t, gcptest.Options{InsertLatency: 150 * time.Millisecond}, Config{})
	f.srv.Throttle("globalOperations.aggregatedList", 2)
	_, errs := launchAll(t, f.b, 4, tok)
	require.NoError(t, errors.Join(errs...))
	assert.GreaterOrEqual(t, f.srv.Calls("globalOperations.aggregatedList"), 3)

	later := func(i int) string { return fmt.Sprintf("later-%d", i) }
	f.srv.Throttle("globalOperations.aggregatedList", fastRetry.MaxAttempts)
	_, errs = launchAll(t, f.b, 4, later)
	seen := map[*backends.Error]bool{}
	for _, err := range errs {
		if err != nil {
			be := asBackendError(t, err)
			assert.Equal(t, backends.Transient, be.Kind)
			assert.Equal(t, "rateLimitExceeded", be.Code)
			assert.False(t, seen[be], "each launch has an error of its own to amend")
			seen[be] = true
		}
	}
	assert.NotEmpty(t, seen)
	assert.Len(t, f.srv.Instances(), 8, "the inserts acted")
	_, errs = launchAll(t, f.b, 4, later)
	require.NoError(t, errors.Join(errs...))
	assert.Len(t, f.srv.Instances(), 8, "and were found again, not repeated")
}

// hidingAPI leaves every operation out of lists, as a list that does not
// show an operation yet, or any more, would.
type hidingAPI struct{ computeAPI }

func (h hidingAPI) ListOperations(ctx context.Context, filter string) ([]*computepb.Operation, error) {
	_, err := h.computeAPI.ListOperations(ctx, filter)
	return nil, err
}

func TestOperationsMissingFromListsAreLongPolled(t *testing.T) {
	srv := gcptest.NewServer(gcptest.Options{InsertLatency: 300 * time.Millisecond})
	t.Cleanup(srv.Close)
	opts, err := clientOptions(srv.URL())
	require.NoError(t, err)
	api, err := newRESTAPI(context.Background(), srv.Project(), opts)
	require.NoError(t, err)
	b := newBackend(Config{Project: srv.Project(), Retry: fastRetry, Logger: slog.New(slog.DiscardHandler)}.withDefaults(), hidingAPI{api})
	t.Cleanup(func() { _ = b.Close() })

	_, errs := launchAll(t, b, 3, tok)
	require.NoError(t, errors.Join(errs...))
	assert.Equal(t, opMaxMisses, srv.Calls("globalOperations.aggregatedList"))
	assert.Equal(t, 3, srv.Calls("zoneOperations.wait"), "then each was waited on")
}

// Closing the backend fails the waits in flight instead of leaving them.
func TestCloseEndsWaits(t *testing.T) {
	f := newFixture(t, gcptest.Options{InsertLatency: time.Hour}, Config{})
	errc := make(chan error, 2)
	for i := range 2 {
		go func() {
			_, err := f.b.Launch(testCtx(t), request(tok(i), i))
			errc <- err
		}()
	}
	require.Eventually(t, func() bool { return f.srv.Calls("instances.insert") == 2 }, 2*time.Second, 5*time.Millisecond)
	require.NoError(t, f.b.Close())
	for range 2 {
		be := asBackendError(t, <-errc)
		assert.Equal(t, backends.Transient, be.Kind)
		assert.Equal(t, "CLOSED", be.Code)
	}
	assert.True(t, f.b.ops.idle())
}

func TestOpInterval(t *testing.T) {
	for polls, want := range []time.Duration{100, 200, 400, 800, 1600, 2000, 2000} {
		assert.Equal(t, want*time.Millisecond, opInterval(polls), "after %d looks", polls)
	}
	assert.Equal(t, opMaxInterval, opInterval(1000), "no overflow")
	for range 100 {
		d := jitter(time.Second)
		assert.True(t, d >= time.Second && d <= 1250*time.Millisecond, "%v", d)
	}
}
