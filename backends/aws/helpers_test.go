package aws

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/backends"
	"github.com/portico-dev/portico/backends/awstest"
)

// TestMain keeps the developer's AWS setup out of the tests: no shared
// config or credentials files, no profile, no endpoint override, and no
// instance metadata service (which would mean dialling 169.254.169.254).
func TestMain(m *testing.M) {
	for _, k := range []string{"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_EC2",
		"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
		"AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE", "AWS_CA_BUNDLE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"} {
		_ = os.Unsetenv(k)
	}
	_ = os.Setenv("AWS_CONFIG_FILE", os.DevNull)
	_ = os.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	_ = os.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	os.Exit(m.Run())
}

const region = "eu-west-1"

// fixture is one fake EC2 and a backend pointed at it.
type fixture struct {
	srv *awstest.Server
	b   backends.Backend
	cfg Config
}

// testConfig is fast: short polls and backoffs, a few attempts, static
// credentials.
func testConfig(srv *awstest.Server) Config {
	return Config{
		Endpoint:         srv.URL(),
		PollInterval:     50 * time.Millisecond,
		RetryMaxAttempts: 5,
		RetryMaxBackoff:  20 * time.Millisecond,
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDPORTICOTEST", "not-a-secret", ""),
	}
}

func newFixture(t *testing.T, opts awstest.Options, mod func(*Config)) *fixture {
	t.Helper()
	srv := awstest.NewServer(opts)
	t.Cleanup(srv.Close)
	cfg := testConfig(srv)
	if mod != nil {
		mod(&cfg)
	}
	b, err := New(context.Background(), cfg)
	require.NoError(t, err)
	return &fixture{srv: srv, b: b, cfg: cfg}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

// request is a valid launch request for replica n.
func request(token string, n int) backends.LaunchRequest {
	return backends.LaunchRequest{
		Token: token, Install: "inst1", Gateway: "edge", ReplicaNum: n, Attempt: 1, Region: region,
		ZoneIndex: n, PublicIP: true, Domain: "example.com", HealthPath: "/healthz", HealthPort: 80,
	}
}

// live counts the instances of region that are not shutting down or gone.
func live(srv *awstest.Server, region string, match func(awstest.Instance) bool) []awstest.Instance {
	var out []awstest.Instance
	for _, in := range srv.Instances(region) {
		if in.State != "shutting-down" && in.State != "terminated" && (match == nil || match(in)) {
			out = append(out, in)
		}
	}
	return out
}

func withToken(token string) func(awstest.Instance) bool {
	return func(in awstest.Instance) bool { return in.Tags[backends.TagToken] == token }
}
