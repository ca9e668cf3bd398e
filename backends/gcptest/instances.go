package gcptest

import (
	"io"
	"net/http"
	"strconv"
	"time"

	"cloud.google.com/go/compute/apiv1/computepb"
	"github.com/google/uuid"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// instance is one VM. pb is the resource as inserted; the fields the
// server owns (status, addresses, links) are added when it is rendered.
type instance struct {
	pb                   *computepb.Instance
	id                   uint64
	zone                 string
	created              time.Time
	stagingAt, runningAt time.Time
	fixedStatus          string // seeded instances keep the status they were given
	public               bool   // the insert asked for a ONE_TO_ONE_NAT access config
	internalIP, natIP    string
	requestID            string
	deleting             bool
	deleteOps            []*operation
	health               *healthEndpoints
	healthErr            string
}

func (in *instance) name() string { return in.pb.GetName() }

// status is the instance's lifecycle state at now.
func (in *instance) status(now time.Time) string {
	switch {
	case in.deleting:
		return "STOPPING"
	case in.fixedStatus != "":
		return in.fixedStatus
	case !now.Before(in.runningAt):
		return "RUNNING"
	case !now.Before(in.stagingAt):
		return "STAGING"
	default:
		return "PROVISIONING"
	}
}

// render returns the instance as instances.get shows it. Caller holds s.mu.
func (s *Server) render(in *instance, now time.Time) *computepb.Instance {
	pb := proto.Clone(in.pb).(*computepb.Instance)
	status := in.status(now)
	pb.Kind = proto.String("compute#instance")
	pb.Id = proto.Uint64(in.id)
	pb.Zone = proto.String(s.zoneURL(in.zone))
	pb.SelfLink = proto.String(s.instanceURL(in.zone, in.name()))
	pb.CreationTimestamp = proto.String(timestamp(in.created))
	pb.Status = proto.String(status)
	if mt := pb.GetMachineType(); mt != "" && !isURL(mt) {
		pb.MachineType = proto.String(s.projectURL() + "/" + mt)
	}
	for i, ni := range pb.NetworkInterfaces {
		ni.Name = proto.String("nic" + strconv.Itoa(i))
		if ni.Network != nil && !isURL(ni.GetNetwork()) {
			ni.Network = proto.String(s.projectURL() + "/" + ni.GetNetwork())
		}
		if i == 0 {
			ni.NetworkIP = proto.String(in.internalIP)
		}
		for _, ac := range ni.AccessConfigs {
			ac.NatIP = nil
			if i == 0 && status == "RUNNING" {
				ac.NatIP = proto.String(in.natIP)
			}
		}
	}
	return pb
}

// insertInstance serves instances.insert: requestId replay first, then
// name uniqueness in the zone (409), then an operation that finishes after
// InsertLatency, with an error when a fault says so.
func (s *Server) insertInstance(r *http.Request) reply {
	z, rep, ok := s.zoneScope(r)
	if !ok {
		return rep
	}
	rid := r.URL.Query().Get("requestId")
	if rep, ok := checkRequestID(rid); !ok {
		return rep
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil {
		return invalid("Invalid JSON payload received. " + err.Error())
	}
	in := &computepb.Instance{}
	if err := protojson.Unmarshal(body, in); err != nil {
		return invalid("Invalid JSON payload received. " + err.Error())
	}
	if msg := validateInstance(in, z.name); msg != "" {
		return invalid(msg)
	}
	s.mu.Lock()
	if op := s.requestIDs[z.name+"/"+rid]; rid != "" && op != nil {
		s.mu.Unlock()
		return s.renderOperation(op, false)
	}
	if s.instances[z.name+"/"+in.GetName()] != nil {
		s.mu.Unlock()
		return apiError(http.StatusConflict, "alreadyExists",
			"The resource 'projects/"+s.opts.Project+"/zones/"+z.name+"/instances/"+in.GetName()+"' already exists")
	}
	s.nextID++
	id := s.nextID
	op := s.newOperation("insert", z.name, s.instanceURL(z.name, in.GetName()), id, rid, s.opts.InsertLatency/4)
	if code, msg, failed := s.takeInsertFailure(z.name); failed {
		s.after(s.opts.InsertLatency, func() { s.finishOperation(op, code, msg) })
	} else {
		s.addInstance(&instance{pb: in, id: id, zone: z.name, requestID: rid}, time.Now())
		s.after(s.opts.InsertLatency, func() { s.finishOperation(op, "", "") })
	}
	s.mu.Unlock()
	return s.renderOperation(op, true)
}

// addInstance registers in, assigns its loopback addresses and schedules
// its health endpoints. Caller holds s.mu.
func (s *Server) addInstance(in *instance, now time.Time) {
	if in.created.IsZero() {
		in.created = now
	}
	in.stagingAt = now.Add(s.opts.RunningAfter / 2)
	in.runningAt = now.Add(s.opts.RunningAfter)
	if in.fixedStatus != "" {
		in.stagingAt, in.runningAt = now, now
	}
	for _, ni := range in.pb.GetNetworkInterfaces() {
		if len(ni.GetAccessConfigs()) > 0 {
			in.public = true
		}
	}
	in.internalIP, in.natIP = allocateAddresses()
	s.instances[in.zone+"/"+in.name()] = in
	if s.opts.ServeHealth {
		s.after(time.Until(in.runningAt), func() {
			if s.instances[in.zone+"/"+in.name()] == in && in.status(time.Now()) == "RUNNING" {
				s.startHealth(in)
			}
		})
	}
}

func (s *Server) getInstance(r *http.Request) reply {
	z, rep, ok := s.zoneScope(r)
	if !ok {
		return rep
	}
	name := r.PathValue("name")
	s.mu.Lock()
	in := s.instances[z.name+"/"+name]
	var pb *computepb.Instance
	if in != nil {
		pb = s.render(in, time.Now())
	}
	s.mu.Unlock()
	if pb == nil {
		return notFound("projects/" + s.opts.Project + "/zones/" + z.name + "/instances/" + name)
	}
	return okReply(pb)
}

// deleteInstance serves instances.delete: the instance goes STOPPING at
// once and is gone (404) after DeleteLatency, when the operation is DONE.
func (s *Server) deleteInstance(r *http.Request) reply {
	z, rep, ok := s.zoneScope(r)
	if !ok {
		return rep
	}
	rid := r.URL.Query().Get("requestId")
	if rep, ok := checkRequestID(rid); !ok {
		return rep
	}
	name := r.PathValue("name")
	s.mu.Lock()
	if op := s.requestIDs[z.name+"/"+rid]; rid != "" && op != nil {
		s.mu.Unlock()
		return s.renderOperation(op, false)
	}
	in := s.instances[z.name+"/"+name]
	if in == nil {
		s.mu.Unlock()
		return notFound("projects/" + s.opts.Project + "/zones/" + z.name + "/instances/" + name)
	}
	op := s.newOperation("delete", z.name, s.instanceURL(z.name, name), in.id, rid, s.opts.DeleteLatency/4)
	in.deleteOps = append(in.deleteOps, op)
	s.beginDelete(in)
	s.mu.Unlock()
	return s.renderOperation(op, true)
}

// beginDelete moves in to STOPPING and removes it after DeleteLatency.
// Caller holds s.mu.
func (s *Server) beginDelete(in *instance) {
	if in.deleting {
		return
	}
	in.deleting = true
	in.stopHealth()
	s.after(s.opts.DeleteLatency, func() {
		key := in.zone + "/" + in.name()
		if s.instances[key] == in {
			delete(s.instances, key)
		}
		for _, op := range in.deleteOps {
			s.finishOperation(op, "", "")
		}
		in.deleteOps = nil
	})
}

// checkRequestID applies the API's rule: a requestId must be a valid UUID
// other than the zero UUID.
func checkRequestID(rid string) (reply, bool) {
	if rid == "" {
		return reply{}, true
	}
	if u, err := uuid.Parse(rid); err != nil || u == uuid.Nil {
		return invalid("Invalid value for field 'requestId': '" + rid + "'. The requestId must be a valid UUID with the exception that zero UUID is not supported."), false
	}
	return reply{}, true
}
