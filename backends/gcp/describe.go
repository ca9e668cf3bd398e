package gcp

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/compute/apiv1/computepb"
	"github.com/google/uuid"

	"github.com/portico-dev/portico/backends"
)

// describeBatch caps the names in one aggregatedList filter, keeping the
// filter a reasonable length; a gateway has far fewer replicas.
const describeBatch = 100

// Describe reads every ref with one instances.aggregatedList call (per 100
// refs), filtered on the instance names. Names are used rather than the
// installation label because a ref carries only the name, and a name
// filter needs no memory of earlier launches (a fresh process describes
// what the store recorded). Refs whose name is not found, or not a valid
// instance name, come back terminated.
func (b *backend) Describe(ctx context.Context, refs ...backends.InstanceRef) ([]backends.Instance, error) {
	var names []string
	for _, r := range refs {
		if nameRE.MatchString(r.ID) && !slices.Contains(names, r.ID) {
			names = append(names, r.ID)
		}
	}
	found := map[string][]*computepb.Instance{}
	for chunk := range slices.Chunk(names, describeBatch) {
		pbs, err := b.listInstances(ctx, "describe instances", nameFilter(chunk))
		if err != nil {
			return nil, err
		}
		for _, pb := range pbs {
			found[pb.GetName()] = append(found[pb.GetName()], pb)
		}
	}
	out := make([]backends.Instance, len(refs))
	for i, ref := range refs {
		out[i] = backends.Instance{ID: ref.ID, Region: ref.Region, Zone: ref.Zone, State: backends.StateTerminated, Data: map[string]string{}}
		for _, pb := range found[ref.ID] {
			// Names are unique per zone only: prefer the ref's zone.
			if z := lastSegment(pb.GetZone()); ref.Zone == "" || z == ref.Zone {
				out[i] = toInstance(pb)
				break
			}
		}
	}
	return out, nil
}

// Terminate deletes the instance and waits for the deletion to finish
// (through the poller, so concurrent deletions share their polling calls),
// so that success means the instance is gone. Not found (now, or by the
// time the delete runs) is success.
func (b *backend) Terminate(ctx context.Context, ref backends.InstanceRef) error {
	if !nameRE.MatchString(ref.ID) {
		return nil // no instance can have this name
	}
	zone := ref.Zone
	if zone == "" {
		got, err := b.Describe(ctx, ref)
		if err != nil {
			return err
		}
		if got[0].State.Gone() {
			return nil
		}
		zone = got[0].Zone
	}
	what := "delete instance " + ref.ID + " in " + zone
	// One requestId for this call's retries only: a derived one would make
	// a later delete of a re-created instance replay this old operation.
	rid := uuid.NewString()
	var op *computepb.Operation
	err := b.retry(ctx, what, func(ctx context.Context) error {
		var err error
		op, err = b.api.DeleteInstance(ctx, zone, ref.ID, rid)
		return err
	})
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if op, err = b.ops.await(ctx, zone, op); err != nil {
		return err
	}
	if oe := operationError(op); oe != nil && oe.Code != "RESOURCE_NOT_FOUND" {
		oe.Message = what + ": " + oe.Message
		return oe
	}
	return nil
}

// List returns the installation's instances, optionally of one gateway or
// token, with one aggregatedList call filtered on labels. Instances being
// deleted (STOPPING) are left out: on GCE a deletion shows as STOPPING
// until the instance is gone. A plain stop looks the same for a moment,
// then the instance is listed again as stopped.
func (b *backend) List(ctx context.Context, f backends.ListFilter) ([]backends.Instance, error) {
	if f.Install == "" {
		return nil, &backends.Error{Kind: backends.Permanent, Code: "INVALID_REQUEST", Message: "list instances: an installation id is required"}
	}
	pbs, err := b.listInstances(ctx, "list instances", labelFilter(f.Install, f.Gateway, f.Token))
	if err != nil {
		return nil, err
	}
	var out []backends.Instance
	for _, pb := range pbs {
		in := toInstance(pb)
		switch {
		case pb.GetStatus() == "STOPPING":
		case f.Token != "" && in.Token != f.Token: // labels may hold a shortened token
		case f.Regions != nil && !slices.Contains(f.Regions, in.Region):
		default:
			out = append(out, in)
		}
	}
	return out, nil
}

