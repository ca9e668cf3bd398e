package awstest

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Call is one request the fake received, as the call log records it.
type Call struct {
	Action string
	Region string
	Time   time.Time
	// ClientToken is the request's idempotency token, when it has one.
	ClientToken string
	// Attempt is the SDK's attempt number for this operation (from the
	// amz-sdk-request header; 0 when absent): retries show up as 2, 3, ...
	Attempt int
	// Result is "" when the call succeeded, else the error code returned,
	// "dropped" when the reply was dropped, or "canceled" when the client
	// went away first.
	Result string
}

// Phase names a point in the handling of a call where a hook runs.
type Phase int

const (
	// BeforeAction runs once the call is received, before faults and the
	// action itself.
	BeforeAction Phase = iota
	// AfterAction runs after the action changed the cloud's state (or
	// failed), before the reply is written.
	AfterAction
)

type hookKey struct {
	action string
	phase  Phase
}

type failure struct {
	code, message string
	n             int
}

// faults holds the faults queued by tests; guarded by Server.mu.
type faults struct {
	throttle map[string]int
	fail     map[string][]*failure
	drop     map[string]int
	hooks    map[hookKey]func()
}

func newFaults() faults {
	return faults{
		throttle: map[string]int{},
		fail:     map[string][]*failure{},
		drop:     map[string]int{},
		hooks:    map[hookKey]func(){},
	}
}

// Calls counts the calls of action received so far, failed ones included.
func (s *Server) Calls(action string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		if c.Action == action {
			n++
		}
	}
	return n
}

// CallLog returns every call received so far, in arrival order.
func (s *Server) CallLog() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// Throttle makes the next n calls of action fail with RequestLimitExceeded
// and HTTP 503, as EC2 throttles.
func (s *Server) Throttle(action string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.throttle[action] += n
}

// FailNext makes the next n calls of action fail with the given EC2 error
// code, after any queued throttling. The HTTP status follows EC2: 5xx for
// server-side codes (InsufficientInstanceCapacity, InternalError, ...),
// 401/403 for authentication and authorisation, 400 otherwise.
func (s *Server) FailNext(action, code, message string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.fail[action] = append(s.faults.fail[action], &failure{code: code, message: message, n: n})
}

// DropResponse makes the next n calls of action take effect and then lose
// their reply: the connection is closed, so the client sees a transport
// error and cannot know whether the action happened.
func (s *Server) DropResponse(action string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.drop[action] += n
}

// Hook runs fn at phase of every call of action, on the request's goroutine,
// so a test can block the call or cancel its client at an exact point. It
// replaces any earlier hook for the same action and phase; nil removes it.
func (s *Server) Hook(action string, phase Phase, fn func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if fn == nil {
		delete(s.faults.hooks, hookKey{action, phase})
		return
	}
	s.faults.hooks[hookKey{action, phase}] = fn
}

// SetCapacity turns a zone's capacity off (ok=false: RunInstances there
// fails with InsufficientInstanceCapacity) or back on.
func (s *Server) SetCapacity(region, zone string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ok {
		delete(s.capacity, region+"/"+zone)
	} else {
		s.capacity[region+"/"+zone] = false
	}
}

func (s *Server) hasCapacity(region, zone string) bool {
	_, off := s.capacity[region+"/"+zone]
	return !off
}

func (s *Server) record(action, region, token, sdkRequest string) int {
	attempt := 0
	for _, part := range strings.Split(sdkRequest, ";") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(part), "attempt="); ok {
			attempt, _ = strconv.Atoi(v)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, Call{Action: action, Region: region, Time: time.Now(), ClientToken: token, Attempt: attempt})
	return len(s.calls) - 1
}

func (s *Server) setResult(idx int, result string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[idx].Result = result
}

func (s *Server) runHook(action string, phase Phase) {
	s.mu.Lock()
	fn := s.faults.hooks[hookKey{action, phase}]
	s.mu.Unlock()
	if fn != nil {
		fn()
	}
}

// takeFault consumes the next queued fault for action, if any.
func (s *Server) takeFault(action string) *apiError {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.faults.throttle[action] > 0 {
		s.faults.throttle[action]--
		return errorf(http.StatusServiceUnavailable, "RequestLimitExceeded", "Request limit exceeded.")
	}
	queue := s.faults.fail[action]
	for len(queue) > 0 && queue[0].n <= 0 {
		queue = queue[1:]
	}
	s.faults.fail[action] = queue
	if len(queue) == 0 {
		return nil
	}
	f := queue[0]
	f.n--
	return errorf(statusFor(f.code), f.code, "%s", f.message)
}

func (s *Server) takeDrop(action string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.faults.drop[action] > 0 {
		s.faults.drop[action]--
		return true
	}
	return false
}

// statusFor is the HTTP status EC2 sends with an error code.
func statusFor(code string) int {
	switch code {
	case "RequestLimitExceeded", "Unavailable", "ServiceUnavailable":
		return http.StatusServiceUnavailable
	case "InternalError", "InsufficientInstanceCapacity", "InsufficientAddressCapacity",
		"InsufficientCapacity", "InsufficientHostCapacity", "InsufficientReservedInstanceCapacity",
		"InsufficientVolumeCapacity":
		return http.StatusInternalServerError
	case "AuthFailure":
		return http.StatusUnauthorized
	case "UnauthorizedOperation", "Blocked", "OptInRequired":
		return http.StatusForbidden
	}
	return http.StatusBadRequest
}
