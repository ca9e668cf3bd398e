// Package backendtest is the conformance suite every backend passes: the
// local agents, and the AWS and GCP backends against their fake clouds. It
// pins down the promises the pipelines rely on (idempotent launches,
// batched and ordered descriptions, idempotent termination, tag filters,
// noticing instances that die behind our back) in one place, so a backend
// cannot quietly keep only some of them.
package backendtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/backends"
)

// Env is one fresh backend plus the powers a test needs over its world.
type Env struct {
	Backend backends.Backend
	// Region is a region the backend accepts.
	Region string
	// Kill ends an instance behind the backend's back (fake-cloud
	// out-of-band termination, SIGKILL of a local agent).
	Kill func(t *testing.T, ref backends.InstanceRef)
	// Timeout bounds waiting for an instance to run or to be seen gone;
	// 0 means 30s.
	Timeout time.Duration
	// InstanceType to request; "" for the backend default.
	InstanceType string
	// UnknownID is an id in the provider's own shape that it never issued
	// ("i-0123456789abcdef0" on EC2), so that a backend cannot reject it as
	// malformed instead of reporting it gone. "" means a made-up token,
	// which is the shape of a local agent's id.
	UnknownID string
}

// Run runs the conformance suite as subtests of t. newEnv is called once
// per subtest and must register its own cleanup (t.Cleanup) that stops
// everything it started; each subtest also terminates what it launched.
func Run(t *testing.T, newEnv func(t *testing.T) Env) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := newEnv(t)
			require.NotNil(t, env.Backend, "newEnv returned no backend")
			require.NotEmpty(t, env.Region, "newEnv returned no region")
			if env.Timeout == 0 {
				env.Timeout = 30 * time.Second
			}
			c.run(t, &suite{env: env})
		})
	}
}

var cases = []struct {
	name string
	run  func(t *testing.T, s *suite)
}{
	{"LaunchIsIdempotentOnToken", testLaunchIsIdempotentOnToken},
	{"ConcurrentLaunchesShareOneInstance", testConcurrentLaunchesShareOneInstance},
	{"ResumeAdoptsExisting", testResumeAdoptsExisting},
	{"DescribeBatchesAndKeepsOrder", testDescribeBatchesAndKeepsOrder},
	{"DescribeUnknownIsTerminated", testDescribeUnknownIsTerminated},
	{"TerminateIsIdempotent", testTerminateIsIdempotent},
	{"ListFiltersByInstallGatewayToken", testListFiltersByInstallGatewayToken},
	{"OutOfBandKillIsSeen", testOutOfBandKillIsSeen},
}

// suite is one subtest's Env and helpers.
type suite struct {
	env Env
}

var (
	tokenRE    = regexp.MustCompile(`^[a-z0-9-]{1,64}$`)
	nonTokenRE = regexp.MustCompile(`[^a-z0-9-]`)
)

// randHex returns n random bytes as lowercase hex.
func randHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

// newInstall makes up an installation id (8 lowercase hex characters), so
// subtests sharing a cloud never see each other's instances.
func newInstall(t *testing.T) string { return randHex(t, 4) }

// newToken makes a unique token from the subtest's name and a label.
func newToken(t *testing.T, label string) string {
	t.Helper()
	name := strings.ToLower(t.Name()[strings.LastIndex(t.Name(), "/")+1:])
	name = nonTokenRE.ReplaceAllString(name, "-")
	if len(name) > 20 {
		name = name[:20]
	}
	tok := fmt.Sprintf("%s-%s-%s", name, label, randHex(t, 6))
	require.Regexp(t, tokenRE, tok)
	return tok
}

// request builds a launch request for the env's region and instance type.
func (s *suite) request(install, gateway, token string, replica int) backends.LaunchRequest {
	return backends.LaunchRequest{
		Token:        token,
		Install:      install,
		Gateway:      gateway,
		ReplicaNum:   replica,
		Attempt:      1,
		Region:       s.env.Region,
		ZoneIndex:    replica,
		InstanceType: s.env.InstanceType,
		Domain:       "example.com",
		HealthPath:   "/healthz",
		HealthPort:   80,
	}
}

