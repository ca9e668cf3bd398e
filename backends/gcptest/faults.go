package gcptest

import "net/http"

// Phase says when a hook runs relative to the fake's action.
type Phase int

const (
	// BeforeAction runs once the request has arrived, before the fake acts
	// (and before injected errors): a crash here means "never reached".
	BeforeAction Phase = iota
	// AfterAction runs after the fake acted, before the reply is written:
	// a crash here means "the cloud did it, the caller never heard".
	AfterAction
)

type failSpec struct {
	code            int
	reason, message string
	n               int
}

type opFailure struct {
	code, message string
	n             int
}

type hook struct {
	id    int
	phase Phase
	fn    func()
}

// faultState is guarded by Server.mu.
type faultState struct {
	throttle     map[string]int
	failNext     map[string][]*failSpec
	drop         map[string]int
	noCapacity   map[string]bool
	opFailures   []*opFailure
	bareOpErrors bool
	waitEarly    int
	hooks        map[string][]hook
	nextHook     int
}

func newFaultState() faultState {
	return faultState{
		throttle:   map[string]int{},
		failNext:   map[string][]*failSpec{},
		drop:       map[string]int{},
		noCapacity: map[string]bool{},
		hooks:      map[string][]hook{},
	}
}

// Throttle makes the next n calls of method fail with 429
// rateLimitExceeded, as Compute Engine does when a project exceeds its API
// rate quota.
func (s *Server) Throttle(method string, n int) {
	s.FailNext(method, http.StatusTooManyRequests, "rateLimitExceeded",
		"Quota exceeded for quota metric 'Queries' and limit 'Queries per minute' of service 'compute.googleapis.com'.", n)
}

// FailNext makes the next n calls of method fail with an HTTP error of the
// real JSON shape (code, reason, message), without acting.
func (s *Server) FailNext(method string, httpCode int, reason, message string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.failNext[method] = append(s.faults.failNext[method], &failSpec{code: httpCode, reason: reason, message: message, n: n})
}

// DropResponse makes the next n calls of method act, then close the
// connection without a reply: the lost-response case that requestId
// idempotency exists for. Note that net/http replays a GET on its own when
// a reused connection closes before the reply, so a dropped GET may never
// reach the caller as an error (it still counts as a call here).
func (s *Server) DropResponse(method string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.drop[method] += n
}

// SetCapacity says whether zone has room: without, every insert there
// finishes DONE with error ZONE_RESOURCE_POOL_EXHAUSTED (and, unless bare
// operation errors are on, httpErrorStatusCode 503).
func (s *Server) SetCapacity(zone string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.noCapacity[zone] = !ok
}

// FailOperation makes the next n instance inserts accepted by the fake
// finish DONE with error code (e.g. QUOTA_EXCEEDED) and message. Whether
// httpErrorStatusCode is set follows SetBareOperationErrors.
func (s *Server) FailOperation(code, message string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.opFailures = append(s.faults.opFailures, &opFailure{code: code, message: message, n: n})
}

// SetBareOperationErrors picks the shape of failed operations: bare (only
// error.errors, no httpErrorStatusCode, so op.Wait returns nil) or with
// httpErrorStatusCode and httpErrorMessage (op.Wait returns an error).
func (s *Server) SetBareOperationErrors(bare bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.bareOpErrors = bare
}

// WaitReturnsEarly makes the next n operations.wait calls return at once,
// even if the operation is not DONE, which the real API documents it may
// do under load.
func (s *Server) WaitReturnsEarly(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.waitEarly += n
}

// Hook runs fn on every call of method at phase, until the returned
// function removes it. fn runs without the fake's lock held and may call
// the Server's methods; it must not block for long.
func (s *Server) Hook(method string, phase Phase, fn func()) (remove func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.nextHook++
	id := s.faults.nextHook
	s.faults.hooks[method] = append(s.faults.hooks[method], hook{id: id, phase: phase, fn: fn})
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		hs := s.faults.hooks[method]
		for i, h := range hs {
			if h.id == id {
				s.faults.hooks[method] = append(hs[:i:i], hs[i+1:]...)
				return
			}
		}
	}
}

func (s *Server) runHooks(method string, phase Phase) {
	s.mu.Lock()
	var fns []func()
	for _, h := range s.faults.hooks[method] {
		if h.phase == phase {
			fns = append(fns, h.fn)
		}
	}
	s.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

// injectedFault consumes one queued HTTP error for method, if any.
func (s *Server) injectedFault(method string) (reply, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.faults.failNext[method]
	for len(q) > 0 && q[0].n <= 0 {
		q = q[1:]
	}
	s.faults.failNext[method] = q
	if len(q) == 0 {
		return reply{}, false
	}
	q[0].n--
	return apiError(q[0].code, q[0].reason, q[0].message), true
}

func (s *Server) takeDrop(method string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.faults.drop[method] > 0 {
		s.faults.drop[method]--
		return true
	}
	return false
}

// takeInsertFailure returns the error an insert into zone should finish
// with, if any. Caller holds s.mu.
func (s *Server) takeInsertFailure(zone string) (code, message string, failed bool) {
	for len(s.faults.opFailures) > 0 && s.faults.opFailures[0].n <= 0 {
		s.faults.opFailures = s.faults.opFailures[1:]
	}
	if len(s.faults.opFailures) > 0 {
		f := s.faults.opFailures[0]
		f.n--
		return f.code, f.message, true
	}
	if s.faults.noCapacity[zone] {
		return "ZONE_RESOURCE_POOL_EXHAUSTED", "The zone 'projects/" + s.opts.Project + "/zones/" + zone +
			"' does not have enough resources available to fulfill the request.  Try a different zone, or try again later.", true
	}
	return "", "", false
}

// takeWaitEarly reports whether this wait should return at once. Caller
// holds s.mu.
func (s *Server) takeWaitEarly() bool {
	if s.faults.waitEarly > 0 {
		s.faults.waitEarly--
		return true
	}
	return false
}
