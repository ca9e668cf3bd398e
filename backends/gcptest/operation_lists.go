package gcptest

import (
	"net/http"
	"sort"
	"time"

	"cloud.google.com/go/compute/apiv1/computepb"
	"google.golang.org/protobuf/proto"
)

// aggregatedListOperations serves globalOperations.aggregatedList
// (GET /compute/v1/projects/{project}/aggregated/operations, as
// GlobalOperationsClient.AggregatedList of compute v1.75.0 sends it): the
// operations of every scope that match the filter, in creation order, one
// page of at most maxResults, grouped under "global" or "zones/<zone>".
// Scopes with nothing on the page carry the NO_RESULTS_ON_PAGE warning, as
// in the real API; the fake has no regional operations, so every
// "regions/<region>" scope carries it.
func (s *Server) aggregatedListOperations(r *http.Request) reply {
	if p := r.PathValue("project"); p != s.opts.Project {
		return notFound("projects/" + p)
	}
	f, err := parseFilter(r.URL.Query().Get("filter"))
	if err != nil {
		return invalid(err.Error())
	}
	type scoped struct {
		key string
		pb  *computepb.Operation
	}
	now := time.Now()
	s.mu.Lock()
	var items []scoped
	for _, op := range s.ops {
		pb := op.snapshot(now)
		if !f.matches(pb) {
			continue
		}
		key := "global"
		if op.zone != "" {
			key = "zones/" + op.zone
		}
		items = append(items, scoped{key, pb})
	}
	scopes := []string{"global"}
	for name, z := range s.zones {
		scopes = append(scopes, "zones/"+name, "regions/"+z.region)
	}
	s.mu.Unlock()
	sort.Slice(items, func(i, j int) bool { return items[i].pb.GetId() < items[j].pb.GetId() })
	page, next, rep, ok := paginate(r, len(items))
	if !ok {
		return rep
	}
	out := map[string]*computepb.OperationsScopedList{}
	for _, it := range items[page.start:page.end] {
		if out[it.key] == nil {
			out[it.key] = &computepb.OperationsScopedList{}
		}
		out[it.key].Operations = append(out[it.key].Operations, it.pb)
	}
	for _, key := range scopes {
		if out[key] == nil {
			out[key] = &computepb.OperationsScopedList{Warning: &computepb.Warning{
				Code:    proto.String("NO_RESULTS_ON_PAGE"),
				Message: proto.String("There are no results for scope '" + key + "' on this page."),
				Data:    []*computepb.Data{{Key: proto.String("scope"), Value: proto.String(key)}},
			}}
		}
	}
	return okReply(&computepb.OperationAggregatedList{
		Kind:          proto.String("compute#operationAggregatedList"),
		Id:            proto.String("projects/" + s.opts.Project + "/aggregated/operations"),
		Items:         out,
		NextPageToken: next,
		SelfLink:      proto.String(s.projectURL() + "/aggregated/operations"),
	})
}
