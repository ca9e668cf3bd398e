package gcp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"cloud.google.com/go/compute/apiv1/computepb"
	"google.golang.org/api/googleapi"

	"github.com/portico-dev/portico/backends"
)

// capacityCodes are the operation error codes meaning "this zone has no
// room for that machine type right now": the launch moves to the next zone.
var capacityCodes = map[string]bool{
	"ZONE_RESOURCE_POOL_EXHAUSTED":              true,
	"ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS": true,
}

// capacityPhrase is how the message of a capacity error reads when the
// code is missing or unfamiliar.
const capacityPhrase = "does not have enough resources"

// transientOpCodes are operation error codes worth another try later.
var transientOpCodes = map[string]bool{
	"INTERNAL_ERROR":                   true,
	"RATE_LIMIT_EXCEEDED":              true,
	"RESOURCE_OPERATION_RATE_EXCEEDED": true,
	"SERVICE_UNAVAILABLE":              true,
	"TIMEOUT":                          true,
}

// transientReasons are googleapi error reasons worth a retry whatever the
// HTTP code (Compute Engine sends rate limits as 403 as well as 429).
var transientReasons = map[string]bool{
	"rateLimitExceeded":     true,
	"userRateLimitExceeded": true,
	"backendError":          true,
	"internalError":         true,
}

// operationError classifies the error a finished operation carries, or
// returns nil when it succeeded. It reads the error field itself: an
// operation may fail without httpErrorStatusCode, and then the client's
// Operation.Wait reports success (../shared/notes/gce-wire.md).
func operationError(op *computepb.Operation) *backends.Error {
	errs := op.GetError().GetErrors()
	status := int(op.GetHttpErrorStatusCode())
	if len(errs) == 0 {
		if status == 0 || (status >= 200 && status < 300) {
			return nil
		}
		return &backends.Error{Kind: kindOfStatus(status, ""), Code: fmt.Sprintf("HTTP_%d", status),
			Message: op.GetHttpErrorMessage()}
	}
	code, msg := errs[0].GetCode(), errs[0].GetMessage()
	for _, e := range errs { // a capacity error anywhere in the list decides
		if capacityCodes[e.GetCode()] || strings.Contains(e.GetMessage(), capacityPhrase) {
			return &backends.Error{Kind: backends.Capacity, Code: firstNonEmpty(e.GetCode(), "ZONE_RESOURCE_POOL_EXHAUSTED"), Message: e.GetMessage()}
		}
	}
	kind := backends.Permanent
	if transientOpCodes[code] || (status != 0 && kindOfStatus(status, "") == backends.Transient) {
		kind = backends.Transient
	}
	return &backends.Error{Kind: kind, Code: code, Message: msg}
}

// classify turns a failed call into a *backends.Error that says what was
// being done. Context errors stay as they are (wrapped), so callers can
// tell a cancellation from a cloud failure.
func classify(err error, what string) error {
	if err == nil {
		return nil
	}
	var be *backends.Error
	if errors.As(err, &be) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", what, err)
	}
	var ge *googleapi.Error
	if !errors.As(err, &ge) {
		// No HTTP reply at all: connection refused, reset or dropped.
		return &backends.Error{Kind: backends.Transient, Code: "UNAVAILABLE", Message: what + ": " + err.Error(), Err: err}
	}
	reason := ""
	if len(ge.Errors) > 0 {
		reason = ge.Errors[0].Reason
	}
	msg := firstNonEmpty(ge.Message, http.StatusText(ge.Code))
	if strings.Contains(msg, capacityPhrase) || strings.Contains(msg, "ZONE_RESOURCE_POOL_EXHAUSTED") {
		return &backends.Error{Kind: backends.Capacity, Code: "ZONE_RESOURCE_POOL_EXHAUSTED", Message: what + ": " + msg, Err: err}
	}
	return &backends.Error{Kind: kindOfStatus(ge.Code, reason), Code: firstNonEmpty(reason, fmt.Sprintf("HTTP_%d", ge.Code)),
		Message: what + ": " + msg, Err: err}
}

func kindOfStatus(status int, reason string) backends.ErrorKind {
	if transientReasons[reason] || status == http.StatusTooManyRequests || status >= 500 || status == http.StatusRequestTimeout {
		return backends.Transient
	}
	return backends.Permanent
}

// httpCode returns the HTTP status of a failed call, or 0.
func httpCode(err error) int {
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		return ge.Code
	}
	return 0
}

func isNotFound(err error) bool      { return httpCode(err) == http.StatusNotFound }
func isAlreadyExists(err error) bool { return httpCode(err) == http.StatusConflict }

// isTransient reports whether err may succeed if tried again.
func isTransient(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	return backends.KindOf(err) == backends.Transient
}
