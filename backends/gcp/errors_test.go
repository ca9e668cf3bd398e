package gcp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"

	"cloud.google.com/go/compute/apiv1/computepb"
	"github.com/stretchr/testify/assert"
	"google.golang.org/api/googleapi"
	"google.golang.org/protobuf/proto"

	"github.com/portico-dev/portico/backends"
)

func apiErr(code int, reason, msg string) error {
	return &googleapi.Error{Code: code, Message: msg, Errors: []googleapi.ErrorItem{{Reason: reason, Message: msg}}}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		err  error
		kind backends.ErrorKind
		code string
	}{
		{"throttled", apiErr(429, "rateLimitExceeded", "Rate Limit Exceeded"), backends.Transient, "rateLimitExceeded"},
		{"rate limit as 403", apiErr(403, "userRateLimitExceeded", "slow down"), backends.Transient, "userRateLimitExceeded"},
		{"server error", apiErr(503, "backendError", "Backend Error"), backends.Transient, "backendError"},
		{"5xx without reason", &googleapi.Error{Code: 502}, backends.Transient, "HTTP_502"},
		{"forbidden", apiErr(403, "forbidden", "Required permission"), backends.Permanent, "forbidden"},
		{"quota", apiErr(403, "quotaExceeded", "Quota exceeded"), backends.Permanent, "quotaExceeded"},
		{"invalid", apiErr(400, "invalid", "Invalid value"), backends.Permanent, "invalid"},
		{"image not found", apiErr(404, "notFound", "The resource 'image' was not found"), backends.Permanent, "notFound"},
		{"capacity as HTTP error", apiErr(503, "", "The zone 'z' does not have enough resources available"), backends.Capacity, "ZONE_RESOURCE_POOL_EXHAUSTED"},
		{"connection lost", fmt.Errorf("post: %w", io.ErrUnexpectedEOF), backends.Transient, "UNAVAILABLE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := classify(tt.err, "insert instance x")
			var be *backends.Error
			if assert.True(t, errors.As(err, &be)) {
				assert.Equal(t, tt.kind, be.Kind)
				assert.Equal(t, tt.code, be.Code)
				assert.Contains(t, be.Message, "insert instance x")
			}
		})
	}
	err := classify(context.Canceled, "insert instance x")
	assert.ErrorIs(t, err, context.Canceled)
	assert.False(t, isTransient(err), "a cancellation is not retried")
}

func TestOperationError(t *testing.T) {
	op := func(code, msg string, status int32) *computepb.Operation {
		o := &computepb.Operation{Status: computepb.Operation_DONE.Enum()}
		if code != "" || msg != "" {
			o.Error = &computepb.Error{Errors: []*computepb.Errors{{Code: proto.String(code), Message: proto.String(msg)}}}
		}
		if status != 0 {
			o.HttpErrorStatusCode = proto.Int32(status)
		}
		return o
	}
	tests := []struct {
		name string
		op   *computepb.Operation
		kind backends.ErrorKind
		code string
	}{
		{"capacity bare", op("ZONE_RESOURCE_POOL_EXHAUSTED", "no room", 0), backends.Capacity, "ZONE_RESOURCE_POOL_EXHAUSTED"},
		{"capacity with details", op("ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS", "no room", 503), backends.Capacity, "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS"},
		{"capacity by message", op("SOMETHING_NEW", "The zone 'z' does not have enough resources available", 0), backends.Capacity, "SOMETHING_NEW"},
		{"quota bare", op("QUOTA_EXCEEDED", "Quota 'CPUS' exceeded", 0), backends.Permanent, "QUOTA_EXCEEDED"},
		{"quota with status", op("QUOTA_EXCEEDED", "Quota 'CPUS' exceeded", 403), backends.Permanent, "QUOTA_EXCEEDED"},
		{"internal bare", op("INTERNAL_ERROR", "oops", 0), backends.Transient, "INTERNAL_ERROR"},
		{"unknown code with 5xx", op("NEW_CODE", "oops", 500), backends.Transient, "NEW_CODE"},
		{"unknown code bare", op("NEW_CODE", "oops", 0), backends.Permanent, "NEW_CODE"},
		{"only a status", op("", "", http.StatusForbidden), backends.Permanent, "HTTP_403"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			be := operationError(tt.op)
			if assert.NotNil(t, be, "a failed operation is a failure") {
				assert.Equal(t, tt.kind, be.Kind)
				assert.Equal(t, tt.code, be.Code)
			}
		})
	}
	assert.Nil(t, operationError(op("", "", 0)), "no error, no failure")
}
