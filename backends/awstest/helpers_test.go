package awstest

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	awsbackend "github.com/portico-dev/portico/backends/aws"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/require"
)

const region = "eu-west-1"

func newServer(t *testing.T, opts Options) *Server {
	t.Helper()
	s := NewServer(opts)
	t.Cleanup(s.Close)
	return s
}

// client is the real SDK client pointed at the fake, without retries so
// that every fault is seen as it is.
func client(s *Server, region string) *ec2.Client {
	return ec2.New(ec2.Options{Region: region, BaseEndpoint: aws.String(s.URL()), RetryMaxAttempts: 1,
		HTTPClient:  awsbackend.DetachedBodyClient(&http.Client{}),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "not-a-secret", "")})
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// apiErr returns the EC2 error code and HTTP status of err.
func apiErr(t *testing.T, err error) (string, int) {
	t.Helper()
	require.Error(t, err)
	var ae smithy.APIError
	require.True(t, errors.As(err, &ae), "not an API error: %v", err)
	status := 0
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	return ae.ErrorCode(), status
}

// noble is the newest Canonical amd64 image's id in region.
func noble(s *Server, region string) string {
	return s.ImageID(region, "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20261101")
}

// runInput is a minimal valid launch with a token and tags.
func runInput(s *Server, token string, tags ...string) *ec2.RunInstancesInput {
	in := &ec2.RunInstancesInput{
		ImageId: aws.String(noble(s, region)), InstanceType: types.InstanceTypeT3Micro,
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
	}
	if token != "" {
		in.ClientToken = aws.String(token)
	}
	var tt []types.Tag
	for i := 0; i+1 < len(tags); i += 2 {
		tt = append(tt, types.Tag{Key: aws.String(tags[i]), Value: aws.String(tags[i+1])})
	}
	if len(tt) > 0 {
		in.TagSpecifications = []types.TagSpecification{{ResourceType: types.ResourceTypeInstance, Tags: tt}}
	}
	return in
}

func launch(t *testing.T, c *ec2.Client, in *ec2.RunInstancesInput) types.Instance {
	t.Helper()
	out, err := c.RunInstances(ctx(t), in)
	require.NoError(t, err)
	require.Len(t, out.Instances, 1)
	return out.Instances[0]
}

func describeIDs(t *testing.T, c *ec2.Client, filters ...types.Filter) []string {
	t.Helper()
	out, err := c.DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{Filters: filters})
	require.NoError(t, err)
	var ids []string
	for _, r := range out.Reservations {
		for _, in := range r.Instances {
			ids = append(ids, aws.ToString(in.InstanceId))
		}
	}
	return ids
}

func flt(name string, values ...string) types.Filter {
	return types.Filter{Name: aws.String(name), Values: values}
}
