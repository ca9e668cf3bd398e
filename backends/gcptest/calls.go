package gcptest

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// Call is one request the fake received, for tests that count calls or
// check what a retry sent (the same requestId, spaced in time).
type Call struct {
	// Method is the API method, e.g. "instances.insert", "zoneOperations.wait".
	Method string
	Path   string
	// RequestID is the requestId query parameter, if any.
	RequestID string
	// Filter is the filter query parameter, if any.
	Filter string
	At     time.Time
	// Status is the HTTP status sent back; 0 when the reply was dropped or
	// the client went away first.
	Status int
}

// reply is what a handler wants written back.
type reply struct {
	status int
	body   []byte
}

type handler func(r *http.Request) reply

// wrap does for every method what the real frontend does around it: count
// and log the call, add latency, run fault injection and hooks, and write
// the JSON reply (or drop it).
func (s *Server) wrap(method string, h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		call := s.record(method, r)
		if !s.sleep(r.Context(), s.opts.APILatency) {
			return
		}
		s.runHooks(method, BeforeAction)
		rep, injected := s.injectedFault(method)
		if !injected {
			rep = h(r)
			s.runHooks(method, AfterAction)
			if s.takeDrop(method) {
				dropConnection(w)
				return
			}
		}
		if rep.status == 0 {
			return // the handler saw the client or the server go away
		}
		writeReply(w, rep)
		s.mu.Lock()
		call.Status = rep.status
		s.mu.Unlock()
	}
}

// record logs a call; the entry's Status is filled in once the reply is
// written (under s.mu).
func (s *Server) record(method string, r *http.Request) *Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts[method]++
	q := r.URL.Query()
	c := &Call{
		Method:    method,
		Path:      r.URL.Path,
		RequestID: q.Get("requestId"),
		Filter:    q.Get("filter"),
		At:        time.Now(),
	}
	s.calls = append(s.calls, c)
	return c
}

// sleep waits d unless the request or the server ends first.
func (s *Server) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-s.closed:
		return false
	}
}

// Calls returns how many requests of method the fake received, whatever
// their outcome (throttled and dropped ones included).
func (s *Server) Calls(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[method]
}

// CallLog returns every request received so far, in arrival order.
func (s *Server) CallLog() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Call, len(s.calls))
	for i, c := range s.calls {
		out[i] = *c
	}
	return out
}

// CallsTo returns the log entries of one method.
func (s *Server) CallsTo(method string) []Call {
	var out []Call
	for _, c := range s.CallLog() {
		if c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// ResetCalls clears the counters and the log, so a test can count only
// the calls of the step it is about.
func (s *Server) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = nil
	s.counts = map[string]int{}
}

func writeReply(w http.ResponseWriter, rep reply) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(rep.status)
	_, _ = w.Write(rep.body)
}

// dropConnection closes the connection without a reply, like a response
// lost on the way back: the action happened, the client sees an error.
func dropConnection(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("gcptest: response writer cannot be hijacked")
	}
	conn, _, err := hj.Hijack()
	if err == nil {
		_ = conn.Close()
	}
}

var marshaler = protojson.MarshalOptions{}

func okReply(m proto.Message) reply {
	b, err := marshaler.Marshal(m)
	if err != nil {
		return apiError(http.StatusInternalServerError, "internalError", err.Error())
	}
	return reply{status: http.StatusOK, body: b}
}

// apiError builds an error in the JSON shape the real API uses, which
// googleapi.CheckResponseWithBody turns into a *googleapi.Error whose
// Errors[0].Reason is reason.
func apiError(code int, reason, message string) reply {
	domain := "global"
	if reason == "rateLimitExceeded" || reason == "userRateLimitExceeded" {
		domain = "usageLimits"
	}
	type item struct {
		Message string `json:"message"`
		Domain  string `json:"domain"`
		Reason  string `json:"reason"`
	}
	type body struct {
		Error struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Errors  []item `json:"errors"`
		} `json:"error"`
	}
	var b body
	b.Error.Code = code
	b.Error.Message = message
	b.Error.Errors = []item{{Message: message, Domain: domain, Reason: reason}}
	out, _ := json.Marshal(b)
	return reply{status: code, body: out}
}

func notFound(resource string) reply {
	return apiError(http.StatusNotFound, "notFound", "The resource '"+resource+"' was not found")
}

func invalid(message string) reply {
	return apiError(http.StatusBadRequest, "invalid", message)
}
