package aws

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/backends"
	"github.com/portico-dev/portico/backends/awstest"
)

// TestSixReplicaGatewayCallCounts launches a 6-replica gateway the way the
// pipelines do (concurrent launches, then one batched Describe per polling
// round) and pins the EC2 calls it costs.
func TestSixReplicaGatewayCallCounts(t *testing.T) {
	f := newFixture(t, awstest.Options{RunningAfter: 200 * time.Millisecond, APILatency: 5 * time.Millisecond}, nil)
	const replicas = 6
	refs := make([]backends.InstanceRef, replicas)
	errs := make([]error, replicas)
	var wg sync.WaitGroup
	for n := range replicas {
		wg.Go(func() {
			in, err := f.b.Launch(ctx(t), request(fmt.Sprintf("gw-%d", n), n))
			refs[n], errs[n] = in.Ref(), err
		})
	}
	wg.Wait()
	for n, err := range errs {
		require.NoError(t, err, "replica %d", n)
	}

	rounds := 0
	var got []backends.Instance
	for {
		rounds++
		before := f.srv.Calls("DescribeInstances")
		var err error
		got, err = f.b.Describe(ctx(t), refs...)
		require.NoError(t, err)
		require.Equal(t, 1, f.srv.Calls("DescribeInstances")-before, "one DescribeInstances per polling round")
		running := 0
		for _, in := range got {
			if in.State == backends.StateRunning {
				running++
			}
		}
		if running == replicas {
			break
		}
		require.Less(t, rounds, 100, "instances never ran")
		time.Sleep(f.b.Capabilities().PollInterval)
	}

	zones := map[string]int{}
	for _, in := range got {
		zones[in.Zone]++
		assert.NotEmpty(t, in.Hostname)
	}
	assert.Equal(t, map[string]int{"eu-west-1a": 2, "eu-west-1b": 2, "eu-west-1c": 2}, zones)
	want := map[string]int{
		"RunInstances": replicas, "DescribeInstances": rounds,
		"DescribeVpcs": 1, "DescribeAvailabilityZones": 1, "DescribeSubnets": 1, "DescribeImages": 1,
		"DescribeSecurityGroups": 1, "CreateSecurityGroup": 1, "AuthorizeSecurityGroupIngress": 1,
	}
	for action, n := range want {
		assert.Equal(t, n, f.srv.Calls(action), action)
	}
	assert.Len(t, f.srv.CallLog(), replicas+rounds+7, "no other call")
	t.Logf("6 replicas: %d RunInstances, %d polling rounds of 1 DescribeInstances each, 7 one-time setup calls", replicas, rounds)
}
