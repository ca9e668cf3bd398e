package gcp

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/backends"
	"github.com/portico-dev/portico/backends/gcptest"
)

func asBackendError(t *testing.T, err error) *backends.Error {
	t.Helper()
	var be *backends.Error
	require.True(t, errors.As(err, &be), "want a *backends.Error, got %T: %v", err, err)
	return be
}

// Six replicas launched one after another spread two per zone, and the
// calls per replica are counted: one insert and, the operation being alone,
// one long-polled wait (no read-back); setup (zones, firewall) once.
func TestLaunchSpreadsOverZones(t *testing.T) {
	f := newFixture(t, gcptest.Options{InsertLatency: 20 * time.Millisecond}, Config{})
	perZone := map[string]int{}
	for i := range 6 {
		in, err := f.b.Launch(testCtx(t), request(fmt.Sprintf("tok-%d", i), i))
		require.NoError(t, err)
		perZone[in.Zone]++
		assert.Equal(t, "europe-west1", in.Region)
		assert.Equal(t, InstanceName("edge", i, fmt.Sprintf("tok-%d", i)), in.ID)
		assert.Equal(t, in.Zone, in.Data["zones_tried"])
	}
	assert.Equal(t, map[string]int{"europe-west1-b": 2, "europe-west1-c": 2, "europe-west1-d": 2}, perZone)
	for method, want := range map[string]int{
		"instances.insert": 6, "zoneOperations.wait": 6, "instances.get": 0,
		"zones.list": 1, "firewalls.get": 1, "firewalls.insert": 1, "globalOperations.wait": 1,
		"instances.aggregatedList": 0, "zoneOperations.get": 0, "globalOperations.aggregatedList": 0,
	} {
		assert.Equal(t, want, f.srv.Calls(method), method)
	}
	for _, in := range f.srv.Instances() {
		assert.Equal(t, []string{"portico-gateway"}, in.Tags)
		assert.Equal(t, "e2-small", in.MachineType)
		assert.True(t, in.PublicIP)
		assert.Contains(t, in.Metadata["startup-script"], "server_name example.com *.example.com;")
	}
}

func TestLaunchSkipsZonesThatAreDown(t *testing.T) {
	srvOpts := gcptest.Options{}
	f := newFixture(t, srvOpts, Config{})
	f.srv.SetZoneStatus("europe-west1-b", "DOWN")
	in, err := f.b.Launch(testCtx(t), request("tok", 0))
	require.NoError(t, err)
	assert.Equal(t, "europe-west1-c", in.Zone)
}

func TestCapacityMovesToNextZone(t *testing.T) {
	for _, bare := range []bool{false, true} {
		t.Run(fmt.Sprintf("bare=%v", bare), func(t *testing.T) {
			f := newFixture(t, gcptest.Options{BareOperationErrors: bare}, Config{})
			f.srv.SetCapacity("europe-west1-b", false)
			in, err := f.b.Launch(testCtx(t), request("tok", 0))
			require.NoError(t, err)
			assert.Equal(t, "europe-west1-c", in.Zone)
			assert.Equal(t, "europe-west1-b,europe-west1-c", in.Data["zones_tried"])
			inserts := f.srv.CallsTo("instances.insert")
			require.Len(t, inserts, 2)
			assert.Equal(t, RequestID("tok", "europe-west1-b"), inserts[0].RequestID)
			assert.Equal(t, RequestID("tok", "europe-west1-c"), inserts[1].RequestID, "another zone, another requestId")
			assert.Len(t, f.srv.Instances(), 1)
		})
	}
}

func TestNoCapacityAnywhere(t *testing.T) {
	f := newFixture(t, gcptest.Options{}, Config{})
	for _, z := range []string{"b", "c", "d"} {
		f.srv.SetCapacity("europe-west1-"+z, false)
	}
	_, err := f.b.Launch(testCtx(t), request("tok", 1))
	be := asBackendError(t, err)
	assert.Equal(t, backends.Capacity, be.Kind)
	assert.Equal(t, "ZONE_RESOURCE_POOL_EXHAUSTED", be.Code)
	assert.Equal(t, "no capacity for e2-small in europe-west1 (tried europe-west1-c, -d, -b)", be.Message)
	assert.Equal(t, []string{"europe-west1-c", "europe-west1-d", "europe-west1-b"}, be.ZonesTried)
	assert.Empty(t, f.srv.Instances(), "no instance leaked")
	assert.Equal(t, 3, f.srv.Calls("instances.insert"))

	// Later, capacity is back in the first zone. The server still remembers
	// the first requestId and answers it with the old failed operation; the
	// launch must see through that and really try again there.
	f.srv.SetCapacity("europe-west1-c", true)
	in, err := f.b.Launch(testCtx(t), request("tok", 1))
	require.NoError(t, err)
	assert.Equal(t, "europe-west1-c", in.Zone)
	inserts := f.srv.CallsTo("instances.insert")[3:]
	require.Len(t, inserts, 2, "the replayed failure, then a fresh try")
	assert.Equal(t, RequestID("tok", "europe-west1-c"), inserts[0].RequestID)
	assert.NotEqual(t, inserts[0].RequestID, inserts[1].RequestID)
}

