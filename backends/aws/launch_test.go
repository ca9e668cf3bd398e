package aws

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/backends"
	"github.com/portico-dev/portico/backends/awstest"
)

// runCalls returns the RunInstances calls the fake received.
func runCalls(srv *awstest.Server) []awstest.Call {
	var out []awstest.Call
	for _, c := range srv.CallLog() {
		if c.Action == "RunInstances" {
			out = append(out, c)
		}
	}
	return out
}

func TestLaunchSpreadsReplicasOverZones(t *testing.T) {
	f := newFixture(t, awstest.Options{}, nil)
	perZone := map[string]int{}
	for n := range 6 {
		in, err := f.b.Launch(ctx(t), request(fmt.Sprintf("spread-%d", n), n))
		require.NoError(t, err)
		want := region + string(rune('a'+n%3))
		assert.Equal(t, want, in.Zone, "replica %d", n)
		assert.Equal(t, want, in.Data["zones_tried"], "replica %d tried only its own zone", n)
		perZone[in.Zone]++
	}
	assert.Equal(t, map[string]int{"eu-west-1a": 2, "eu-west-1b": 2, "eu-west-1c": 2}, perZone)
	assert.Len(t, runCalls(f.srv), 6)
}

func TestLaunchMovesOnWhenZoneHasNoCapacity(t *testing.T) {
	f := newFixture(t, awstest.Options{}, nil)
	f.srv.SetCapacity(region, "eu-west-1a", false)
	in, err := f.b.Launch(ctx(t), request("cap-a", 0))
	require.NoError(t, err)
	assert.Equal(t, "eu-west-1b", in.Zone)
	assert.Equal(t, "eu-west-1a,eu-west-1b", in.Data["zones_tried"])

	calls := runCalls(f.srv)
	require.Len(t, calls, 2, "the 500 of a capacity error must not be retried in the same zone")
	assert.Equal(t, "cap-a-eu-west-1a", calls[0].ClientToken)
	assert.Equal(t, "InsufficientInstanceCapacity", calls[0].Result)
	assert.Equal(t, "cap-a-eu-west-1b", calls[1].ClientToken, "the next zone gets its own token")
	assert.Empty(t, calls[1].Result)
	assert.Len(t, live(f.srv, region, withToken("cap-a")), 1)
}

func TestLaunchFailsWithCapacityErrorWhenEveryZoneIsFull(t *testing.T) {
	f := newFixture(t, awstest.Options{}, nil)
	for _, z := range []string{"a", "b", "c"} {
		f.srv.SetCapacity(region, region+z, false)
	}
	_, err := f.b.Launch(ctx(t), request("cap-all", 1))
	var be *backends.Error
	require.ErrorAs(t, err, &be)
	assert.Equal(t, backends.Capacity, be.Kind)
	assert.Equal(t, "InsufficientInstanceCapacity", be.Code)
	assert.Equal(t, []string{"eu-west-1b", "eu-west-1c", "eu-west-1a"}, be.ZonesTried, "starts at ZoneIndex")
	assert.Equal(t, "InsufficientInstanceCapacity: no capacity for t3.micro in eu-west-1 (tried eu-west-1b, eu-west-1c, eu-west-1a)", err.Error())
	assert.Len(t, runCalls(f.srv), 3)
	assert.Empty(t, live(f.srv, region, nil))
}

func TestLaunchFailsFastOnPermanentErrors(t *testing.T) {
	for _, code := range []string{"InvalidAMIID.NotFound", "UnauthorizedOperation", "InstanceLimitExceeded", "VcpuLimitExceeded", "InvalidParameterValue", "OptInRequired"} {
		t.Run(code, func(t *testing.T) {
			f := newFixture(t, awstest.Options{}, nil)
			f.srv.FailNext("RunInstances", code, "injected "+code, 5)
			_, err := f.b.Launch(ctx(t), request("perm", 0))
			var be *backends.Error
			require.ErrorAs(t, err, &be)
			assert.Equal(t, backends.Permanent, be.Kind)
			assert.Equal(t, code, be.Code)
			assert.Contains(t, err.Error(), "injected "+code)
			assert.Contains(t, err.Error(), `launch replica 0 of "edge" in eu-west-1`)
			assert.Len(t, runCalls(f.srv), 1, "a permanent error is never retried")
			assert.Empty(t, live(f.srv, region, nil))
		})
	}
}

