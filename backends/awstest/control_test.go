package awstest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSeedInstance(t *testing.T) {
	s := newServer(t, Options{})
	c := client(s, region)
	old := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	seeded, err := s.SeedInstance(region, SeedSpec{Zone: "eu-west-1c", Tags: map[string]string{"portico-install": "x"},
		ClientToken: "seed-tok", LaunchTime: old})
	require.NoError(t, err)
	assert.Equal(t, "running", seeded.State)
	assert.NotEmpty(t, seeded.PublicIP)

	out, err := c.DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{Filters: []types.Filter{flt("client-token", "seed-tok")}})
	require.NoError(t, err)
	require.Len(t, out.Reservations, 1)
	got := out.Reservations[0].Instances[0]
	assert.Equal(t, seeded.ID, aws.ToString(got.InstanceId))
	assert.Equal(t, old, aws.ToTime(got.LaunchTime))
	assert.Equal(t, "eu-west-1c", aws.ToString(got.Placement.AvailabilityZone))

	_, err = c.RunInstances(ctx(t), runInput(s, "seed-tok"))
	code, _ := apiErr(t, err)
	assert.Equal(t, "IdempotentParameterMismatch", code, "a seeded token counts as used")

	for _, bad := range []SeedSpec{{Zone: "eu-west-1z"}, {State: "exploded"}, {ID: seeded.ID}} {
		_, err := s.SeedInstance(region, bad)
		assert.Error(t, err, "%+v", bad)
	}
	_, err = s.SeedInstance("mars-1", SeedSpec{})
	assert.Error(t, err)
}

func TestOutOfBandTerminationAndForcedStates(t *testing.T) {
	s := newServer(t, Options{TerminateAfter: 20 * time.Millisecond})
	c := client(s, region)
	id := aws.ToString(launch(t, c, runInput(s, "")).InstanceId)
	require.Eventually(t, func() bool { return s.Instances(region)[0].State == "running" }, 5*time.Second, 5*time.Millisecond)

	require.NoError(t, s.SetState(region, id, "stopped"))
	assert.Equal(t, "stopped", s.Instances(region)[0].State)
	assert.Empty(t, s.Instances(region)[0].PublicIP, "a stopped instance loses its public address")
	require.NoError(t, s.SetState(region, id, "running"))
	assert.NotEmpty(t, s.Instances(region)[0].PublicIP)

	require.NoError(t, s.TerminateOutOfBand(region, id))
	assert.Equal(t, "shutting-down", s.Instances(region)[0].State)
	require.Eventually(t, func() bool { return s.Instances(region)[0].State == "terminated" }, 5*time.Second, 5*time.Millisecond)
	assert.Error(t, s.TerminateOutOfBand(region, "i-0123456789abcdef0"))
	assert.Error(t, s.SetState(region, id, "melting"))
}

func TestHealthEndpoints(t *testing.T) {
	s := newServer(t, Options{ServeHealth: true, RunningAfter: 20 * time.Millisecond})
	require.NotZero(t, s.HealthPort())
	c := client(s, region)
	id := aws.ToString(launch(t, c, runInput(s, "", "portico-gateway", "edge", "portico-replica", "2")).InstanceId)
	var inst Instance
	require.Eventually(t, func() bool { inst = s.Instances(region)[0]; return inst.State == "running" }, 5*time.Second, 5*time.Millisecond)

	hc := &http.Client{Timeout: 2 * time.Second}
	get := func(ip string) (int, map[string]string, error) {
		resp, err := hc.Get(fmt.Sprintf("http://%s:%d/healthz", ip, s.HealthPort()))
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		var body map[string]string
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
		return resp.StatusCode, body, nil
	}
	for _, ip := range []string{inst.PublicIP, inst.PrivateIP} {
		status, body, err := get(ip)
		require.NoError(t, err, ip)
		assert.Equal(t, 200, status)
		assert.Equal(t, id, body["instance_id"])
		assert.Equal(t, "edge", body["gateway"])
		assert.Equal(t, "2", body["replica"])
	}

	require.NoError(t, s.SetHealth(id, http.StatusServiceUnavailable))
	status, body, err := get(inst.PublicIP)
	require.NoError(t, err)
	assert.Equal(t, 503, status)
	assert.Equal(t, "unhealthy", body["status"])
	require.NoError(t, s.SetHealth(id, 0))

	_, err = c.TerminateInstances(ctx(t), &ec2.TerminateInstancesInput{InstanceIds: []string{id}})
	require.NoError(t, err)
	_, _, err = get(inst.PublicIP)
	assert.Error(t, err, "a terminated instance stops answering")
	assert.Error(t, s.SetHealth("i-0123456789abcdef0", 503))
}
