package gcptest

import (
	"encoding/base64"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/compute/apiv1/computepb"
	"google.golang.org/protobuf/proto"
)

// listInstances serves instances.list for one zone.
func (s *Server) listInstances(r *http.Request) reply {
	z, rep, ok := s.zoneScope(r)
	if !ok {
		return rep
	}
	items, rep, ok := s.matchingInstances(r, z.name)
	if !ok {
		return rep
	}
	page, next, rep, ok := paginate(r, len(items))
	if !ok {
		return rep
	}
	return okReply(&computepb.InstanceList{
		Kind:          proto.String("compute#instanceList"),
		Items:         items[page.start:page.end],
		NextPageToken: next,
		SelfLink:      proto.String(s.zoneURL(z.name) + "/instances"),
	})
}

// aggregatedListInstances serves instances.aggregatedList: one page of the
// matching instances of every zone, keyed "zones/<zone>"; zones with
// nothing on the page get the NO_RESULTS_ON_PAGE warning, as in the real
// API.
func (s *Server) aggregatedListInstances(r *http.Request) reply {
	if p := r.PathValue("project"); p != s.opts.Project {
		return notFound("projects/" + p)
	}
	items, rep, ok := s.matchingInstances(r, "")
	if !ok {
		return rep
	}
	page, next, rep, ok := paginate(r, len(items))
	if !ok {
		return rep
	}
	scoped := map[string]*computepb.InstancesScopedList{}
	for _, in := range items[page.start:page.end] {
		key := "zones/" + lastSegment(in.GetZone())
		if scoped[key] == nil {
			scoped[key] = &computepb.InstancesScopedList{}
		}
		scoped[key].Instances = append(scoped[key].Instances, in)
	}
	s.mu.Lock()
	for name := range s.zones {
		key := "zones/" + name
		if scoped[key] == nil {
			scoped[key] = &computepb.InstancesScopedList{Warning: &computepb.Warning{
				Code:    proto.String("NO_RESULTS_ON_PAGE"),
				Message: proto.String("There are no results for scope '" + key + "' on this page."),
				Data:    []*computepb.Data{{Key: proto.String("scope"), Value: proto.String(key)}},
			}}
		}
	}
	s.mu.Unlock()
	return okReply(&computepb.InstanceAggregatedList{
		Kind:          proto.String("compute#instanceAggregatedList"),
		Id:            proto.String("projects/" + s.opts.Project + "/aggregated/instances"),
		Items:         scoped,
		NextPageToken: next,
		SelfLink:      proto.String(s.projectURL() + "/aggregated/instances"),
	})
}

// matchingInstances renders the instances of zone ("" for all zones) that
// match the request's filter, sorted by zone and name.
func (s *Server) matchingInstances(r *http.Request, zone string) ([]*computepb.Instance, reply, bool) {
	f, err := parseFilter(r.URL.Query().Get("filter"))
	if err != nil {
		return nil, invalid(err.Error()), false
	}
	now := time.Now()
	s.mu.Lock()
	var out []*computepb.Instance
	for _, in := range s.instances {
		if zone != "" && in.zone != zone {
			continue
		}
		if pb := s.render(in, now); f.matches(pb) {
			out = append(out, pb)
		}
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].GetZone() != out[j].GetZone() {
			return out[i].GetZone() < out[j].GetZone()
		}
		return out[i].GetName() < out[j].GetName()
	})
	return out, reply{}, true
}

type pageBounds struct{ start, end int }

// paginate applies maxResults (0..500, default 500) and pageToken to a
// list of n items and returns the next page token, if any.
func paginate(r *http.Request, n int) (pageBounds, *string, reply, bool) {
	q := r.URL.Query()
	limit := 500
	if v := q.Get("maxResults"); v != "" {
		m, err := strconv.Atoi(v)
		if err != nil || m < 0 || m > 500 {
			return pageBounds{}, nil, invalid("Invalid value for field 'maxResults': '" + v + "'. Must be in the range [0, 500]."), false
		}
		if m > 0 {
			limit = m
		}
	}
	start := 0
	if tok := q.Get("pageToken"); tok != "" {
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		offset, ok := strings.CutPrefix(string(raw), "offset:")
		start, err2 := strconv.Atoi(offset)
		if err != nil || !ok || err2 != nil || start < 0 || start > n {
			return pageBounds{}, nil, invalid("Invalid value for field 'pageToken': '" + tok + "'. Invalid page token."), false
		}
		return bounds(start, limit, n)
	}
	return bounds(start, limit, n)
}

func bounds(start, limit, n int) (pageBounds, *string, reply, bool) {
	end := min(start+limit, n)
	var next *string
	if end < n {
		next = proto.String(base64.RawURLEncoding.EncodeToString([]byte("offset:" + strconv.Itoa(end))))
	}
	return pageBounds{start: start, end: end}, next, reply{}, true
}

func lastSegment(s string) string { return s[strings.LastIndex(s, "/")+1:] }
