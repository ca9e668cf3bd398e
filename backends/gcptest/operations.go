package gcptest

import (
	"fmt"
	"net/http"
	"time"

	"cloud.google.com/go/compute/apiv1/computepb"
	"google.golang.org/protobuf/proto"
)

// apiBase is the prefix of the self links the real API returns; clients
// must not use it to reach the fake (they use the endpoint they were given).
const apiBase = "https://www.googleapis.com/compute/v1/"

// gceTime is how Compute Engine writes timestamps: RFC 3339 with
// milliseconds and the offset of the US Pacific time zone.
const gceTime = "2006-01-02T15:04:05.000-07:00"

var pacific = time.FixedZone("PDT", -7*60*60)

func timestamp(t time.Time) string { return t.In(pacific).Format(gceTime) }

func (s *Server) projectURL() string             { return apiBase + "projects/" + s.opts.Project }
func (s *Server) zoneURL(zone string) string     { return s.projectURL() + "/zones/" + zone }
func (s *Server) regionURL(region string) string { return s.projectURL() + "/regions/" + region }
func (s *Server) instanceURL(zone, name string) string {
	return s.zoneURL(zone) + "/instances/" + name
}

// operation is a zonal operation, or a global one when zone is "".
type operation struct {
	pb      *computepb.Operation // guarded by Server.mu
	zone    string
	startAt time.Time     // PENDING before, RUNNING after (until DONE)
	done    chan struct{} // closed when pb reaches DONE
}

func (op *operation) isDone() bool {
	select {
	case <-op.done:
		return true
	default:
		return false
	}
}

// newOperation registers an operation that is PENDING for pendingFor, then
// RUNNING until it is finished, and remembers its requestId, so that a
// retry with the same requestId gets this operation back instead of acting
// twice. Caller holds s.mu.
func (s *Server) newOperation(kind, zone, targetLink string, targetID uint64, requestID string, pendingFor time.Duration) *operation {
	s.nextID++
	now := time.Now()
	startAt := now.Add(max(pendingFor, 0))
	name := fmt.Sprintf("operation-%d-%x", now.UnixMilli(), s.nextID)
	pb := &computepb.Operation{
		Kind:          proto.String("compute#operation"),
		Id:            proto.Uint64(s.nextID),
		Name:          proto.String(name),
		OperationType: proto.String(kind),
		TargetLink:    proto.String(targetLink),
		TargetId:      proto.Uint64(targetID),
		Status:        computepb.Operation_RUNNING.Enum(),
		Progress:      proto.Int32(0),
		InsertTime:    proto.String(timestamp(now)),
		StartTime:     proto.String(timestamp(startAt)),
		User:          proto.String("portico@" + s.opts.Project + ".iam.gserviceaccount.com"),
	}
	scope := "global"
	if zone != "" {
		scope = zone
		pb.Zone = proto.String(s.zoneURL(zone))
		pb.SelfLink = proto.String(s.zoneURL(zone) + "/operations/" + name)
	} else {
		pb.SelfLink = proto.String(s.projectURL() + "/global/operations/" + name)
	}
	if requestID != "" {
		pb.ClientOperationId = proto.String(requestID)
	}
	op := &operation{pb: pb, zone: zone, startAt: startAt, done: make(chan struct{})}
	s.ops[name] = op
	if requestID != "" {
		s.requestIDs[scope+"/"+requestID] = op
	}
	return op
}

// finishOperation marks op DONE, with an error when code is set. Failed
// operations carry httpErrorStatusCode unless bare errors are on. Caller
// holds s.mu.
func (s *Server) finishOperation(op *operation, code, message string) {
	if op.isDone() {
		return
	}
	op.pb.Status = computepb.Operation_DONE.Enum()
	op.pb.Progress = proto.Int32(100)
	op.pb.EndTime = proto.String(timestamp(time.Now()))
	if code != "" {
		op.pb.Error = &computepb.Error{Errors: []*computepb.Errors{{
			Code:    proto.String(code),
			Message: proto.String(message),
		}}}
		if !s.faults.bareOpErrors {
			status, text := operationHTTPStatus(code)
			op.pb.HttpErrorStatusCode = proto.Int32(int32(status))
			op.pb.HttpErrorMessage = proto.String(text)
		}
	}
	close(op.done)
}

