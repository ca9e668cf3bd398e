package aws

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/backends"
	"github.com/portico-dev/portico/backends/awstest"
)

func TestDescribeMakesOneCallPerRegion(t *testing.T) {
	f := newFixture(t, awstest.Options{}, nil)
	var refs []backends.InstanceRef
	for n := range 20 {
		in, err := f.b.Launch(ctx(t), request(fmt.Sprintf("batch-%d", n), n))
		require.NoError(t, err)
		refs = append(refs, in.Ref())
	}
	before := f.srv.Calls("DescribeInstances")
	got, err := f.b.Describe(ctx(t), refs...)
	require.NoError(t, err)
	assert.Equal(t, 1, f.srv.Calls("DescribeInstances")-before, "20 instances, one call")
	for i, in := range got {
		assert.Equal(t, refs[i].ID, in.ID)
	}

	// An unknown id and another region: one call per region, nothing fails.
	unknown := backends.InstanceRef{ID: "i-0123456789abcdef0", Region: "us-west-2"}
	before = f.srv.Calls("DescribeInstances")
	got, err = f.b.Describe(ctx(t), refs[3], unknown, refs[1])
	require.NoError(t, err)
	assert.Equal(t, 2, f.srv.Calls("DescribeInstances")-before)
	assert.Equal(t, []string{refs[3].ID, unknown.ID, refs[1].ID}, []string{got[0].ID, got[1].ID, got[2].ID})
	assert.Equal(t, backends.StateTerminated, got[1].State)
	assert.Equal(t, "us-west-2", got[1].Region)
}

func TestDescribeReportsHostnamesAndStates(t *testing.T) {
	f := newFixture(t, awstest.Options{RunningAfter: 150 * time.Millisecond, TerminateAfter: 50 * time.Millisecond}, nil)
	pub, err := f.b.Launch(ctx(t), request("pub", 0))
	require.NoError(t, err)
	privReq := request("priv", 1)
	privReq.PublicIP = false
	priv, err := f.b.Launch(ctx(t), privReq)
	require.NoError(t, err)

	assert.Equal(t, backends.StatePending, pub.State)
	assert.Empty(t, pub.Hostname, "no public address before running")
	assert.Empty(t, pub.Data["public_ip"])
	assert.True(t, strings.HasPrefix(priv.Hostname, "127.0.20."), "private address at once without a public one: %q", priv.Hostname)
	assert.Equal(t, "pub-eu-west-1a", pub.Data["client_token"])
	assert.Equal(t, "eu-west-1a", pub.Data["zones_tried"])

	var got []backends.Instance
	require.Eventually(t, func() bool {
		got, err = f.b.Describe(ctx(t), pub.Ref(), priv.Ref())
		return err == nil && got[0].State == backends.StateRunning && got[1].State == backends.StateRunning
	}, 5*time.Second, 20*time.Millisecond)
	assert.True(t, strings.HasPrefix(got[0].Hostname, "127.0.10."), "public address once running: %q", got[0].Hostname)
	assert.Equal(t, got[0].Hostname, got[0].Data["public_ip"])
	assert.Contains(t, got[0].Data["public_dns"], ".eu-west-1.compute.fake")
	assert.True(t, strings.HasPrefix(got[1].Hostname, "127.0.20."))
	assert.Empty(t, got[1].Data["public_ip"])
	assert.Equal(t, "edge", got[0].Gateway)
	assert.Equal(t, "inst1", got[0].Install)
	assert.Equal(t, 1, got[1].ReplicaNum)

	require.NoError(t, f.srv.SetState(region, priv.ID, "stopped"))
	require.NoError(t, f.b.Terminate(ctx(t), pub.Ref()))
	got, err = f.b.Describe(ctx(t), pub.Ref(), priv.Ref())
	require.NoError(t, err)
	assert.Equal(t, backends.StateTerminated, got[0].State, "shutting-down counts as terminated")
	assert.Empty(t, got[0].Hostname)
	assert.Equal(t, backends.StateStopped, got[1].State)
}

func TestDescribeToleratesEventualConsistency(t *testing.T) {
	f := newFixture(t, awstest.Options{ConsistencyDelay: time.Hour}, nil)
	in, err := f.b.Launch(ctx(t), request("lagging", 0))
	require.NoError(t, err)
	got, err := f.b.Describe(ctx(t), in.Ref())
	require.NoError(t, err)
	assert.Equal(t, backends.StatePending, got[0].State, "just launched by this process: not found yet is not dead")

	b2, err := New(context.Background(), f.cfg)
	require.NoError(t, err)
	got, err = b2.Describe(ctx(t), in.Ref())
	require.NoError(t, err)
	assert.Equal(t, backends.StateTerminated, got[0].State, "another process has no such memory")
}

func TestTerminateTreatsUnknownIDsAsGone(t *testing.T) {
	f := newFixture(t, awstest.Options{}, nil)
	for _, id := range []string{"i-0123456789abcdef0", "not-an-id", ""} {
		assert.NoError(t, f.b.Terminate(ctx(t), backends.InstanceRef{ID: id, Region: region}), id)
	}
	f.srv.FailNext("TerminateInstances", "UnauthorizedOperation", "no", 1)
	err := f.b.Terminate(ctx(t), backends.InstanceRef{ID: "i-0123456789abcdef0", Region: region})
	assert.Equal(t, backends.Permanent, backends.KindOf(err))
}

