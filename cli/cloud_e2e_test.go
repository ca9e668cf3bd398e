package cli_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/backends/awstest"
	"github.com/portico-dev/portico/backends/gcptest"
	"github.com/portico-dev/portico/internal/testsupport"
)

// The cloud end-to-end tests run the real binary with the real AWS and
// Google SDK clients against the in-process fakes, as a user would against
// the clouds: through AWS_ENDPOINT_URL_EC2 and the gcp.endpoint setting.

func withAWS(t *testing.T, e *e2e, opts awstest.Options) *awstest.Server {
	t.Helper()
	if opts.RunningAfter == 0 {
		opts.RunningAfter = 150 * time.Millisecond
	}
	fake := awstest.NewServer(opts)
	t.Cleanup(fake.Close)
	e.env = append(append(e.env, testsupport.AWSEnv(fake.URL())...), "AWS_REGION=", "AWS_PROFILE=")
	return fake
}

func withGCP(t *testing.T, e *e2e, opts gcptest.Options) *gcptest.Server {
	t.Helper()
	if opts.RunningAfter == 0 {
		opts.RunningAfter = 150 * time.Millisecond
	}
	fake := gcptest.NewServer(opts)
	t.Cleanup(fake.Close)
	return fake
}

// writeConfig writes the config file with fast polling for both clouds.
func (e *e2e) writeConfig(gcpURL, project string) {
	cfg := "aws:\n  poll_interval: 100ms\n  retry_max_backoff: 50ms\n"
	if gcpURL != "" {
		cfg += fmt.Sprintf("gcp:\n  project: %s\n  endpoint: %s\n  poll_interval: 100ms\n", project, gcpURL)
	}
	require.NoError(e.t, os.WriteFile(filepath.Join(e.home, "config.yml"), []byte(cfg), 0o600))
}

func (e *e2e) spec(body string) string {
	path := filepath.Join(e.t.TempDir(), "gateway.yml")
	require.NoError(e.t, os.WriteFile(path, []byte(body), 0o600))
	return path
}

func liveTagged(fake *awstest.Server, region, gateway string) []awstest.Instance {
	var out []awstest.Instance
	for _, in := range fake.Instances(region) {
		if in.Tags["portico-gateway"] == gateway && (in.State == "pending" || in.State == "running") {
			out = append(out, in)
		}
	}
	return out
}

func TestE2EAWSGatewayOfSixSpreadsOverZones(t *testing.T) {
	e := newE2E(t)
	fake := withAWS(t, e, awstest.Options{})
	e.writeConfig("", "")
	spec := e.spec("type: gateway\nname: edge\nbackend: aws\nregion: eu-west-1\ndomain: example.com\nreplicas: 6\n")

	e.mustRun("apply", "-f", spec, "-y")
	gws := e.list()
	require.Len(t, gws, 1)
	reps := running(gws[0])
	require.Len(t, reps, 6)
	zones, ips := map[string]int{}, map[string]bool{}
	for _, r := range reps {
		zones[r.Zone]++
		ips[r.Hostname] = true
		assert.Regexp(t, `^127\.0\.10\.\d+$`, r.Hostname, "the fake's public IPs, loopback only")
	}
	assert.Equal(t, map[string]int{"eu-west-1a": 2, "eu-west-1b": 2, "eu-west-1c": 2}, zones)
	assert.Len(t, ips, 6)
	assert.Equal(t, 6, fake.Calls("RunInstances"), "one RunInstances per replica")
	assert.Len(t, liveTagged(fake, "eu-west-1", "edge"), 6)
	t.Logf("calls: RunInstances=%d DescribeInstances=%d setup=%d", fake.Calls("RunInstances"), fake.Calls("DescribeInstances"),
		len(fake.CallLog())-fake.Calls("RunInstances")-fake.Calls("DescribeInstances"))

	e.mustRun("gateway", "delete", "edge", "-y")
	assert.Empty(t, liveTagged(fake, "eu-west-1", "edge"), "delete leaves no running tagged instance")
}

func TestE2EAWSFaults(t *testing.T) {
	t.Run("throttling is absorbed with backoff", func(t *testing.T) {
		e := newE2E(t)
		fake := withAWS(t, e, awstest.Options{})
		e.writeConfig("", "")
		fake.Throttle("RunInstances", 3)
		e.mustRun("apply", "-f", e.spec("type: gateway\nname: thr\nbackend: aws\nregion: us-east-1\nreplicas: 2\n"), "-y")
		assert.Len(t, liveTagged(fake, "us-east-1", "thr"), 2)
	})
	t.Run("a zone without capacity sends the replica to another", func(t *testing.T) {
		e := newE2E(t)
		fake := withAWS(t, e, awstest.Options{})
		e.writeConfig("", "")
		fake.SetCapacity("us-east-1", "us-east-1a", false)
		e.mustRun("apply", "-f", e.spec("type: gateway\nname: cap\nbackend: aws\nregion: us-east-1\nreplicas: 1\n"), "-y")
		reps := running(e.list()[0])
		require.Len(t, reps, 1)
		assert.Equal(t, "us-east-1b", reps[0].Zone)
	})
	t.Run("a permanent error fails fast with the AWS code", func(t *testing.T) {
		e := newE2E(t)
		fake := withAWS(t, e, awstest.Options{})
		e.writeConfig("", "")
		fake.FailNext("RunInstances", "UnauthorizedOperation", "You are not authorized to perform this operation.", 10)
		r := e.run("apply", "-f", e.spec("type: gateway\nname: perm\nbackend: aws\nregion: us-east-1\nreplicas: 1\n"), "-y")
		assert.Equal(t, 1, r.code)
		assert.Contains(t, r.stderr, "UnauthorizedOperation")
		assert.Equal(t, 1, fake.Calls("RunInstances"), "no blind retry")
		r = e.mustRun("gateway", "list", "-v")
		assert.Contains(t, r.stdout, "UnauthorizedOperation", "the code is visible in gateway list -v")
		assert.Empty(t, liveTagged(fake, "us-east-1", "perm"))
	})
}

