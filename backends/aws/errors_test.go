package aws

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/stretchr/testify/assert"

	"github.com/portico-dev/portico/backends"
)

// sdkError builds an error shaped as the SDK returns an EC2 error reply.
func sdkError(status int, code string) error {
	return &smithy.OperationError{ServiceID: "EC2", OperationName: "RunInstances", Err: &awshttp.ResponseError{
		ResponseError: &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
			Err:      &smithy.GenericAPIError{Code: code, Message: "message for " + code},
		}}}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		err      error
		kind     backends.ErrorKind
		wantCode string
	}{
		{sdkError(400, "InvalidAMIID.NotFound"), backends.Permanent, "InvalidAMIID.NotFound"},
		{sdkError(400, "InvalidAMIID.Malformed"), backends.Permanent, "InvalidAMIID.Malformed"},
		{sdkError(403, "UnauthorizedOperation"), backends.Permanent, "UnauthorizedOperation"},
		{sdkError(401, "AuthFailure"), backends.Permanent, "AuthFailure"},
		{sdkError(400, "InstanceLimitExceeded"), backends.Permanent, "InstanceLimitExceeded"},
		{sdkError(400, "VcpuLimitExceeded"), backends.Permanent, "VcpuLimitExceeded"},
		{sdkError(400, "InvalidSubnetID.NotFound"), backends.Permanent, "InvalidSubnetID.NotFound"},
		{sdkError(400, "InvalidGroup.NotFound"), backends.Permanent, "InvalidGroup.NotFound"},
		{sdkError(403, "OptInRequired"), backends.Permanent, "OptInRequired"},
		{sdkError(400, "SomethingNew"), backends.Permanent, "SomethingNew"},
		{sdkError(500, "InsufficientInstanceCapacity"), backends.Capacity, "InsufficientInstanceCapacity"},
		{sdkError(400, "Unsupported"), backends.Capacity, "Unsupported"},
		{sdkError(503, "RequestLimitExceeded"), backends.Transient, "RequestLimitExceeded"},
		{sdkError(500, "InternalError"), backends.Transient, "InternalError"},
		{sdkError(503, "Unavailable"), backends.Transient, "Unavailable"},
		{&smithyhttp.RequestSendError{Err: errors.New("connection reset by peer")}, backends.Transient, ""},
		{fmt.Errorf("get identity: failed to refresh cached credentials, no EC2 IMDS role found"), backends.Permanent, "NoCredentials"},
	} {
		t.Run(fmt.Sprintf("%s/%d", tc.wantCode, int(tc.kind)), func(t *testing.T) {
			err := classify(tc.err, "launch replica %d", 1)
			var be *backends.Error
			assert.ErrorAs(t, err, &be)
			assert.Equal(t, tc.kind, be.Kind)
			assert.Equal(t, tc.wantCode, be.Code)
			assert.True(t, strings.HasPrefix(be.Message, "launch replica 1: "), be.Message)
			assert.ErrorIs(t, err, tc.err, "the SDK error stays reachable")
		})
	}
}

func TestClassifyKeepsCancellation(t *testing.T) {
	err := classify(fmt.Errorf("operation error: %w", context.Canceled), "describe")
	assert.ErrorIs(t, err, context.Canceled)
	var be *backends.Error
	assert.False(t, errors.As(err, &be), "an interrupted call is not a backend failure")
}

func TestClientToken(t *testing.T) {
	long := strings.Repeat("x", 60)
	for _, tc := range []struct {
		token, zone, want string
	}{
		{"edge-0-a1b2", "eu-west-1a", "edge-0-a1b2-eu-west-1a"},
		{"edge-0-a1b2", "eu-west-1b", "edge-0-a1b2-eu-west-1b"},
		{strings.Repeat("t", 53), "eu-west-1a", strings.Repeat("t", 53) + "-eu-west-1a"},
		{long, "ap-southeast-2a", ""},
		{long + "y", "ap-southeast-2a", ""},
		{long, "us-west-2-lax-1a", ""},
	} {
		t.Run(tc.token+"/"+tc.zone, func(t *testing.T) {
			got := clientToken(tc.token, tc.zone)
			assert.Equal(t, got, clientToken(tc.token, tc.zone), "deterministic")
			assert.LessOrEqual(t, len(got), 64)
			for _, c := range got {
				assert.Less(t, c, rune(128), "ASCII only")
			}
			if tc.want != "" {
				assert.Equal(t, tc.want, got)
			}
			assert.True(t, strings.HasSuffix(got, "-"+tc.zone), "names its zone: %s", got)
			assert.NotEqual(t, got, clientToken(tc.token, tc.zone+"x"), "differs per zone")
		})
	}
	assert.NotEqual(t, clientToken(long, "ap-southeast-2a"), clientToken(long+"y", "ap-southeast-2a"),
		"shortened tokens stay distinct")
}

func TestArchOf(t *testing.T) {
	for typ, want := range map[string]string{
		"t3.micro": "x86_64", "t4g.small": "arm64", "m7g.large": "arm64", "c7gn.xlarge": "arm64",
		"x2gd.medium": "arm64", "a1.large": "arm64", "g4dn.xlarge": "x86_64", "g5g.xlarge": "arm64",
		"m7i-flex.large": "x86_64", "c7a.large": "x86_64", "gr6.4xlarge": "x86_64",
	} {
		assert.Equal(t, want, archOf(typ), typ)
	}
}