func TestLaunchAbsorbsThrottlingWithBackoffAndTheSameToken(t *testing.T) {
	const k = 3
	f := newFixture(t, awstest.Options{}, nil)
	f.srv.Throttle("RunInstances", k)
	in, err := f.b.Launch(ctx(t), request("throttled", 0))
	require.NoError(t, err)
	assert.NotEmpty(t, in.ID)

	calls := runCalls(f.srv)
	require.Len(t, calls, k+1)
	var spread time.Duration
	for i, c := range calls {
		assert.Equal(t, "throttled-eu-west-1a", c.ClientToken, "attempt %d reuses the token", i)
		assert.Equal(t, i+1, c.Attempt, "the SDK's retryer made attempt %d", i)
		if i > 0 {
			gap := c.Time.Sub(calls[i-1].Time)
			assert.Positive(t, gap, "attempt %d follows a backoff", i)
			spread += gap
		}
	}
	assert.GreaterOrEqual(t, spread, time.Millisecond, "retries are spaced by jittered backoff, not a hot loop")
	assert.Len(t, live(f.srv, region, nil), 1)
}

func TestLaunchReportsPersistentThrottlingAsTransient(t *testing.T) {
	f := newFixture(t, awstest.Options{}, func(c *Config) { c.RetryMaxAttempts = 2 })
	f.srv.Throttle("RunInstances", 10)
	_, err := f.b.Launch(ctx(t), request("throttled", 0))
	var be *backends.Error
	require.ErrorAs(t, err, &be)
	assert.Equal(t, backends.Transient, be.Kind)
	assert.Equal(t, "RequestLimitExceeded", be.Code)
	assert.Len(t, runCalls(f.srv), 2, "bounded by RetryMaxAttempts")
}

func TestLaunchSurvivesALostReply(t *testing.T) {
	for _, tc := range []struct {
		name        string
		attempts    int
		drops       int
		wantRunCall int
	}{
		{"sdk retry", 5, 1, 2},
		{"backend resend after sdk gave up", 1, 2, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, awstest.Options{}, func(c *Config) { c.RetryMaxAttempts = tc.attempts })
			f.srv.DropResponse("RunInstances", tc.drops)
			in, err := f.b.Launch(ctx(t), request("lost-reply", 0))
			require.NoError(t, err)
			got := live(f.srv, region, withToken("lost-reply"))
			require.Len(t, got, 1, "the retry must not start a second instance")
			assert.Equal(t, got[0].ID, in.ID)
			calls := runCalls(f.srv)
			assert.Len(t, calls, tc.wantRunCall)
			for _, c := range calls {
				assert.Equal(t, "lost-reply-eu-west-1a", c.ClientToken)
			}
		})
	}
}

func TestLaunchAfterCrashAdoptsTheInstance(t *testing.T) {
	for _, resume := range []bool{true, false} {
		t.Run(fmt.Sprintf("resume=%v", resume), func(t *testing.T) {
			f := newFixture(t, awstest.Options{}, nil)
			// The "crash": the caller goes away after EC2 acted, before the
			// reply arrives, so the instance id is never saved. The hook
			// holds the reply until Launch has returned.
			crashCtx, crash := context.WithCancel(ctx(t))
			returned := make(chan struct{})
			f.srv.Hook("RunInstances", awstest.AfterAction, func() { crash(); <-returned })
			_, err := f.b.Launch(crashCtx, request("crashy", 2))
			close(returned)
			require.ErrorIs(t, err, context.Canceled)
			f.srv.Hook("RunInstances", awstest.AfterAction, nil)
			require.Len(t, live(f.srv, region, withToken("crashy")), 1, "EC2 did start the instance")

			req := request("crashy", 2)
			req.Resume = resume
			in, err := f.b.Launch(ctx(t), req)
			require.NoError(t, err)
			got := live(f.srv, region, withToken("crashy"))
			require.Len(t, got, 1, "exactly one instance for the replica")
			assert.Equal(t, got[0].ID, in.ID)
			assert.Equal(t, "crashy", in.Token)
			assert.Equal(t, 2, in.ReplicaNum)
			if resume {
				assert.Len(t, runCalls(f.srv), 1, "a resumed launch finds the instance by its tags")
			}
		})
	}
}

