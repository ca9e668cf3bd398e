package gcptest

import (
	"errors"
	"net/http"
	"sort"
	"testing"
	"time"

	"cloud.google.com/go/compute/apiv1/computepb"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/api/iterator"
	"google.golang.org/protobuf/proto"
)

// scopedOp is one operation of an aggregated list, with the scope it was
// listed under.
type scopedOp struct {
	scope string
	op    *computepb.Operation
}

// aggregatedOps drains globalOperations.aggregatedList through the real
// client, and returns the operations and the scopes that carried a
// NO_RESULTS_ON_PAGE warning.
func (c *clients) aggregatedOps(t *testing.T, filter string, pageSize uint32) ([]scopedOp, map[string]bool, error) {
	t.Helper()
	req := &computepb.AggregatedListGlobalOperationsRequest{Project: c.srv.Project()}
	if filter != "" {
		req.Filter = proto.String(filter)
	}
	if pageSize > 0 {
		req.MaxResults = proto.Uint32(pageSize)
	}
	it := c.globalOps.AggregatedList(ctxT(t), req)
	var out []scopedOp
	empty := map[string]bool{}
	for {
		pair, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return out, empty, nil
		}
		if err != nil {
			return nil, nil, err
		}
		if pair.Value.GetWarning().GetCode() == "NO_RESULTS_ON_PAGE" {
			empty[pair.Key] = true
		}
		for _, op := range pair.Value.GetOperations() {
			out = append(out, scopedOp{pair.Key, op})
		}
	}
}

func opNames(ops []scopedOp) []string {
	out := make([]string, 0, len(ops))
	for _, o := range ops {
		out = append(out, o.op.GetName())
	}
	sort.Strings(out)
	return out
}

func TestAggregatedOperationsFilterScopesAndPages(t *testing.T) {
	c := newClients(t, Options{Regions: []string{"europe-west1", "us-central1"}})
	var names []string
	for _, zone := range []string{"europe-west1-b", "europe-west1-c", "us-central1-d"} {
		op, err := c.insert(t, zone, vm("vm", zone, false, nil), uuid.NewString())
		require.NoError(t, err)
		names = append(names, op.Name())
	}
	fw, err := c.firewalls.Insert(ctxT(t), &computepb.InsertFirewallRequest{Project: c.srv.Project(), FirewallResource: &computepb.Firewall{
		Name: proto.String("fw"), Allowed: []*computepb.Allowed{{IPProtocol: proto.String("tcp")}},
	}})
	require.NoError(t, err)

	tests := []struct {
		name   string
		filter string
		want   []string
	}{
		{"all", "", []string{names[0], names[1], names[2], fw.Name()}},
		{"names", `(name = "` + names[0] + `") OR (name = "` + names[2] + `") OR (name = "operation-0-0")`, []string{names[0], names[2]}},
		{"by type", `operationType = "insert" AND targetLink = "*/instances/vm"`, names},
		{"by zone, regex dialect", `zone eq '.*/zones/europe-west1-.*'`, names[:2]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := append([]string(nil), tt.want...)
			sort.Strings(want)
			for _, page := range []uint32{0, 1, 2} {
				got, _, err := c.aggregatedOps(t, tt.filter, page)
				require.NoError(t, err)
				assert.Equal(t, want, opNames(got), "page size %d", page)
			}
		})
	}

	got, empty, err := c.aggregatedOps(t, "", 0)
	require.NoError(t, err)
	scopes := map[string]string{}
	for _, o := range got {
		scopes[o.op.GetName()] = o.scope
	}
	assert.Equal(t, map[string]string{
		names[0]: "zones/europe-west1-b", names[1]: "zones/europe-west1-c", names[2]: "zones/us-central1-d", fw.Name(): "global",
	}, scopes)
	assert.True(t, empty["zones/us-central1-b"], "an empty zone carries NO_RESULTS_ON_PAGE")
	assert.True(t, empty["regions/europe-west1"], "so does a region")
	assert.False(t, empty["global"])
}

// Operations go PENDING → RUNNING → DONE, as a list shows them, and a
// failed one carries its error in both shapes.
func TestAggregatedOperationsLifecycleAndErrors(t *testing.T) {
	for _, bare := range []bool{false, true} {
		t.Run(map[bool]string{false: "with httpErrorStatusCode", true: "bare"}[bare], func(t *testing.T) {
			c := newClients(t, Options{InsertLatency: 400 * time.Millisecond, BareOperationErrors: bare})
			const zone = "europe-west1-b"
			c.srv.SetCapacity(zone, false)
			op, err := c.insert(t, zone, vm("a", zone, false, nil), uuid.NewString())
			require.NoError(t, err)
			status := func() *computepb.Operation {
				got, _, err := c.aggregatedOps(t, `name = "`+op.Name()+`"`, 0)
				require.NoError(t, err)
				require.Len(t, got, 1)
				return got[0].op
			}
			first := status()
			assert.Equal(t, computepb.Operation_PENDING, first.GetStatus(), "pending for the first quarter")
			assert.Empty(t, first.GetStartTime())
			assert.NotEmpty(t, first.GetInsertTime())
			require.Eventually(t, func() bool { return status().GetStatus() == computepb.Operation_RUNNING }, 2*time.Second, 10*time.Millisecond)
			assert.NotEmpty(t, status().GetStartTime())
			require.Eventually(t, func() bool { return status().GetStatus() == computepb.Operation_DONE }, 2*time.Second, 10*time.Millisecond)

			done := status()
			require.Len(t, done.GetError().GetErrors(), 1)
			assert.Equal(t, "ZONE_RESOURCE_POOL_EXHAUSTED", done.GetError().GetErrors()[0].GetCode())
			if bare {
				assert.Nil(t, done.HttpErrorStatusCode)
			} else {
				assert.Equal(t, int32(http.StatusServiceUnavailable), done.GetHttpErrorStatusCode())
			}
			assert.Equal(t, zone, done.GetZone()[len(done.GetZone())-len(zone):])
		})
	}
}

func TestAggregatedOperationsErrors(t *testing.T) {
	c := newClients(t, Options{})
	_, _, err := c.aggregatedOps(t, `(name = "a"`, 0)
	code, why := reason(err)
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Equal(t, "invalid", why)

	c.srv.Throttle("globalOperations.aggregatedList", 1)
	_, _, err = c.aggregatedOps(t, "", 0)
	code, why = reason(err)
	assert.Equal(t, http.StatusTooManyRequests, code)
	assert.Equal(t, "rateLimitExceeded", why)

	_, err = c.globalOps.AggregatedList(ctxT(t), &computepb.AggregatedListGlobalOperationsRequest{Project: "other"}).Next()
	code, _ = reason(err)
	assert.Equal(t, http.StatusNotFound, code)
	assert.Equal(t, 3, c.srv.Calls("globalOperations.aggregatedList"))
}
