package awstest

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestClientTokenIdempotency(t *testing.T) {
	s := newServer(t, Options{TerminateAfter: time.Millisecond})
	eu, us := client(s, region), client(s, "us-east-1")

	first := launch(t, eu, runInput(s, "tok-1", "k", "v"))
	again := launch(t, eu, runInput(s, "tok-1", "k", "v"))
	assert.Equal(t, aws.ToString(first.InstanceId), aws.ToString(again.InstanceId), "same token, same request: same instance")
	assert.Len(t, s.Instances(region), 1)

	_, err := eu.RunInstances(ctx(t), runInput(s, "tok-1", "k", "other"))
	code, status := apiErr(t, err)
	assert.Equal(t, "IdempotentParameterMismatch", code)
	assert.Equal(t, 400, status)

	in := runInput(s, "tok-1", "k", "v")
	in.ImageId = aws.String(noble(s, "us-east-1"))
	other := launch(t, us, in)
	assert.NotEqual(t, aws.ToString(first.InstanceId), aws.ToString(other.InstanceId), "tokens are scoped to a region")
	assert.Len(t, s.Instances("us-east-1"), 1)

	launch(t, eu, runInput(s, ""))
	launch(t, eu, runInput(s, ""))
	assert.Len(t, s.Instances(region), 3, "without a token every call launches")

	_, err = eu.TerminateInstances(ctx(t), &ec2.TerminateInstancesInput{InstanceIds: []string{aws.ToString(first.InstanceId)}})
	require.NoError(t, err)
	_, err = eu.RunInstances(ctx(t), runInput(s, "tok-1", "k", "v"))
	code, _ = apiErr(t, err)
	assert.Equal(t, "IdempotentInstanceTerminated", code)
}

func TestInstanceLifecycle(t *testing.T) {
	s := newServer(t, Options{RunningAfter: 50 * time.Millisecond, TerminateAfter: 50 * time.Millisecond, TerminatedTTL: time.Second})
	c := client(s, region)
	in := launch(t, c, runInput(s, "life"))
	id := aws.ToString(in.InstanceId)
	assert.Equal(t, types.InstanceStateNamePending, in.State.Name)
	assert.Empty(t, aws.ToString(in.PublicIpAddress), "no public address in the RunInstances reply")
	assert.True(t, strings.HasPrefix(aws.ToString(in.PrivateIpAddress), "127.0.20."))
	assert.Equal(t, "life", aws.ToString(in.ClientToken))

	describe := func() *types.Instance {
		out, err := c.DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{Filters: []types.Filter{flt("instance-id", id)}})
		require.NoError(t, err)
		if len(out.Reservations) == 0 {
			return nil
		}
		return &out.Reservations[0].Instances[0]
	}
	require.Eventually(t, func() bool { return describe().State.Name == types.InstanceStateNameRunning }, 5*time.Second, 10*time.Millisecond)
	got := describe()
	assert.True(t, strings.HasPrefix(aws.ToString(got.PublicIpAddress), "127.0.10."), "public address once running")
	assert.Equal(t, "ec2-"+strings.ReplaceAll(aws.ToString(got.PublicIpAddress), ".", "-")+".eu-west-1.compute.fake", aws.ToString(got.PublicDnsName))
	assert.Equal(t, "eu-west-1a", aws.ToString(got.Placement.AvailabilityZone))

	out, err := c.TerminateInstances(ctx(t), &ec2.TerminateInstancesInput{InstanceIds: []string{id}})
	require.NoError(t, err)
	assert.Equal(t, types.InstanceStateNameShuttingDown, out.TerminatingInstances[0].CurrentState.Name)
	assert.Equal(t, types.InstanceStateNameRunning, out.TerminatingInstances[0].PreviousState.Name)
	require.Eventually(t, func() bool { return describe().State.Name == types.InstanceStateNameTerminated }, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, "Client.UserInitiatedShutdown", aws.ToString(describe().StateReason.Code))

	out, err = c.TerminateInstances(ctx(t), &ec2.TerminateInstancesInput{InstanceIds: []string{id}})
	require.NoError(t, err, "terminating a terminated instance is fine")
	assert.Equal(t, types.InstanceStateNameTerminated, out.TerminatingInstances[0].CurrentState.Name)

	require.Eventually(t, func() bool { return describe() == nil }, 5*time.Second, 20*time.Millisecond, "forgotten after TerminatedTTL")
	_, err = c.TerminateInstances(ctx(t), &ec2.TerminateInstancesInput{InstanceIds: []string{id}})
	code, _ := apiErr(t, err)
	assert.Equal(t, "InvalidInstanceID.NotFound", code)
}

