package gcp

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/backends"
	"github.com/portico-dev/portico/backends/gcptest"
)

func TestDescribeTwentyIsOneCall(t *testing.T) {
	f := newFixture(t, gcptest.Options{RunningAfter: 50 * time.Millisecond}, Config{})
	refs := make([]backends.InstanceRef, 20)
	var wg sync.WaitGroup
	for i := range refs {
		wg.Go(func() {
			req := request(fmt.Sprintf("tok-%d", i), i)
			req.PublicIP = i%2 == 0
			in, err := f.b.Launch(testCtx(t), req)
			assert.NoError(t, err)
			refs[i] = in.Ref()
		})
	}
	wg.Wait()
	time.Sleep(60 * time.Millisecond)
	f.srv.ResetCalls()

	unknown := backends.InstanceRef{ID: "portico-never-issued-0000", Region: "europe-west1", Zone: "europe-west1-b"}
	malformed := backends.InstanceRef{ID: `x") OR (name = "y`, Region: "europe-west1"}
	asked := append([]backends.InstanceRef{unknown}, refs...)
	asked = append(asked, malformed)
	got, err := f.b.Describe(testCtx(t), asked...)
	require.NoError(t, err)
	assert.Equal(t, 1, f.srv.Calls("instances.aggregatedList"), "one call for all of them")
	assert.Equal(t, 1, len(f.srv.CallLog()), "and nothing else")

	require.Len(t, got, len(asked))
	assert.Equal(t, backends.StateTerminated, got[0].State)
	assert.Equal(t, backends.StateTerminated, got[len(got)-1].State)
	for i, in := range got[1 : len(got)-1] {
		assert.Equal(t, refs[i].ID, in.ID, "order kept")
		assert.Equal(t, backends.StateRunning, in.State)
		assert.Equal(t, i, in.ReplicaNum)
		assert.Equal(t, fmt.Sprintf("tok-%d", i), in.Token)
		if i%2 == 0 {
			assert.Regexp(t, `^127\.\d+\.30\.\d+$`, in.Hostname, "public: the NAT address")
			assert.Equal(t, in.Hostname, in.Data["nat_ip"])
		} else {
			assert.Regexp(t, `^127\.\d+\.40\.\d+$`, in.Hostname, "private: the internal address")
			assert.Empty(t, in.Data["nat_ip"])
		}
		assert.NotEmpty(t, in.Data["internal_ip"])
		assert.Contains(t, in.Data["self_link"], "/instances/"+in.ID)
	}
}

func TestDescribeFollowsTheLifecycle(t *testing.T) {
	f := newFixture(t, gcptest.Options{RunningAfter: 200 * time.Millisecond, DeleteLatency: 200 * time.Millisecond}, Config{})
	in, err := f.b.Launch(testCtx(t), request("tok", 0))
	require.NoError(t, err)
	assert.Equal(t, backends.StatePending, in.State)
	assert.Empty(t, in.Hostname, "a public replica has no hostname before its NAT address")

	state := func() backends.Instance {
		got, err := f.b.Describe(testCtx(t), in.Ref())
		require.NoError(t, err)
		return got[0]
	}
	require.Eventually(t, func() bool { return state().State == backends.StateRunning }, 3*time.Second, 20*time.Millisecond)
	require.True(t, f.srv.DeleteOutOfBand(in.Zone, in.ID))
	assert.Equal(t, backends.StateStopping, state().State)
	require.Eventually(t, func() bool { return state().State == backends.StateTerminated }, 3*time.Second, 20*time.Millisecond)

	// A ref without a zone is found by name alone.
	in2, err := f.b.Launch(testCtx(t), request("tok-2", 1))
	require.NoError(t, err)
	got, err := f.b.Describe(testCtx(t), backends.InstanceRef{ID: in2.ID, Region: "europe-west1"})
	require.NoError(t, err)
	assert.Equal(t, in2.Zone, got[0].Zone)
}

func TestListFilters(t *testing.T) {
	f := newFixture(t, gcptest.Options{DeleteLatency: time.Hour}, Config{})
	longToken := strings.Repeat("t", 64)
	launch := func(token, install, gateway, region string) backends.Instance {
		req := request(token, 0)
		req.Install, req.Gateway, req.Region = install, gateway, region
		in, err := f.b.Launch(testCtx(t), req)
		require.NoError(t, err)
		return in
	}
	eu := launch(longToken, "inst1", "edge", "europe-west1")
	us := launch("tok-us", "inst1", "api", "us-central1")
	launch("tok-other", "inst2", "edge", "europe-west1")
	dying := launch("tok-dying", "inst1", "edge", "europe-west1")
	require.True(t, f.srv.DeleteOutOfBand(dying.Zone, dying.ID))
	require.NoError(t, f.srv.SeedInstance(gcptest.Seed{Zone: "europe-west1-c", Name: "unlabelled"}))

	list := func(lf backends.ListFilter) []string {
		t.Helper()
		got, err := f.b.List(testCtx(t), lf)
		require.NoError(t, err)
		var out []string
		for _, in := range got {
			out = append(out, in.ID)
		}
		return out
	}
	assert.ElementsMatch(t, []string{eu.ID, us.ID}, list(backends.ListFilter{Install: "inst1"}), "not the other install, the unlabelled or the dying one")
	assert.Equal(t, []string{eu.ID}, list(backends.ListFilter{Install: "inst1", Gateway: "edge"}))
	assert.Equal(t, []string{us.ID}, list(backends.ListFilter{Install: "inst1", Regions: []string{"us-central1"}}))
	assert.Equal(t, []string{eu.ID}, list(backends.ListFilter{Install: "inst1", Token: longToken}), "a 64-character token is found")
	assert.Empty(t, list(backends.ListFilter{Install: "inst1", Token: longToken[:63] + "x"}))

	got, err := f.b.List(testCtx(t), backends.ListFilter{Install: "inst1", Token: longToken})
	require.NoError(t, err)
	assert.Equal(t, longToken, got[0].Token, "the full token is read back")

	_, err = f.b.List(testCtx(t), backends.ListFilter{})
	assert.Equal(t, backends.Permanent, backends.KindOf(err), "an installation id is required")
}

func TestTerminate(t *testing.T) {
	f := newFixture(t, gcptest.Options{DeleteLatency: 30 * time.Millisecond}, Config{})
	in, err := f.b.Launch(testCtx(t), request("tok", 0))
	require.NoError(t, err)
	require.NoError(t, f.b.Terminate(testCtx(t), backends.InstanceRef{ID: in.ID, Region: in.Region}), "no zone: found by name")
	assert.Empty(t, f.srv.Instances(), "Terminate waits for the deletion")
	require.NoError(t, f.b.Terminate(testCtx(t), in.Ref()), "already gone")
	require.NoError(t, f.b.Terminate(testCtx(t), backends.InstanceRef{ID: "Not A Name", Zone: "europe-west1-b"}))
}
