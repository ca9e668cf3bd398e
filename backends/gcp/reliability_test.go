package gcp

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/backends"
	"github.com/portico-dev/portico/backends/gcptest"
)

// Throttled inserts are retried with the same requestId, spaced by at
// least the base backoff, and bounded.
func TestThrottledInsertsRetryWithSameRequestID(t *testing.T) {
	f := newFixture(t, gcptest.Options{}, Config{})
	f.srv.Throttle("instances.insert", 3)
	in, err := f.b.Launch(testCtx(t), request("tok", 0))
	require.NoError(t, err)
	assert.Len(t, f.srv.Instances(), 1)

	inserts := f.srv.CallsTo("instances.insert")
	require.Len(t, inserts, 4)
	for i, c := range inserts {
		assert.Equal(t, RequestID("tok", in.Zone), c.RequestID, "attempt %d", i)
		if i > 0 {
			base := time.Duration(float64(fastRetry.Initial) * float64(int(1)<<(i-1)))
			gap := c.At.Sub(inserts[i-1].At)
			assert.GreaterOrEqual(t, gap, base, "attempt %d came %v after the previous one", i, gap)
		}
	}
	assert.Equal(t, []int{429, 429, 429, 200}, []int{inserts[0].Status, inserts[1].Status, inserts[2].Status, inserts[3].Status})
}

func TestThrottlingBeyondTheBudgetIsTransient(t *testing.T) {
	f := newFixture(t, gcptest.Options{}, Config{})
	f.srv.Throttle("instances.insert", 100)
	_, err := f.b.Launch(testCtx(t), request("tok", 0))
	be := asBackendError(t, err)
	assert.Equal(t, backends.Transient, be.Kind)
	assert.Equal(t, "rateLimitExceeded", be.Code)
	assert.Equal(t, fastRetry.MaxAttempts, f.srv.Calls("instances.insert"), "bounded")
	assert.Empty(t, f.srv.Instances())
}

// The reply to the insert is lost after the fake acted: the retry carries
// the same requestId and gets the same operation, so one instance.
func TestDroppedInsertReply(t *testing.T) {
	f := newFixture(t, gcptest.Options{InsertLatency: 10 * time.Millisecond}, Config{})
	f.srv.DropResponse("instances.insert", 1)
	in, err := f.b.Launch(testCtx(t), request("tok", 0))
	require.NoError(t, err)
	got := f.srv.Instances()
	require.Len(t, got, 1)
	assert.Equal(t, in.ID, got[0].Name)
	inserts := f.srv.CallsTo("instances.insert")
	require.Len(t, inserts, 2)
	assert.Equal(t, inserts[0].RequestID, inserts[1].RequestID)
}

// A lost reply and a new process: the next launch (no Resume, new
// requestId impossible to know) still ends on the one instance, through
// the requestId or, failing that, the name (409 then adopt).
func TestDroppedReplyThenFreshProcess(t *testing.T) {
	f := newFixture(t, gcptest.Options{}, Config{})
	f.srv.DropResponse("instances.insert", fastRetry.MaxAttempts)
	_, err := f.b.Launch(testCtx(t), request("tok", 0))
	require.Error(t, err)
	assert.Equal(t, backends.Transient, backends.KindOf(err))
	require.Len(t, f.srv.Instances(), 1, "the first insert acted")

	in, err := newBackendFor(t, f.srv, Config{}).Launch(testCtx(t), request("tok", 0))
	require.NoError(t, err)
	assert.Equal(t, f.srv.Instances()[0].Name, in.ID)
	assert.Len(t, f.srv.Instances(), 1)
}

// Crash simulation: the caller dies right after the cloud acted (its
// context is cancelled in an AfterAction hook), then a new launch with
// Resume finds the instance by its token label and creates nothing.
func TestCrashAfterInsertThenResume(t *testing.T) {
	for _, point := range []string{"instances.insert", "zoneOperations.wait"} {
		t.Run(point, func(t *testing.T) {
			f := newFixture(t, gcptest.Options{InsertLatency: 20 * time.Millisecond}, Config{})
			ctx, crash := context.WithCancel(context.Background())
			var once atomic.Bool
			f.srv.Hook(point, gcptest.AfterAction, func() {
				if once.CompareAndSwap(false, true) {
					crash()
				}
			})
			_, err := f.b.Launch(ctx, request("tok", 0))
			require.True(t, errors.Is(err, context.Canceled), "got %v", err)
			require.Len(t, f.srv.Instances(), 1)
			inserts := f.srv.Calls("instances.insert")

			req := request("tok", 0)
			req.Resume = true
			in, err := f.b.Launch(testCtx(t), req)
			require.NoError(t, err)
			assert.Equal(t, f.srv.Instances()[0].Name, in.ID)
			assert.Equal(t, "tok", in.Token)
			assert.Len(t, f.srv.Instances(), 1, "exactly one instance")
			assert.Equal(t, inserts, f.srv.Calls("instances.insert"), "resume adopted without inserting")
			assert.Equal(t, 1, f.srv.Calls("instances.aggregatedList"), "one lookup by token")
		})
	}
}

// Resume when the earlier try never reached the cloud: the lookup finds
// nothing and the launch goes on as usual.
func TestResumeWithNothingToAdopt(t *testing.T) {
	f := newFixture(t, gcptest.Options{}, Config{})
	req := request("tok", 0)
	req.Resume = true
	_, err := f.b.Launch(testCtx(t), req)
	require.NoError(t, err)
	assert.Len(t, f.srv.Instances(), 1)
	assert.Equal(t, 1, f.srv.Calls("instances.insert"))
}

// A transient operation failure is retried in the same zone with a new
// requestId (the old one would replay the failure).
func TestTransientOperationErrorIsRetried(t *testing.T) {
	f := newFixture(t, gcptest.Options{}, Config{})
	f.srv.FailOperation("INTERNAL_ERROR", "Internal error. Please try again.", 1)
	in, err := f.b.Launch(testCtx(t), request("tok", 0))
	require.NoError(t, err)
	assert.Equal(t, "europe-west1-b", in.Zone)
	inserts := f.srv.CallsTo("instances.insert")
	require.Len(t, inserts, 2)
	assert.NotEqual(t, inserts[0].RequestID, inserts[1].RequestID)
}

// zoneOperations.wait may return before the operation is DONE; the
// launch waits again instead of taking it for finished. (The second early
// return comes at most 375 ms after the insert: 100 ms and 200 ms of
// poller backoff, jittered.)
func TestWaitReturningEarlyIsWaitedAgain(t *testing.T) {
	f := newFixture(t, gcptest.Options{InsertLatency: 600 * time.Millisecond}, Config{PollInterval: 10 * time.Millisecond})
	_, err := f.b.Launch(testCtx(t), request("warm-up", 0)) // zones and firewall
	require.NoError(t, err)
	f.srv.ResetCalls()
	f.srv.WaitReturnsEarly(2)
	_, err = f.b.Launch(testCtx(t), request("tok", 0))
	require.NoError(t, err)
	assert.Equal(t, 3, f.srv.Calls("zoneOperations.wait"))
}
