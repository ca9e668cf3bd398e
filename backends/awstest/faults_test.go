package awstest

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestInjectedErrorsCarryEC2Statuses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		inject func(s *Server)
		code   string
		status int
	}{
		{"capacity", func(s *Server) { s.SetCapacity(region, "eu-west-1a", false) }, "InsufficientInstanceCapacity", 500},
		{"throttle", func(s *Server) { s.Throttle("RunInstances", 1) }, "RequestLimitExceeded", 503},
		{"unauthorized", func(s *Server) { s.FailNext("RunInstances", "UnauthorizedOperation", "no", 1) }, "UnauthorizedOperation", 403},
		{"quota", func(s *Server) { s.FailNext("RunInstances", "InstanceLimitExceeded", "quota", 1) }, "InstanceLimitExceeded", 400},
		{"internal", func(s *Server) { s.FailNext("RunInstances", "InternalError", "oops", 1) }, "InternalError", 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, Options{})
			c := client(s, region)
			tc.inject(s)
			in := runInput(s, "tok")
			in.Placement = &types.Placement{AvailabilityZone: aws.String("eu-west-1a")}
			_, err := c.RunInstances(ctx(t), in)
			code, status := apiErr(t, err)
			assert.Equal(t, tc.code, code)
			assert.Equal(t, tc.status, status)
			assert.Empty(t, s.Instances(region))
			log := s.CallLog()
			require.Len(t, log, 1)
			assert.Equal(t, tc.code, log[0].Result)
			if tc.name != "capacity" {
				launch(t, c, in) // the fault is used up
			}
		})
	}
}

func TestCapacityErrorNamesOtherZones(t *testing.T) {
	s := newServer(t, Options{})
	c := client(s, region)
	s.SetCapacity(region, "eu-west-1b", false)
	in := runInput(s, "")
	in.Placement = &types.Placement{AvailabilityZone: aws.String("eu-west-1b")}
	_, err := c.RunInstances(ctx(t), in)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "We currently do not have sufficient t3.micro capacity in the Availability Zone you requested (eu-west-1b)")
	assert.Contains(t, err.Error(), "choosing eu-west-1a, eu-west-1c.")
	got := launch(t, c, runInput(s, ""))
	assert.Equal(t, "eu-west-1a", aws.ToString(got.Placement.AvailabilityZone), "without a zone EC2 picks one with room")
	s.SetCapacity(region, "eu-west-1b", true)
	launch(t, c, in)
}

func TestDropResponseActsButLosesTheReply(t *testing.T) {
	s := newServer(t, Options{})
	c := client(s, region)
	s.DropResponse("RunInstances", 1)
	_, err := c.RunInstances(ctx(t), runInput(s, "dropped"))
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "api error", "a transport error, not an EC2 error")
	require.Len(t, s.Instances(region), 1, "the action happened")
	assert.Equal(t, "dropped", s.CallLog()[0].Result)

	again := launch(t, c, runInput(s, "dropped"))
	assert.Equal(t, s.Instances(region)[0].ID, aws.ToString(again.InstanceId), "a retry with the token gets the instance")
}

func TestHooksRunAroundTheAction(t *testing.T) {
	s := newServer(t, Options{})
	c := client(s, region)
	var mu sync.Mutex
	var seen []int
	s.Hook("RunInstances", BeforeAction, func() { mu.Lock(); seen = append(seen, len(s.Instances(region))); mu.Unlock() })
	s.Hook("RunInstances", AfterAction, func() { mu.Lock(); seen = append(seen, len(s.Instances(region))); mu.Unlock() })
	launch(t, c, runInput(s, ""))
	assert.Equal(t, []int{0, 1}, seen, "before: nothing yet; after: the instance exists, reply not sent")

	s.Hook("RunInstances", BeforeAction, nil)
	s.Hook("RunInstances", AfterAction, nil)
	launch(t, c, runInput(s, ""))
	assert.Len(t, seen, 2, "removed hooks do not run")

	release := make(chan struct{})
	s.Hook("DescribeInstances", BeforeAction, func() { <-release })
	done := make(chan error)
	go func() {
		_, err := c.DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{})
		done <- err
	}()
	select {
	case <-done:
		t.Fatal("a blocking hook must hold the call")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	require.NoError(t, <-done)
}

func TestCallLog(t *testing.T) {
	s := newServer(t, Options{})
	launch(t, client(s, region), runInput(s, "tok-1"))
	_, err := client(s, "us-west-2").DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{})
	require.NoError(t, err)
	log := s.CallLog()
	require.Len(t, log, 2)
	assert.Equal(t, Call{Action: "RunInstances", Region: region, ClientToken: "tok-1", Attempt: 1, Time: log[0].Time}, log[0])
	assert.Equal(t, "us-west-2", log[1].Region)
	assert.Empty(t, log[1].ClientToken)
	assert.False(t, log[1].Time.Before(log[0].Time))
	assert.Equal(t, 1, s.Calls("RunInstances"))
	assert.Equal(t, 0, s.Calls("TerminateInstances"))
}

// post sends a hand-made request, for what the SDK would never send.
func post(t *testing.T, s *Server, auth string, form url.Values) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL()+"/", strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if auth != "" {
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKID/20261126/"+auth+"/ec2/aws4_request, SignedHeaders=host, Signature=0")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

func TestProtocolErrors(t *testing.T) {
	s := newServer(t, Options{Regions: []string{region}})
	for _, tc := range []struct {
		name   string
		auth   string
		form   url.Values
		status int
		code   string
	}{
		{"unknown action", region, url.Values{"Action": {"LaunchRocket"}, "Version": {APIVersion}}, 400, "InvalidAction"},
		{"no action", region, url.Values{"Version": {APIVersion}}, 400, "MissingAction"},
		{"old version", region, url.Values{"Action": {"DescribeInstances"}, "Version": {"2014-01-01"}}, 400, "NoSuchVersion"},
		{"unsigned", "", url.Values{"Action": {"DescribeInstances"}, "Version": {APIVersion}}, 401, "AuthFailure"},
		{"unknown region", "us-east-9", url.Values{"Action": {"DescribeInstances"}, "Version": {APIVersion}}, 401, "AuthFailure"},
		{"ok", region, url.Values{"Action": {"DescribeInstances"}, "Version": {APIVersion}}, 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := post(t, s, tc.auth, tc.form)
			assert.Equal(t, tc.status, status)
			if tc.code != "" {
				assert.Contains(t, body, "<Response><Errors><Error><Code>"+tc.code+"</Code>")
				assert.Contains(t, body, "<RequestID>")
				return
			}
			assert.Contains(t, body, `<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>`)
		})
	}
}
