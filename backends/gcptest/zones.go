package gcptest

import (
	"io"
	"net/http"
	"sort"
	"time"

	"cloud.google.com/go/compute/apiv1/computepb"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

type zone struct {
	name, region, status string
}

type firewall struct {
	pb *computepb.Firewall
}

// zoneScope checks the project and zone of a zonal path.
func (s *Server) zoneScope(r *http.Request) (*zone, reply, bool) {
	project, name := r.PathValue("project"), r.PathValue("zone")
	if project != s.opts.Project {
		return nil, notFound("projects/" + project), false
	}
	s.mu.Lock()
	z := s.zones[name]
	s.mu.Unlock()
	if z == nil {
		return nil, notFound("projects/" + project + "/zones/" + name), false
	}
	return z, reply{}, true
}

// SetZoneStatus sets a zone's status ("UP" or "DOWN") as zones.list
// reports it.
func (s *Server) SetZoneStatus(zone, status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if z := s.zones[zone]; z != nil {
		z.status = status
	}
}

func (s *Server) renderZone(z *zone) *computepb.Zone {
	return &computepb.Zone{
		Kind:        proto.String("compute#zone"),
		Name:        proto.String(z.name),
		Description: proto.String(z.name),
		Region:      proto.String(s.regionURL(z.region)),
		Status:      proto.String(z.status),
		SelfLink:    proto.String(s.zoneURL(z.name)),
	}
}

// listZones serves zones.list, with filter, maxResults and pageToken.
func (s *Server) listZones(r *http.Request) reply {
	if p := r.PathValue("project"); p != s.opts.Project {
		return notFound("projects/" + p)
	}
	f, err := parseFilter(r.URL.Query().Get("filter"))
	if err != nil {
		return invalid(err.Error())
	}
	s.mu.Lock()
	var items []*computepb.Zone
	for _, z := range s.zones {
		zpb := s.renderZone(z)
		if f.matches(zpb) {
			items = append(items, zpb)
		}
	}
	s.mu.Unlock()
	sort.Slice(items, func(i, j int) bool { return items[i].GetName() < items[j].GetName() })
	page, next, rep, ok := paginate(r, len(items))
	if !ok {
		return rep
	}
	return okReply(&computepb.ZoneList{
		Kind:          proto.String("compute#zoneList"),
		Items:         items[page.start:page.end],
		NextPageToken: next,
		SelfLink:      proto.String(s.projectURL() + "/zones"),
	})
}

func (s *Server) getZone(r *http.Request) reply {
	z, rep, ok := s.zoneScope(r)
	if !ok {
		return rep
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return okReply(s.renderZone(z))
}

// getRegion serves regions.get, listing the region's zones.
func (s *Server) getRegion(r *http.Request) reply {
	project, name := r.PathValue("project"), r.PathValue("region")
	if project != s.opts.Project {
		return notFound("projects/" + project)
	}
	s.mu.Lock()
	var zones []string
	for _, z := range s.zones {
		if z.region == name {
			zones = append(zones, s.zoneURL(z.name))
		}
	}
	s.mu.Unlock()
	if len(zones) == 0 {
		return notFound("projects/" + project + "/regions/" + name)
	}
	sort.Strings(zones)
	return okReply(&computepb.Region{
		Kind:     proto.String("compute#region"),
		Name:     proto.String(name),
		Status:   proto.String("UP"),
		Zones:    zones,
		SelfLink: proto.String(s.regionURL(name)),
	})
}

func (s *Server) getFirewall(r *http.Request) reply {
	project, name := r.PathValue("project"), r.PathValue("name")
	if project != s.opts.Project {
		return notFound("projects/" + project)
	}
	s.mu.Lock()
	fw := s.firewalls[name]
	var pb *computepb.Firewall
	if fw != nil {
		pb = proto.Clone(fw.pb).(*computepb.Firewall)
	}
	s.mu.Unlock()
	if pb == nil {
		return notFound("projects/" + project + "/global/firewalls/" + name)
	}
	return okReply(pb)
}

// insertFirewall serves firewalls.insert: names are unique per project
// (409), requestIds are remembered, and the global operation is DONE as
// soon as it is read again.
func (s *Server) insertFirewall(r *http.Request) reply {
	if p := r.PathValue("project"); p != s.opts.Project {
		return notFound("projects/" + p)
	}
	rid := r.URL.Query().Get("requestId")
	if rep, ok := checkRequestID(rid); !ok {
		return rep
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return invalid("Invalid JSON payload received. " + err.Error())
	}
	fw := &computepb.Firewall{}
	if err := protojson.Unmarshal(body, fw); err != nil {
		return invalid("Invalid JSON payload received. " + err.Error())
	}
	if !nameRE.MatchString(fw.GetName()) {
		return invalid("Invalid value for field 'resource.name': '" + fw.GetName() + "'. Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'")
	}
	if len(fw.GetAllowed()) == 0 && len(fw.GetDenied()) == 0 {
		return invalid("Invalid value for field 'resource.allowed': ''. A firewall must allow or deny something.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if op := s.requestIDs["global/"+rid]; rid != "" && op != nil {
		return okReply(op.pb)
	}
	if s.firewalls[fw.GetName()] != nil {
		return apiError(http.StatusConflict, "alreadyExists",
			"The resource 'projects/"+s.opts.Project+"/global/firewalls/"+fw.GetName()+"' already exists")
	}
	s.nextID++
	link := s.projectURL() + "/global/firewalls/" + fw.GetName()
	fw.Kind = proto.String("compute#firewall")
	fw.Id = proto.Uint64(s.nextID)
	fw.SelfLink = proto.String(link)
	fw.CreationTimestamp = proto.String(timestamp(time.Now()))
	if fw.Network != nil && !isURL(fw.GetNetwork()) {
		fw.Network = proto.String(s.projectURL() + "/" + fw.GetNetwork())
	}
	s.firewalls[fw.GetName()] = &firewall{pb: fw}
	op := s.newOperation("insert", "", link, s.nextID, rid, 0)
	fresh := proto.Clone(op.pb).(*computepb.Operation)
	fresh.Status = computepb.Operation_PENDING.Enum()
	s.finishOperation(op, "", "")
	return okReply(fresh)
}

// Firewalls returns the firewall rules, sorted by name.
func (s *Server) Firewalls() []*computepb.Firewall {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*computepb.Firewall, 0, len(s.firewalls))
	for _, fw := range s.firewalls {
		out = append(out, proto.Clone(fw.pb).(*computepb.Firewall))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GetName() < out[j].GetName() })
	return out
}
