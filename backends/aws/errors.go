package aws

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/smithy-go"

	"github.com/portico-dev/portico/backends"
)

// apiCode returns the EC2 error code carried by err, or "".
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func apiMessage(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorMessage()
	}
	return err.Error()
}

// isZoneError reports whether code means "not in this zone, maybe in
// another": the launch loop moves on to the next zone with a new token.
func isZoneError(code string) bool {
	switch code {
	case "InsufficientInstanceCapacity", "Unsupported", "InsufficientFreeAddressesInSubnet":
		return true
	}
	return false
}

// permanentCodes fail a replica at once: no retry helps until a person
// changes the account, the configuration or the spec.
var permanentCodes = map[string]bool{
	"UnauthorizedOperation": true, "AuthFailure": true, "Blocked": true, "OptInRequired": true,
	"PendingVerification": true, "InstanceLimitExceeded": true, "VcpuLimitExceeded": true,
	"MaxSpotInstanceCountExceeded": true, "InvalidParameterValue": true, "InvalidParameterCombination": true,
	"InvalidParameter": true, "MissingParameter": true, "UnknownParameter": true, "InvalidRequest": true,
	"IdempotentInstanceTerminated": true, "IdempotentParameterMismatch": true, "InvalidClientTokenId": true,
	"SignatureDoesNotMatch": true, "UnrecognizedClientException": true, "VPCIdNotSpecified": true,
	"InvalidUserData.Malformed": true, "InvalidBlockDeviceMapping": true,
}

// isPermanent reports whether an EC2 error code is a permanent failure:
// the listed codes plus every malformed or unknown id (InvalidAMIID.*,
// InvalidSubnetID.*, InvalidGroup.NotFound, ...).
func isPermanent(code string) bool {
	if permanentCodes[code] {
		return true
	}
	for _, p := range []string{"InvalidAMIID.", "InvalidSubnetID.", "InvalidVpcID.", "InvalidKeyPair.", "Unauthorized"} {
		if strings.HasPrefix(code, p) {
			return true
		}
	}
	return strings.HasSuffix(code, ".NotFound") || strings.HasSuffix(code, ".Malformed")
}

// isTransport reports whether err is a failure to get a reply at all
// (connection reset, dropped response), after which the request may or
// may not have taken effect.
func isTransport(ctx context.Context, err error) bool {
	return err != nil && ctx.Err() == nil && apiCode(err) == "" && !isCredentials(err) &&
		!errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// isCredentials reports whether the SDK failed before sending because the
// standard chain found no usable credentials.
func isCredentials(err error) bool {
	s := err.Error()
	return strings.Contains(s, "get identity") || strings.Contains(s, "failed to retrieve credentials")
}

// classify turns an SDK error into a *backends.Error that says what was
// being done; context cancellation is returned as is (wrapped), so callers
// can tell an interrupted call from a failed one.
func classify(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	doing := fmt.Sprintf(format, args...)
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", doing, err)
	}
	var be *backends.Error
	if errors.As(err, &be) {
		return err
	}
	code := apiCode(err)
	e := &backends.Error{Kind: backends.Transient, Code: code, Message: doing + ": " + apiMessage(err), Err: err}
	var status interface{ HTTPStatusCode() int }
	switch {
	case code == "" && isCredentials(err):
		e.Kind, e.Code = backends.Permanent, "NoCredentials"
		e.Message = doing + ": no usable AWS credentials (set AWS_PROFILE, the aws.profile config key, or AWS_ACCESS_KEY_ID): " + err.Error()
	case code == "":
		// Transport failure or exhausted retries without a reply: transient.
	case isPermanent(code):
		e.Kind = backends.Permanent
	case isZoneError(code):
		e.Kind = backends.Capacity
	case errors.As(err, &status) && status.HTTPStatusCode() >= 400 && status.HTTPStatusCode() < 500 && !isThrottle(code):
		// An unlisted client error: the request itself is wrong.
		e.Kind = backends.Permanent
	}
	return e
}

func isThrottle(code string) bool {
	switch code {
	case "RequestLimitExceeded", "Throttling", "ThrottlingException", "RequestThrottled", "TooManyRequestsException":
		return true
	}
	return false
}

// invalidates reports whether a launch error means the cached region setup
// may be stale (someone deleted the group or subnet, the image was
// deregistered), so the next launch discovers it afresh.
func invalidates(code string) bool {
	return strings.HasPrefix(code, "InvalidGroup.") || strings.HasPrefix(code, "InvalidSubnetID.") ||
		strings.HasPrefix(code, "InvalidAMIID.") || strings.HasPrefix(code, "InvalidVpcID.")
}
