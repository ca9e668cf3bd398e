package gcptest

import (
	"fmt"
	"net/http"
	"sort"
	"testing"

	"cloud.google.com/go/compute/apiv1/computepb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
)

func names(in []*computepb.Instance) []string {
	out := make([]string, 0, len(in))
	for _, i := range in {
		out = append(out, i.GetName())
	}
	sort.Strings(out)
	return out
}

func TestAggregatedListFiltersAndPages(t *testing.T) {
	c := newClients(t, Options{})
	seed := []struct{ zone, name, install, gateway string }{
		{"europe-west1-b", "a0", "i1", "edge"},
		{"europe-west1-c", "a1", "i1", "edge"},
		{"europe-west1-d", "a2", "i1", "api"},
		{"us-central1-b", "b0", "i2", "edge"},
		{"us-central1-c", "plain", "", ""},
	}
	for _, s := range seed {
		labels := map[string]string{}
		if s.install != "" {
			labels["portico-install"], labels["portico-gateway"] = s.install, s.gateway
		}
		require.NoError(t, c.srv.SeedInstance(Seed{Zone: s.zone, Name: s.name, Labels: labels}))
	}
	tests := []struct {
		filter string
		want   []string
	}{
		{``, []string{"a0", "a1", "a2", "b0", "plain"}},
		{`labels.portico-install = "i1"`, []string{"a0", "a1", "a2"}},
		{`(labels.portico-install = "i1") AND (labels.portico-gateway = "edge")`, []string{"a0", "a1"}},
		{`(labels.portico-install = "i1") (labels.portico-gateway = "edge")`, []string{"a0", "a1"}},
		{`(name = "a0") OR (name = "b0") OR (name = "nope")`, []string{"a0", "b0"}},
		{`labels.portico-install:*`, []string{"a0", "a1", "a2", "b0"}},
		{`labels.portico-install != "i1"`, []string{"b0", "plain"}},
		{`name = "a*"`, []string{"a0", "a1", "a2"}},
		{`NOT (name = "plain")`, []string{"a0", "a1", "a2", "b0"}},
		{`name eq 'a[12]'`, []string{"a1", "a2"}},
		{`name ne a.*`, []string{"b0", "plain"}},
		{`zone eq '.*/zones/us-central1-.*'`, []string{"b0", "plain"}},
		{`status = "RUNNING"`, []string{"a0", "a1", "a2", "b0", "plain"}},
		// AIP-160: OR binds tighter than AND.
		{`labels.portico-gateway = "edge" AND name = "a0" OR name = "b0"`, []string{"a0", "b0"}},
	}
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			for _, page := range []int32{0, 1, 2} {
				got, err := c.aggregated(t, tt.filter, page)
				require.NoError(t, err)
				assert.Equal(t, tt.want, names(got), "page size %d", page)
			}
		})
	}
}

func TestBadFiltersAreRejected(t *testing.T) {
	c := newClients(t, Options{})
	for _, f := range []string{
		`name = `,
		`(name = "a"`,
		`name eq a (labels.x = "b")`, // dialects mixed
		`name = "unterminated`,
		`= "a"`,
	} {
		t.Run(f, func(t *testing.T) {
			_, err := c.aggregated(t, f, 0)
			code, why := reason(err)
			assert.Equal(t, http.StatusBadRequest, code, "%v", err)
			assert.Equal(t, "invalid", why)
		})
	}
}

func TestZoneListAndScopes(t *testing.T) {
	c := newClients(t, Options{Regions: []string{"europe-west1", "us-central1"}})
	c.srv.SetZoneStatus("europe-west1-c", "DOWN")
	it := c.zones.List(ctxT(t), &computepb.ListZonesRequest{Project: c.srv.Project(), Filter: proto.String(`region eq '.*/regions/europe-west1'`)})
	var got []string
	for z, err := it.Next(); err == nil; z, err = it.Next() {
		got = append(got, fmt.Sprintf("%s:%s", z.GetName(), z.GetStatus()))
	}
	assert.Equal(t, []string{"europe-west1-b:UP", "europe-west1-c:DOWN", "europe-west1-d:UP"}, got)

	req := &computepb.AggregatedListInstancesRequest{Project: c.srv.Project()}
	resp, err := c.instances.AggregatedList(ctxT(t), req).Next()
	require.NoError(t, err)
	assert.Equal(t, "zones/europe-west1-b", resp.Key, "empty zones carry a NO_RESULTS_ON_PAGE warning")
	assert.Equal(t, "NO_RESULTS_ON_PAGE", resp.Value.GetWarning().GetCode())

	_, err = c.instances.Get(ctxT(t), &computepb.GetInstanceRequest{Project: "other", Zone: "europe-west1-b", Instance: "x"})
	code, _ := reason(err)
	assert.Equal(t, http.StatusNotFound, code, "another project is not found")
}