// The op.Wait gotcha: an operation that finishes with an error but no
// httpErrorStatusCode must still be a failure, with its code.
func TestFailedOperationIsNeverSuccess(t *testing.T) {
	for _, bare := range []bool{true, false} {
		t.Run(fmt.Sprintf("bare=%v", bare), func(t *testing.T) {
			f := newFixture(t, gcptest.Options{BareOperationErrors: bare, InsertLatency: 10 * time.Millisecond}, Config{})
			f.srv.FailOperation("QUOTA_EXCEEDED", "Quota 'CPUS' exceeded.  Limit: 8.0 in region europe-west1.", 1)
			_, err := f.b.Launch(testCtx(t), request("tok", 0))
			be := asBackendError(t, err)
			assert.Equal(t, backends.Permanent, be.Kind)
			assert.Equal(t, "QUOTA_EXCEEDED", be.Code)
			assert.Contains(t, be.Message, "Quota 'CPUS' exceeded")
			assert.Equal(t, []string{"europe-west1-b"}, be.ZonesTried)
			assert.Equal(t, 1, f.srv.Calls("instances.insert"), "no blind retry")
			assert.Empty(t, f.srv.Instances())
		})
	}
}

func TestPermanentErrorsFailAtOnce(t *testing.T) {
	tests := []struct {
		name    string
		inject  func(*gcptest.Server)
		mutate  func(*backends.LaunchRequest)
		code    string
		inserts int
	}{
		{"forbidden", func(s *gcptest.Server) {
			s.FailNext("instances.insert", http.StatusForbidden, "forbidden", "Required 'compute.instances.create' permission for 'projects/portico-test'", 1)
		}, nil, "forbidden", 1},
		{"image not found", func(s *gcptest.Server) {
			s.FailNext("instances.insert", http.StatusNotFound, "notFound", "The resource 'projects/ubuntu-os-cloud/global/images/family/nope' was not found", 1)
		}, nil, "notFound", 1},
		{"invalid", func(s *gcptest.Server) {
			s.FailNext("instances.insert", http.StatusBadRequest, "invalid", "Invalid value for field 'resource.disks[0]'", 1)
		}, nil, "invalid", 1},
		{"quota as an HTTP error", func(s *gcptest.Server) {
			s.FailNext("instances.insert", http.StatusForbidden, "quotaExceeded", "Quota 'INSTANCES' exceeded", 1)
		}, nil, "quotaExceeded", 1},
		{"aws instance type", nil, func(r *backends.LaunchRequest) { r.InstanceType = "t3.micro" }, "INVALID_REQUEST", 0},
		{"bad token", nil, func(r *backends.LaunchRequest) { r.Token = "Not A Token" }, "INVALID_REQUEST", 0},
		{"injected domain", nil, func(r *backends.LaunchRequest) { r.Domain = "example.com;reboot" }, "INVALID_REQUEST", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, gcptest.Options{}, Config{})
			if tt.inject != nil {
				tt.inject(f.srv)
			}
			req := request("tok", 0)
			if tt.mutate != nil {
				tt.mutate(&req)
			}
			_, err := f.b.Launch(testCtx(t), req)
			be := asBackendError(t, err)
			assert.Equal(t, backends.Permanent, be.Kind, "%v", err)
			assert.Equal(t, tt.code, be.Code)
			assert.Equal(t, tt.inserts, f.srv.Calls("instances.insert"))
			assert.Empty(t, f.srv.Instances())
		})
	}
}

func TestNameTakenByAnotherToken(t *testing.T) {
	f := newFixture(t, gcptest.Options{}, Config{})
	name := InstanceName("edge", 0, "tok")
	require.NoError(t, f.srv.SeedInstance(gcptest.Seed{Zone: "europe-west1-b", Name: name,
		Labels: map[string]string{backends.TagToken: "someone-else"}}))
	_, err := f.b.Launch(testCtx(t), request("tok", 0))
	be := asBackendError(t, err)
	assert.Equal(t, backends.Permanent, be.Kind)
	assert.Equal(t, "NAME_TAKEN", be.Code)
}

// Launch no longer reads the instance back: what it returns comes from the
// request and the insert operation (pending, no hostname yet), and agrees
// with what Describe later reports, which fills in state and hostname.
func TestLaunchReturnsWhatTheInsertTells(t *testing.T) {
	f := newFixture(t, gcptest.Options{InsertLatency: 20 * time.Millisecond, RunningAfter: 200 * time.Millisecond}, Config{})
	before := time.Now()
	in, err := f.b.Launch(testCtx(t), request("tok", 1))
	require.NoError(t, err)
	assert.Zero(t, f.srv.Calls("instances.get"), "no read-back")
	name := InstanceName("edge", 1, "tok")
	assert.Equal(t, backends.Instance{
		ID: name, Region: "europe-west1", Zone: "europe-west1-c", State: backends.StatePending,
		Token: "tok", Install: "inst1", Gateway: "edge", ReplicaNum: 1, LaunchedAt: in.LaunchedAt,
		Data: map[string]string{"zones_tried": "europe-west1-c",
			"self_link": "https://www.googleapis.com/compute/v1/projects/portico-test/zones/europe-west1-c/instances/" + name},
	}, in)
	assert.WithinDuration(t, before, in.LaunchedAt, time.Second, "the operation's insertTime")

	var got backends.Instance
	require.Eventually(t, func() bool {
		all, err := f.b.Describe(testCtx(t), in.Ref())
		require.NoError(t, err)
		got = all[0]
		return got.State == backends.StateRunning
	}, 3*time.Second, 50*time.Millisecond)
	assert.Equal(t, []any{in.ID, in.Zone, in.Region, in.Token, in.Install, in.Gateway, in.ReplicaNum, in.Data["self_link"]},
		[]any{got.ID, got.Zone, got.Region, got.Token, got.Install, got.Gateway, got.ReplicaNum, got.Data["self_link"]})
	assert.WithinDuration(t, got.LaunchedAt, in.LaunchedAt, 50*time.Millisecond)
	assert.NotEmpty(t, got.Hostname, "Describe fills in the hostname")
}