// Killing apply right after the cloud created an instance, before its id
// was saved, and running apply again yields exactly one instance per
// replica: the same ClientToken finds the same instance.
func TestE2EAWSCrashAfterRunInstances(t *testing.T) {
	e := newE2E(t)
	fake := withAWS(t, e, awstest.Options{})
	e.writeConfig("", "")
	spec := e.spec("type: gateway\nname: crash\nbackend: aws\nregion: eu-west-1\nreplicas: 3\n")
	cmd := e.command("", "apply", "-f", spec, "-y")
	launched := make(chan struct{}, 3)
	fake.Hook("RunInstances", awstest.AfterAction, func() {
		launched <- struct{}{}
		time.Sleep(time.Second) // the reply is held back: kill lands before it
	})
	require.NoError(t, cmd.Start())
	<-launched
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
	fake.Hook("RunInstances", awstest.AfterAction, nil)

	e.mustRun("apply", "-f", spec, "-y")
	live := liveTagged(fake, "eu-west-1", "crash")
	assert.Len(t, live, 3, "exactly one instance per replica")
	tokens := map[string]bool{}
	for _, in := range live {
		assert.False(t, tokens[in.Tags["portico-token"]], "two instances for token %s", in.Tags["portico-token"])
		tokens[in.Tags["portico-token"]] = true
	}
}

func TestE2EGCPGatewayOfSix(t *testing.T) {
	e := newE2E(t)
	fake := withGCP(t, e, gcptest.Options{})
	e.writeConfig(fake.URL(), fake.Project())
	spec := e.spec("type: gateway\nname: edge\nbackend: gcp\nregion: europe-west1\nreplicas: 6\n")
	e.mustRun("apply", "-f", spec, "-y")
	reps := running(e.list()[0])
	require.Len(t, reps, 6)
	zones, ips := map[string]int{}, map[string]bool{}
	for _, r := range reps {
		zones[r.Zone]++
		ips[r.Hostname] = true
		assert.True(t, strings.HasPrefix(r.Hostname, "127."), "NAT IPs are loopback: %s", r.Hostname)
	}
	assert.Len(t, zones, 3, "spread over the region's zones")
	assert.Len(t, ips, 6, "six NAT IPs")
	assert.Equal(t, 6, fake.Calls("instances.insert"))
	t.Logf("calls per replica: %.2f (%d calls: insert=%d wait=%d get=%d aggregatedList=%d)",
		float64(len(fake.CallLog()))/6, len(fake.CallLog()), fake.Calls("instances.insert"), fake.Calls("zoneOperations.wait"),
		fake.Calls("instances.get"), fake.Calls("instances.aggregatedList"))

	e.mustRun("gateway", "delete", "edge", "-y")
	for _, in := range fake.Instances() {
		assert.NotEqual(t, "edge", in.Labels["portico-gateway"], "delete leaves none: %s is %s", in.Name, in.Status)
	}
}

func TestE2EGCPFailedOperationIsAFailure(t *testing.T) {
	e := newE2E(t)
	fake := withGCP(t, e, gcptest.Options{})
	e.writeConfig(fake.URL(), fake.Project())
	fake.SetBareOperationErrors(true) // the op.Wait gotcha: an error without httpErrorStatusCode
	fake.FailOperation("QUOTA_EXCEEDED", "Quota 'CPUS' exceeded. Limit: 8.0 in region europe-west1.", 10)
	r := e.run("apply", "-f", e.spec("type: gateway\nname: quota\nbackend: gcp\nregion: europe-west1\nreplicas: 1\n"), "-y")
	assert.Equal(t, 1, r.code, r.stderr)
	assert.Contains(t, r.stderr, "QUOTA_EXCEEDED")
}

func TestE2EGCPNotConfigured(t *testing.T) {
	e := newE2E(t)
	e.env = append(e.env, "GOOGLE_CLOUD_PROJECT=", "CLOUDSDK_CORE_PROJECT=")
	r := e.run("apply", "-f", e.spec("type: gateway\nname: nogcp\nbackend: gcp\nregion: europe-west1\n"), "-y")
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.stderr, `backend "gcp" is not configured: no project`)
}