func TestResumeFindsTheInstanceInAnotherZone(t *testing.T) {
	f := newFixture(t, awstest.Options{}, nil)
	f.srv.SetCapacity(region, "eu-west-1a", false)
	first, err := f.b.Launch(ctx(t), request("moved", 0))
	require.NoError(t, err)
	require.Equal(t, "eu-west-1b", first.Zone)
	f.srv.SetCapacity(region, "eu-west-1a", true)

	req := request("moved", 0)
	req.Resume = true
	again, err := f.b.Launch(ctx(t), req)
	require.NoError(t, err)
	assert.Equal(t, first.ID, again.ID, "zone a has room again, but the replica already runs in b")
	assert.Len(t, live(f.srv, region, withToken("moved")), 1)
}

func TestLaunchWithChangedParametersAdoptsOrFails(t *testing.T) {
	f := newFixture(t, awstest.Options{TerminateAfter: 10 * time.Millisecond}, nil)
	first, err := f.b.Launch(ctx(t), request("changed", 0))
	require.NoError(t, err)

	changed := request("changed", 0)
	changed.InstanceType = "t3.small"
	adopted, err := f.b.Launch(ctx(t), changed)
	require.NoError(t, err, "IdempotentParameterMismatch with a live instance adopts it")
	assert.Equal(t, first.ID, adopted.ID)
	assert.Equal(t, "IdempotentParameterMismatch", runCalls(f.srv)[1].Result)

	require.NoError(t, f.b.Terminate(ctx(t), first.Ref()))
	require.Eventually(t, func() bool { return len(live(f.srv, region, nil)) == 0 }, 5*time.Second, 10*time.Millisecond)
	_, err = f.b.Launch(ctx(t), changed)
	var be *backends.Error
	require.ErrorAs(t, err, &be)
	assert.Equal(t, backends.Permanent, be.Kind)
	assert.Equal(t, "IdempotentParameterMismatch", be.Code)
	assert.Contains(t, be.Message, "new token")
	assert.Empty(t, live(f.srv, region, nil))
}

func TestConcurrentLaunchesDoRegionSetupOnce(t *testing.T) {
	f := newFixture(t, awstest.Options{APILatency: 20 * time.Millisecond}, nil)
	const n = 20
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = f.b.Launch(ctx(t), request(fmt.Sprintf("setup-%d", i), i))
		})
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "launch %d", i)
	}
	for action, want := range map[string]int{
		"DescribeVpcs": 1, "DescribeAvailabilityZones": 1, "DescribeSubnets": 1, "DescribeImages": 1,
		"DescribeSecurityGroups": 1, "CreateSecurityGroup": 1, "AuthorizeSecurityGroupIngress": 1,
		"RunInstances": n, "DescribeInstances": 0,
	} {
		assert.Equal(t, want, f.srv.Calls(action), action)
	}
	assert.Len(t, live(f.srv, region, nil), n)
}

func TestSetupFailureIsNotCached(t *testing.T) {
	f := newFixture(t, awstest.Options{}, nil)
	f.srv.FailNext("DescribeVpcs", "UnauthorizedOperation", "You are not authorized to perform this operation.", 1)
	_, err := f.b.Launch(ctx(t), request("retry-setup", 0))
	require.Error(t, err)
	assert.Equal(t, backends.Permanent, backends.KindOf(err))
	assert.True(t, strings.Contains(err.Error(), "UnauthorizedOperation"), err.Error())

	_, err = f.b.Launch(ctx(t), request("retry-setup", 0))
	require.NoError(t, err, "once the permission is granted, the next launch redoes the setup")
	assert.Equal(t, 2, f.srv.Calls("DescribeVpcs"))
}
