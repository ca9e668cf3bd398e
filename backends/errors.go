package backends

import (
	"errors"
	"fmt"
	"strings"
)

// ErrorKind tells the pipelines what to do after a failed backend call.
type ErrorKind int

const (
	// Transient errors (throttling, timeouts, 5xx) are retried with backoff,
	// reusing the same token.
	Transient ErrorKind = iota
	// Capacity errors mean no zone tried had room; the replica is retried
	// later on the gateway's backoff schedule.
	Capacity
	// Permanent errors (bad image, no permission, quota) fail the replica at
	// once: retrying cannot help until a person acts.
	Permanent
)

func (k ErrorKind) String() string {
	switch k {
	case Capacity:
		return "capacity"
	case Permanent:
		return "permanent"
	default:
		return "transient"
	}
}

// Error is a classified backend failure. Code carries the provider's own
// error code ("InsufficientInstanceCapacity", "ZONE_RESOURCE_POOL_EXHAUSTED")
// so that users can search for it.
type Error struct {
	Kind    ErrorKind
	Code    string
	Message string
	// ZonesTried lists the zones a launch tried, in order.
	ZonesTried []string
	Err        error
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Code != "" {
		b.WriteString(e.Code)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	if e.Message == "" && e.Err != nil {
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf classifies any error: a wrapped *Error gives its Kind, anything
// else is Transient.
func KindOf(err error) ErrorKind {
	var be *Error
	if errors.As(err, &be) {
		return be.Kind
	}
	return Transient
}

// NotConfiguredError says a backend exists but this installation has not
// set it up; Hint says how.
type NotConfiguredError struct {
	Backend string
	Reason  string
	Hint    string
}

func (e *NotConfiguredError) Error() string {
	msg := fmt.Sprintf("backend %q is not configured: %s", e.Backend, e.Reason)
	if e.Hint != "" {
		msg += " (" + e.Hint + ")"
	}
	return msg
}