func TestListFindsOnlyThisInstallsLiveInstances(t *testing.T) {
	f := newFixture(t, awstest.Options{}, nil)
	mine, err := f.b.Launch(ctx(t), request("mine", 0))
	require.NoError(t, err)
	old := time.Now().Add(-time.Hour)
	for _, seed := range []awstest.SeedSpec{
		{Tags: map[string]string{backends.TagInstall: "inst1", backends.TagGateway: "edge", backends.TagToken: "orphan", backends.TagReplica: "4"}, LaunchTime: old},
		{Tags: map[string]string{backends.TagInstall: "inst1", backends.TagToken: "stopped"}, State: "stopped", LaunchTime: old.Add(time.Minute)},
		{Tags: map[string]string{backends.TagInstall: "inst1", backends.TagToken: "gone"}, State: "terminated"},
		{Tags: map[string]string{backends.TagInstall: "other", backends.TagToken: "theirs"}},
		{Tags: map[string]string{"Name": "untagged"}},
	} {
		_, err := f.srv.SeedInstance(region, seed)
		require.NoError(t, err)
	}
	got, err := f.b.List(ctx(t), backends.ListFilter{Install: "inst1"})
	require.NoError(t, err)
	var tokens []string
	for _, in := range got {
		tokens = append(tokens, in.Token)
	}
	assert.Equal(t, []string{"orphan", "stopped", "mine"}, tokens, "oldest first; terminated and foreign ones left out")
	assert.Equal(t, 4, got[0].ReplicaNum)
	assert.WithinDuration(t, old, got[0].LaunchedAt, time.Second)

	got, err = f.b.List(ctx(t), backends.ListFilter{Install: "inst1", Gateway: "edge", Token: "mine"})
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, mine.ID, got[0].ID)

	_, err = f.b.List(ctx(t), backends.ListFilter{})
	assert.Error(t, err, "an install id is required")
}

func TestListLooksInKnownOrGivenRegions(t *testing.T) {
	f := newFixture(t, awstest.Options{}, nil)
	_, err := f.srv.SeedInstance("us-east-1", awstest.SeedSpec{Tags: map[string]string{backends.TagInstall: "inst1"}})
	require.NoError(t, err)

	fresh, err := New(context.Background(), f.cfg)
	require.NoError(t, err)
	got, err := fresh.List(ctx(t), backends.ListFilter{Install: "inst1"})
	require.NoError(t, err)
	assert.Empty(t, got, "a fresh backend knows no region; the sweeper names them")
	assert.Zero(t, f.srv.Calls("DescribeInstances"))

	got, err = fresh.List(ctx(t), backends.ListFilter{Install: "inst1", Regions: []string{region, "us-east-1"}})
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, "us-east-1", got[0].Region)
	assert.Equal(t, 2, f.srv.Calls("DescribeInstances"))

	got, err = fresh.List(ctx(t), backends.ListFilter{Install: "inst1"})
	require.NoError(t, err)
	assert.Len(t, got, 1, "now it has clients for both regions")
}

func TestCapabilities(t *testing.T) {
	f := newFixture(t, awstest.Options{}, nil)
	c := f.b.Capabilities()
	assert.Equal(t, "aws", f.b.Name())
	assert.Equal(t, "us-east-1", c.DefaultRegion)
	assert.Equal(t, "t3.micro", c.DefaultInstanceType)
	assert.Equal(t, 50*time.Millisecond, c.PollInterval)
	assert.True(t, c.AcceptsRegion("eu-west-1"))
	assert.False(t, c.AcceptsRegion("us-east-9"))
	for _, r := range awstest.DefaultRegions {
		assert.True(t, c.AcceptsRegion(r), r)
	}
}

func TestNewRejectsABadSSHCIDR(t *testing.T) {
	_, err := New(context.Background(), Config{SSHCIDR: "my office"})
	assert.ErrorContains(t, err, "ssh_cidr")
}

func TestNewRejectsAnUnknownProfile(t *testing.T) {
	_, err := New(context.Background(), Config{Profile: "no-such-profile"})
	var nc *backends.NotConfiguredError
	require.ErrorAs(t, err, &nc)
	assert.Equal(t, "aws", nc.Backend)
}

// TestLargeRepliesSurviveWithoutRetries guards the detachedBody fix: without
// it, about one large reply in a few dozen fails with "use of closed
// network connection" on loopback.
func TestLargeRepliesSurviveWithoutRetries(t *testing.T) {
	f := newFixture(t, awstest.Options{}, func(c *Config) { c.RetryMaxAttempts = 1 })
	var refs []backends.InstanceRef
	for n := range 10 {
		in, err := f.b.Launch(ctx(t), request(fmt.Sprintf("big-%d", n), n))
		require.NoError(t, err)
		refs = append(refs, in.Ref())
	}
	for i := range 200 {
		_, err := f.b.Describe(ctx(t), refs...)
		require.NoError(t, err, "describe %d", i)
	}
}