// operationHTTPStatus is the httpErrorStatusCode Compute Engine sets for an
// operation error code.
func operationHTTPStatus(code string) (int, string) {
	switch code {
	case "ZONE_RESOURCE_POOL_EXHAUSTED", "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS":
		return http.StatusServiceUnavailable, "SERVICE UNAVAILABLE"
	case "QUOTA_EXCEEDED":
		return http.StatusForbidden, "FORBIDDEN"
	case "RESOURCE_NOT_FOUND":
		return http.StatusNotFound, "NOT FOUND"
	default:
		return http.StatusBadRequest, "BAD REQUEST"
	}
}

// after runs fn with s.mu held once d has passed; at once (and with the
// caller's lock) when d is not positive. Caller holds s.mu.
func (s *Server) after(d time.Duration, fn func()) {
	if d <= 0 {
		fn()
		return
	}
	time.AfterFunc(d, func() {
		if s.isClosed() {
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		fn()
	})
}

// snapshot is op as the API shows it at now: PENDING (not started yet),
// RUNNING, or DONE with or without an error. Caller holds s.mu.
func (op *operation) snapshot(now time.Time) *computepb.Operation {
	pb := proto.Clone(op.pb).(*computepb.Operation)
	if pb.GetStatus() != computepb.Operation_DONE && now.Before(op.startAt) {
		pb.Status = computepb.Operation_PENDING.Enum()
		pb.StartTime = nil
	}
	return pb
}

// renderOperation writes op as the API does. The reply to the request
// that created an operation always shows it PENDING, as a real insert
// reply does, even when the fake has already finished it; so an insert
// whose reply is DONE is always a requestId replay of an earlier call.
func (s *Server) renderOperation(op *operation, fresh bool) reply {
	s.mu.Lock()
	pb := op.snapshot(time.Now())
	s.mu.Unlock()
	if fresh {
		pb.Status = computepb.Operation_PENDING.Enum()
		pb.Progress = proto.Int32(0)
		pb.StartTime, pb.EndTime, pb.Error, pb.HttpErrorStatusCode, pb.HttpErrorMessage = nil, nil, nil, nil, nil
	}
	return okReply(pb)
}

func (s *Server) lookupOperation(r *http.Request) (*operation, reply, bool) {
	project, zone, name := r.PathValue("project"), r.PathValue("zone"), r.PathValue("op")
	if project != s.opts.Project {
		return nil, notFound("projects/" + project), false
	}
	s.mu.Lock()
	op := s.ops[name]
	s.mu.Unlock()
	if op == nil || op.zone != zone {
		where := "global"
		if zone != "" {
			where = "zones/" + zone
		}
		return nil, notFound("projects/" + project + "/" + where + "/operations/" + name), false
	}
	return op, reply{}, true
}

// getOperation serves zoneOperations.get and globalOperations.get.
func (s *Server) getOperation(r *http.Request) reply {
	op, rep, ok := s.lookupOperation(r)
	if !ok {
		return rep
	}
	return s.renderOperation(op, false)
}

// waitOperation serves operations.wait: it blocks until the operation is
// DONE or WaitTimeout has passed, then returns the operation either way.
func (s *Server) waitOperation(r *http.Request) reply {
	op, rep, ok := s.lookupOperation(r)
	if !ok {
		return rep
	}
	s.mu.Lock()
	early := s.takeWaitEarly()
	s.mu.Unlock()
	if !early {
		t := time.NewTimer(s.opts.WaitTimeout)
		defer t.Stop()
		select {
		case <-op.done:
		case <-t.C:
		case <-r.Context().Done():
			return reply{}
		case <-s.closed:
		}
	}
	return s.renderOperation(op, false)
}