// ctx returns a context bounded by the env's timeout.
func (s *suite) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), s.env.Timeout)
	t.Cleanup(cancel)
	return ctx
}

// launch launches and registers a cleanup that terminates the instance.
// The cleanup is registered before the call, so a launch that fails after
// reaching the provider is still cleaned up through List.
func (s *suite) launch(t *testing.T, req backends.LaunchRequest) backends.Instance {
	t.Helper()
	s.cleanupToken(t, req.Install, req.Token)
	in, err := s.env.Backend.Launch(s.ctx(t), req)
	require.NoError(t, err, "launch %s", req.Token)
	require.NotEmpty(t, in.ID, "launch %s returned no id", req.Token)
	s.cleanupRef(t, in.Ref())
	return in
}

// cleanupToken terminates, at the end of the test, every instance the
// token's tags find, ignoring errors.
func (s *suite) cleanupToken(t *testing.T, install, token string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.env.Timeout)
		defer cancel()
		found, _ := s.env.Backend.List(ctx, backends.ListFilter{Install: install, Token: token})
		for _, in := range found {
			_ = s.env.Backend.Terminate(ctx, in.Ref())
		}
	})
}

// cleanupRef terminates one instance at the end of the test, ignoring errors.
func (s *suite) cleanupRef(t *testing.T, ref backends.InstanceRef) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.env.Timeout)
		defer cancel()
		_ = s.env.Backend.Terminate(ctx, ref)
	})
}

// describe calls Describe once and checks the shape of the answer: one
// instance per ref, in ref order.
func (s *suite) describe(t *testing.T, refs ...backends.InstanceRef) []backends.Instance {
	t.Helper()
	got, err := s.env.Backend.Describe(s.ctx(t), refs...)
	require.NoError(t, err)
	require.Len(t, got, len(refs), "describe returns one instance per ref")
	for i, ref := range refs {
		require.Equal(t, ref.ID, got[i].ID, "describe result %d is out of order", i)
	}
	return got
}

// waitFor describes refs (all in one call) every PollInterval until done
// holds for every instance, and fails after the env's timeout.
func (s *suite) waitFor(t *testing.T, what string, done func(backends.Instance) bool, refs ...backends.InstanceRef) []backends.Instance {
	t.Helper()
	interval := s.env.Backend.Capabilities().PollInterval
	if interval <= 0 {
		interval = 100 * time.Millisecond
	}
	deadline := time.Now().Add(s.env.Timeout)
	for {
		got := s.describe(t, refs...)
		all := true
		for _, in := range got {
			all = all && done(in)
		}
		if all {
			return got
		}
		if time.Now().After(deadline) {
			require.FailNowf(t, "timed out", "waiting %s for instances to be %s: %+v", s.env.Timeout, what, got)
		}
		time.Sleep(interval)
	}
}

func (s *suite) waitRunning(t *testing.T, refs ...backends.InstanceRef) []backends.Instance {
	t.Helper()
	return s.waitFor(t, "running", func(in backends.Instance) bool {
		require.False(t, in.State.Gone(), "instance %s ended while starting", in.ID)
		return in.State == backends.StateRunning
	}, refs...)
}

func (s *suite) waitGone(t *testing.T, refs ...backends.InstanceRef) []backends.Instance {
	t.Helper()
	return s.waitFor(t, "terminated", func(in backends.Instance) bool { return in.State.Gone() }, refs...)
}

// unknownRef names an instance the backend never issued.
func (s *suite) unknownRef(t *testing.T) backends.InstanceRef {
	id := s.env.UnknownID
	if id == "" {
		id = newToken(t, "never")
	}
	return backends.InstanceRef{ID: id, Region: s.env.Region}
}

// list lists with the filter, failing the test on error.
func (s *suite) list(t *testing.T, f backends.ListFilter) []backends.Instance {
	t.Helper()
	got, err := s.env.Backend.List(s.ctx(t), f)
	require.NoError(t, err)
	return got
}
