package backendtest

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/backends"
)

func testLaunchIsIdempotentOnToken(t *testing.T, s *suite) {
	install, token := newInstall(t), newToken(t, "a")
	req := s.request(install, "alpha", token, 0)
	first := s.launch(t, req)
	second := s.launch(t, req)
	assert.Equal(t, first.ID, second.ID, "a second launch with the same token must return the first instance")
	assert.Equal(t, token, first.Token)

	got := s.list(t, backends.ListFilter{Install: install, Token: token})
	require.Len(t, got, 1, "one token, one instance")
	assert.Equal(t, first.ID, got[0].ID)
}

func testConcurrentLaunchesShareOneInstance(t *testing.T, s *suite) {
	install, token := newInstall(t), newToken(t, "a")
	req := s.request(install, "alpha", token, 0)
	s.cleanupToken(t, install, token)
	ctx := s.ctx(t)

	const n = 8
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			in, err := s.env.Backend.Launch(ctx, req)
			ids[i], errs[i] = in.ID, err
		})
	}
	close(start)
	wg.Wait()
	for i := range n {
		require.NoError(t, errs[i], "launch %d", i)
		require.NotEmpty(t, ids[i], "launch %d returned no id", i)
		assert.Equal(t, ids[0], ids[i], "launch %d returned another instance", i)
	}
	got := s.list(t, backends.ListFilter{Install: install, Token: token})
	require.Len(t, got, 1, "concurrent launches of one token must start one instance")
	assert.Equal(t, ids[0], got[0].ID)
}

func testResumeAdoptsExisting(t *testing.T, s *suite) {
	install, token := newInstall(t), newToken(t, "a")
	req := s.request(install, "alpha", token, 0)
	first := s.launch(t, req)
	req.Resume = true
	resumed := s.launch(t, req)
	assert.Equal(t, first.ID, resumed.ID, "a resumed launch must adopt the instance the token started")
	require.Len(t, s.list(t, backends.ListFilter{Install: install, Token: token}), 1)
}

func testDescribeBatchesAndKeepsOrder(t *testing.T, s *suite) {
	install := newInstall(t)
	var refs []backends.InstanceRef
	for i := range 3 {
		in := s.launch(t, s.request(install, "alpha", newToken(t, string(rune('a'+i))), i))
		refs = append(refs, in.Ref())
	}
	got := s.waitRunning(t, refs...)
	for i, in := range got {
		assert.Equal(t, backends.StateRunning, in.State, "instance %d", i)
		assert.NotEmpty(t, in.Hostname, "a running instance %d has a hostname", i)
		assert.Equal(t, s.env.Region, in.Region, "instance %d", i)
		assert.Equal(t, i, in.ReplicaNum, "instance %d", i)
	}
	// Order must follow the refs, not launch order or ids.
	reversed := []backends.InstanceRef{refs[2], refs[0], refs[1]}
	got = s.describe(t, reversed...)
	for i, in := range got {
		assert.Equal(t, reversed[i].ID, in.ID)
		assert.Equal(t, backends.StateRunning, in.State)
	}
}

func testDescribeUnknownIsTerminated(t *testing.T, s *suite) {
	ref := s.unknownRef(t)
	got := s.describe(t, ref)
	assert.Equal(t, backends.StateTerminated, got[0].State)
	assert.Empty(t, got[0].Hostname)
}

func testTerminateIsIdempotent(t *testing.T, s *suite) {
	install, token := newInstall(t), newToken(t, "a")
	in := s.launch(t, s.request(install, "alpha", token, 0))
	s.waitRunning(t, in.Ref())

	ctx := s.ctx(t)
	require.NoError(t, s.env.Backend.Terminate(ctx, in.Ref()))
	require.NoError(t, s.env.Backend.Terminate(ctx, in.Ref()), "terminating a terminated instance is success")
	s.waitGone(t, in.Ref())
	for _, listed := range s.list(t, backends.ListFilter{Install: install}) {
		assert.NotEqual(t, in.ID, listed.ID, "a terminated instance must leave List")
	}

	require.NoError(t, s.env.Backend.Terminate(ctx, s.unknownRef(t)), "terminating an unknown instance is success")
}

func testListFiltersByInstallGatewayToken(t *testing.T, s *suite) {
	installA, installB := newInstall(t), newInstall(t)
	launched := map[string]backends.LaunchRequest{}
	for i, w := range []struct{ install, gateway string }{
		{installA, "alpha"}, {installA, "beta"}, {installB, "alpha"},
	} {
		req := s.request(w.install, w.gateway, newToken(t, string(rune('a'+i))), i)
		in := s.launch(t, req)
		launched[in.ID] = req
	}

	ids := func(in []backends.Instance) []string {
		var out []string
		for _, i := range in {
			out = append(out, i.ID)
		}
		return out
	}
	byA := s.list(t, backends.ListFilter{Install: installA})
	require.Len(t, byA, 2, "install A: %v", ids(byA))
	assert.Len(t, s.list(t, backends.ListFilter{Install: installA, Gateway: "alpha"}), 1)
	assert.Len(t, s.list(t, backends.ListFilter{Install: installA, Gateway: "gamma"}), 0)
	byB := s.list(t, backends.ListFilter{Install: installB})
	assert.Len(t, byB, 1, "install B: %v", ids(byB))

	for _, in := range append(byA, byB...) {
		req, ok := launched[in.ID]
		require.True(t, ok, "listed %s, which this test did not launch", in.ID)
		assert.Equal(t, req.Token, in.Token, "token read back for %s", in.ID)
		assert.Equal(t, req.Install, in.Install, "install read back for %s", in.ID)
		assert.Equal(t, req.Gateway, in.Gateway, "gateway read back for %s", in.ID)
		assert.Equal(t, req.ReplicaNum, in.ReplicaNum, "replica read back for %s", in.ID)
		assert.False(t, in.LaunchedAt.IsZero(), "launch time read back for %s", in.ID)
		assert.Equal(t, s.env.Region, in.Region, "region of %s", in.ID)
	}
	token := launched[byA[0].ID].Token
	got := s.list(t, backends.ListFilter{Install: installA, Token: token})
	require.Len(t, got, 1)
	assert.Equal(t, token, got[0].Token)
	assert.Empty(t, s.list(t, backends.ListFilter{Install: installB, Token: token}),
		"a token of install A is not listed under install B")
}

func testOutOfBandKillIsSeen(t *testing.T, s *suite) {
	require.NotNil(t, s.env.Kill, "Env.Kill is required")
	in := s.launch(t, s.request(newInstall(t), "alpha", newToken(t, "a"), 0))
	s.waitRunning(t, in.Ref())
	s.env.Kill(t, in.Ref())
	got := s.waitGone(t, in.Ref())
	assert.Equal(t, backends.StateTerminated, got[0].State)
}
