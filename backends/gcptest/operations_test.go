package gcptest

import (
	"net/http"
	"testing"
	"time"

	"cloud.google.com/go/compute/apiv1/computepb"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func (c *clients) wait(t *testing.T, zone, op string) (*computepb.Operation, error) {
	t.Helper()
	return c.zoneOps.Wait(ctxT(t), &computepb.WaitZoneOperationRequest{Project: c.srv.Project(), Zone: zone, Operation: op})
}

// The two shapes of a failed operation, and what the client's op.Wait
// makes of them (../shared/notes/gce-wire.md).
func TestFailedOperationShapes(t *testing.T) {
	tests := []struct {
		name       string
		bare       bool
		code       string
		wantStatus int32
	}{
		{"capacity with httpErrorStatusCode", false, "ZONE_RESOURCE_POOL_EXHAUSTED", http.StatusServiceUnavailable},
		{"capacity bare", true, "ZONE_RESOURCE_POOL_EXHAUSTED", 0},
		{"quota with httpErrorStatusCode", false, "QUOTA_EXCEEDED", http.StatusForbidden},
		{"quota bare", true, "QUOTA_EXCEEDED", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClients(t, Options{BareOperationErrors: tt.bare})
			const zone = "europe-west1-b"
			if tt.code == "QUOTA_EXCEEDED" {
				c.srv.FailOperation(tt.code, "Quota 'CPUS' exceeded.  Limit: 8.0 in region europe-west1.", 1)
			} else {
				c.srv.SetCapacity(zone, false)
			}
			op, err := c.insert(t, zone, vm("a", zone, false, nil), uuid.NewString())
			require.NoError(t, err, "the insert itself is accepted")
			err = op.Wait(ctxT(t))
			if tt.bare {
				assert.NoError(t, err, "op.Wait reports success for a bare failed operation: the gotcha")
			} else {
				assert.ErrorContains(t, err, tt.code)
			}
			pb := op.Proto()
			require.Len(t, pb.GetError().GetErrors(), 1)
			assert.Equal(t, tt.code, pb.GetError().GetErrors()[0].GetCode())
			assert.Equal(t, tt.wantStatus, pb.GetHttpErrorStatusCode())
			assert.Empty(t, c.srv.Instances(), "a failed insert leaves no instance")
		})
	}
}

func TestWaitBlocksUntilDone(t *testing.T) {
	c := newClients(t, Options{InsertLatency: 200 * time.Millisecond})
	const zone = "us-central1-b"
	op, err := c.insert(t, zone, vm("a", zone, false, nil), "")
	require.NoError(t, err)
	start := time.Now()
	done, err := c.wait(t, zone, op.Name())
	require.NoError(t, err)
	assert.Equal(t, computepb.Operation_DONE, done.GetStatus())
	assert.GreaterOrEqual(t, time.Since(start), 150*time.Millisecond, "wait blocks server-side")
	assert.Equal(t, 1, c.srv.Calls("zoneOperations.wait"), "one call, no polling")
}

func TestWaitTimeoutAndEarlyReturn(t *testing.T) {
	c := newClients(t, Options{InsertLatency: time.Hour, WaitTimeout: 50 * time.Millisecond})
	const zone = "us-central1-b"
	op, err := c.insert(t, zone, vm("a", zone, false, nil), "")
	require.NoError(t, err)
	got, err := c.wait(t, zone, op.Name())
	require.NoError(t, err)
	assert.Equal(t, computepb.Operation_PENDING, got.GetStatus(), "wait returns the operation unfinished at its deadline (still in its first quarter)")

	c.srv.WaitReturnsEarly(1)
	start := time.Now()
	got, err = c.wait(t, zone, op.Name())
	require.NoError(t, err)
	assert.Equal(t, computepb.Operation_PENDING, got.GetStatus())
	assert.Less(t, time.Since(start), 40*time.Millisecond)

	_, err = c.wait(t, zone, "operation-does-not-exist")
	code, why := reason(err)
	assert.Equal(t, http.StatusNotFound, code)
	assert.Equal(t, "notFound", why)
}

func TestCloseReleasesBlockedWaits(t *testing.T) {
	c := newClients(t, Options{InsertLatency: time.Hour})
	const zone = "us-central1-b"
	op, err := c.insert(t, zone, vm("a", zone, false, nil), "")
	require.NoError(t, err)
	errc := make(chan error, 1)
	go func() {
		_, err := c.wait(t, zone, op.Name())
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	closed := make(chan struct{})
	go func() { c.srv.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hangs on a blocked wait")
	}
	<-errc
}