// findByToken finds the instance an earlier launch with token started,
// with one aggregatedList call, for Resume.
func (b *backend) findByToken(ctx context.Context, install, token string) (*backends.Instance, error) {
	found, err := b.List(ctx, backends.ListFilter{Install: install, Token: token})
	if err != nil || len(found) == 0 {
		return nil, err
	}
	slices.SortFunc(found, func(a, b backends.Instance) int { return a.LaunchedAt.Compare(b.LaunchedAt) })
	return &found[0], nil
}

func (b *backend) listInstances(ctx context.Context, what, filter string) ([]*computepb.Instance, error) {
	var pbs []*computepb.Instance
	err := b.retry(ctx, what, func(ctx context.Context) error {
		var err error
		pbs, err = b.api.ListInstances(ctx, filter)
		return err
	})
	return pbs, err
}

// nameFilter matches any of names: (name = "a") OR (name = "b"). Names
// were checked against nameRE, so they need no escaping.
func nameFilter(names []string) string {
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("(name = %q)", n)
	}
	return strings.Join(parts, " OR ")
}

// labelFilter matches Portico's labels; empty values match anything.
// labelValue leaves only [a-z0-9_-], so the values need no escaping.
func labelFilter(install, gateway, token string) string {
	parts := []string{fmt.Sprintf("(labels.%s = %q)", backends.TagInstall, labelValue(install))}
	if gateway != "" {
		parts = append(parts, fmt.Sprintf("(labels.%s = %q)", backends.TagGateway, labelValue(gateway)))
	}
	if token != "" {
		parts = append(parts, fmt.Sprintf("(labels.%s = %q)", backends.TagToken, labelValue(token)))
	}
	return strings.Join(parts, " AND ")
}

// toInstance reads an instance back: state, hostname, and the tags from
// labels (the token from metadata first, where it is never shortened).
func toInstance(pb *computepb.Instance) backends.Instance {
	zone := lastSegment(pb.GetZone())
	l := pb.GetLabels()
	in := backends.Instance{
		ID: pb.GetName(), Zone: zone, Region: regionOf(zone), State: stateOf(pb.GetStatus()),
		Token: tokenOf(pb), Install: l[backends.TagInstall], Gateway: l[backends.TagGateway],
		Data: map[string]string{},
	}
	in.ReplicaNum, _ = strconv.Atoi(l[backends.TagReplica])
	in.LaunchedAt, _ = time.Parse(time.RFC3339, pb.GetCreationTimestamp())
	public := false
	for _, ni := range pb.GetNetworkInterfaces() {
		if ip := ni.GetNetworkIP(); ip != "" && in.Data["internal_ip"] == "" {
			in.Data["internal_ip"] = ip
		}
		for _, ac := range ni.GetAccessConfigs() {
			public = true
			if ip := ac.GetNatIP(); ip != "" && in.Data["nat_ip"] == "" {
				in.Data["nat_ip"] = ip
			}
		}
	}
	// A public replica is reached at its NAT address only; until it has one
	// the hostname stays empty rather than pointing at a private address.
	in.Hostname = in.Data["internal_ip"]
	if public {
		in.Hostname = in.Data["nat_ip"]
	}
	if link := pb.GetSelfLink(); link != "" {
		in.Data["self_link"] = link
	}
	return in
}

// stateOf maps GCE instance statuses onto Portico's. GCE's TERMINATED
// means stopped (the VM still exists); a deleted VM is simply not found.
func stateOf(status string) backends.InstanceState {
	switch status {
	case "RUNNING":
		return backends.StateRunning
	case "STOPPING", "SUSPENDING":
		return backends.StateStopping
	case "TERMINATED", "SUSPENDED", "STOPPED":
		return backends.StateStopped
	default: // PROVISIONING, STAGING, REPAIRING, PENDING
		return backends.StatePending
	}
}

func tokenOf(pb *computepb.Instance) string {
	for _, item := range pb.GetMetadata().GetItems() {
		if item.GetKey() == metadataToken {
			return item.GetValue()
		}
	}
	return pb.GetLabels()[backends.TagToken]
}

// regionOf is a zone's region: the zone name without its last part.
func regionOf(zone string) string {
	if i := strings.LastIndex(zone, "-"); i > 0 {
		return zone[:i]
	}
	return zone
}