func TestDescribeInstancesFilters(t *testing.T) {
	s := newServer(t, Options{})
	c := client(s, region)
	a := launch(t, c, runInput(s, "tok-a", "portico-install", "i1", "portico-gateway", "edge"))
	b := launch(t, c, runInput(s, "tok-b", "portico-install", "i1", "portico-gateway", "core"))
	inC := runInput(s, "tok-c", "portico-install", "i2")
	inC.Placement = &types.Placement{AvailabilityZone: aws.String("eu-west-1c")}
	cc := launch(t, c, inC)
	untagged := launch(t, c, runInput(s, ""))
	_, err := c.TerminateInstances(ctx(t), &ec2.TerminateInstancesInput{InstanceIds: []string{aws.ToString(untagged.InstanceId)}})
	require.NoError(t, err)
	ida, idb, idc, idu := aws.ToString(a.InstanceId), aws.ToString(b.InstanceId), aws.ToString(cc.InstanceId), aws.ToString(untagged.InstanceId)

	for _, tc := range []struct {
		name    string
		filters []types.Filter
		want    []string
	}{
		{"none", nil, []string{ida, idb, idc, idu}},
		{"tag", []types.Filter{flt("tag:portico-install", "i1")}, []string{ida, idb}},
		{"tag values are ORed", []types.Filter{flt("tag:portico-gateway", "edge", "core")}, []string{ida, idb}},
		{"filters are ANDed", []types.Filter{flt("tag:portico-install", "i1"), flt("tag:portico-gateway", "core")}, []string{idb}},
		{"tag wildcard", []types.Filter{flt("tag:portico-install", "i*")}, []string{ida, idb, idc}},
		{"tag-key", []types.Filter{flt("tag-key", "portico-gateway")}, []string{ida, idb}},
		{"client-token", []types.Filter{flt("client-token", "tok-b")}, []string{idb}},
		{"state", []types.Filter{flt("instance-state-name", "pending", "running")}, []string{ida, idb, idc}},
		{"terminated", []types.Filter{flt("instance-state-name", "shutting-down", "terminated")}, []string{idu}},
		{"instance-id", []types.Filter{flt("instance-id", idc, idb, "i-0123456789abcdef0")}, []string{idb, idc}},
		{"zone", []types.Filter{flt("availability-zone", "eu-west-1c")}, []string{idc}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, describeIDs(t, c, tc.filters...))
		})
	}
	_, err = c.DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{Filters: []types.Filter{flt("no-such-filter", "x")}})
	code, _ := apiErr(t, err)
	assert.Equal(t, "InvalidParameterValue", code)
}

func TestDescribeInstancesByID(t *testing.T) {
	s := newServer(t, Options{})
	c := client(s, region)
	id := aws.ToString(launch(t, c, runInput(s, "x")).InstanceId)
	for _, tc := range []struct {
		name string
		in   *ec2.DescribeInstancesInput
		code string
	}{
		{"known", &ec2.DescribeInstancesInput{InstanceIds: []string{id}}, ""},
		{"one unknown fails the call", &ec2.DescribeInstancesInput{InstanceIds: []string{id, "i-0123456789abcdef0"}}, "InvalidInstanceID.NotFound"},
		{"malformed", &ec2.DescribeInstancesInput{InstanceIds: []string{"i-nope"}}, "InvalidInstanceID.Malformed"},
		{"ids with MaxResults", &ec2.DescribeInstancesInput{InstanceIds: []string{id}, MaxResults: aws.Int32(5)}, "InvalidParameterCombination"},
		{"MaxResults too small", &ec2.DescribeInstancesInput{MaxResults: aws.Int32(2)}, "InvalidParameterValue"},
		{"bad NextToken", &ec2.DescribeInstancesInput{NextToken: aws.String("garbage")}, "InvalidParameterValue"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.DescribeInstances(ctx(t), tc.in)
			if tc.code == "" {
				require.NoError(t, err)
				return
			}
			code, status := apiErr(t, err)
			assert.Equal(t, tc.code, code)
			assert.Equal(t, 400, status)
		})
	}
}

func TestDescribeInstancesPages(t *testing.T) {
	s := newServer(t, Options{})
	c := client(s, region)
	var want []string
	for range 12 {
		want = append(want, aws.ToString(launch(t, c, runInput(s, "")).InstanceId))
	}
	var got []string
	var sizes []int
	pager := ec2.NewDescribeInstancesPaginator(c, &ec2.DescribeInstancesInput{MaxResults: aws.Int32(5)})
	for pager.HasMorePages() {
		page, err := pager.NextPage(ctx(t))
		require.NoError(t, err)
		n := 0
		for _, r := range page.Reservations {
			for _, in := range r.Instances {
				got = append(got, aws.ToString(in.InstanceId))
				n++
			}
		}
		sizes = append(sizes, n)
	}
	assert.Equal(t, want, got)
	assert.Equal(t, []int{5, 5, 2}, sizes)
}

func TestConsistencyDelayHidesNewInstances(t *testing.T) {
	s := newServer(t, Options{ConsistencyDelay: 200 * time.Millisecond})
	c := client(s, region)
	id := aws.ToString(launch(t, c, runInput(s, "lag")).InstanceId)
	assert.Empty(t, describeIDs(t, c))
	_, err := c.DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	code, _ := apiErr(t, err)
	assert.Equal(t, "InvalidInstanceID.NotFound", code)
	require.Eventually(t, func() bool { return len(describeIDs(t, c)) == 1 }, 5*time.Second, 20*time.Millisecond)
}
