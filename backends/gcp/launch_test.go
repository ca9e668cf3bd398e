package gcp

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
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

// Six replicas spread two per zone, and the calls per replica are counted:
// one insert, one wait, one get; setup (zones, firewall) once.
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
		"instances.insert": 6, "zoneOperations.wait": 6, "instances.get": 6,
		"zones.list": 1, "firewalls.get": 1, "firewalls.insert": 1, "globalOperations.wait": 1,
		"instances.aggregatedList": 0, "zoneOperations.get": 0,
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

// The call budget of a 6-replica gateway, launched concurrently as the
// pipelines do and then described until running: per replica one insert,
// one wait and one get; once per process the zone list and the firewall
// (get, insert, wait); one aggregatedList per Describe round.
func TestSixReplicaCallBudget(t *testing.T) {
	f := newFixture(t, gcptest.Options{InsertLatency: 20 * time.Millisecond, RunningAfter: 150 * time.Millisecond}, Config{})
	refs := make([]backends.InstanceRef, 6)
	var wg sync.WaitGroup
	for i := range refs {
		wg.Go(func() {
			in, err := f.b.Launch(testCtx(t), request(fmt.Sprintf("tok-%d", i), i))
			assert.NoError(t, err)
			refs[i] = in.Ref()
		})
	}
	wg.Wait()
	rounds := 0
	for {
		rounds++
		got, err := f.b.Describe(testCtx(t), refs...)
		require.NoError(t, err)
		running := 0
		for _, in := range got {
			if in.State == backends.StateRunning && in.Hostname != "" {
				running++
			}
		}
		if running == len(refs) {
			break
		}
		time.Sleep(f.b.Capabilities().PollInterval)
	}
	want := map[string]int{
		"instances.insert": 6, "zoneOperations.wait": 6, "instances.get": 6,
		"zones.list": 1, "firewalls.get": 1, "firewalls.insert": 1, "globalOperations.wait": 1,
		"instances.aggregatedList": rounds,
	}
	for method, n := range want {
		assert.Equal(t, n, f.srv.Calls(method), method)
	}
	assert.Len(t, f.srv.CallLog(), 22+rounds, "no other calls")
	t.Logf("6 replicas: %d calls for launch and setup, %d describe rounds of one aggregatedList each", 22, rounds)
}
