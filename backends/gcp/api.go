package gcp

import (
	"context"
	"errors"

	compute "cloud.google.com/go/compute/apiv1"
	"cloud.google.com/go/compute/apiv1/computepb"
	gax "github.com/googleapis/gax-go/v2"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
	"google.golang.org/protobuf/proto"
)

// computeAPI is the part of the Compute Engine API this backend uses, in
// the project it was built for. Operations come back as plain protos: the
// backend watches them itself (poller.go) and reads their error field,
// instead of trusting the client's Operation.Wait.
type computeAPI interface {
	InsertInstance(ctx context.Context, zone string, inst *computepb.Instance, requestID string) (*computepb.Operation, error)
	GetInstance(ctx context.Context, zone, name string) (*computepb.Instance, error)
	DeleteInstance(ctx context.Context, zone, name, requestID string) (*computepb.Operation, error)
	// ListInstances is one instances.aggregatedList (all pages) with filter.
	ListInstances(ctx context.Context, filter string) ([]*computepb.Instance, error)
	WaitZoneOperation(ctx context.Context, zone, name string) (*computepb.Operation, error)
	// ListOperations is one globalOperations.aggregatedList (all pages)
	// with filter: operations of every scope, zonal ones included.
	ListOperations(ctx context.Context, filter string) ([]*computepb.Operation, error)
	ListZones(ctx context.Context, filter string) ([]*computepb.Zone, error)
	GetFirewall(ctx context.Context, name string) (*computepb.Firewall, error)
	InsertFirewall(ctx context.Context, fw *computepb.Firewall, requestID string) (*computepb.Operation, error)
	WaitGlobalOperation(ctx context.Context, name string) (*computepb.Operation, error)
	Close() error
}

// restAPI is computeAPI on the generated REST clients.
type restAPI struct {
	project   string
	instances *compute.InstancesClient
	zoneOps   *compute.ZoneOperationsClient
	zones     *compute.ZonesClient
	firewalls *compute.FirewallsClient
	globalOps *compute.GlobalOperationsClient
}

// noRetry turns off the clients' built-in retries. The generated defaults
// retry reads on 503/504 with no attempt limit inside a 600 s timeout and
// never retry writes; one bounded, logged policy (retry.go) is easier to
// reason about and lets writes be retried safely with the same requestId.
var noRetry = gax.WithRetry(func() gax.Retryer { return nil })

func newRESTAPI(ctx context.Context, project string, opts []option.ClientOption) (*restAPI, error) {
	a := &restAPI{project: project}
	var err error
	if a.instances, err = compute.NewInstancesRESTClient(ctx, opts...); err != nil {
		return nil, err
	}
	if a.zoneOps, err = compute.NewZoneOperationsRESTClient(ctx, opts...); err != nil {
		return nil, errors.Join(err, a.Close())
	}
	if a.zones, err = compute.NewZonesRESTClient(ctx, opts...); err != nil {
		return nil, errors.Join(err, a.Close())
	}
	if a.firewalls, err = compute.NewFirewallsRESTClient(ctx, opts...); err != nil {
		return nil, errors.Join(err, a.Close())
	}
	if a.globalOps, err = compute.NewGlobalOperationsRESTClient(ctx, opts...); err != nil {
		return nil, errors.Join(err, a.Close())
	}
	return a, nil
}

func (a *restAPI) Close() error {
	var errs []error
	if a.instances != nil {
		errs = append(errs, a.instances.Close())
	}
	if a.zoneOps != nil {
		errs = append(errs, a.zoneOps.Close())
	}
	if a.zones != nil {
		errs = append(errs, a.zones.Close())
	}
	if a.firewalls != nil {
		errs = append(errs, a.firewalls.Close())
	}
	if a.globalOps != nil {
		errs = append(errs, a.globalOps.Close())
	}
	return errors.Join(errs...)
}

func (a *restAPI) InsertInstance(ctx context.Context, zone string, inst *computepb.Instance, requestID string) (*computepb.Operation, error) {
	op, err := a.instances.Insert(ctx, &computepb.InsertInstanceRequest{
		Project: a.project, Zone: zone, InstanceResource: inst, RequestId: proto.String(requestID),
	}, noRetry)
	if err != nil {
		return nil, err
	}
	return op.Proto(), nil
}

func (a *restAPI) GetInstance(ctx context.Context, zone, name string) (*computepb.Instance, error) {
	return a.instances.Get(ctx, &computepb.GetInstanceRequest{Project: a.project, Zone: zone, Instance: name}, noRetry)
}

func (a *restAPI) DeleteInstance(ctx context.Context, zone, name, requestID string) (*computepb.Operation, error) {
	op, err := a.instances.Delete(ctx, &computepb.DeleteInstanceRequest{
		Project: a.project, Zone: zone, Instance: name, RequestId: proto.String(requestID),
	}, noRetry)
	if err != nil {
		return nil, err
	}
	return op.Proto(), nil
}

func (a *restAPI) ListInstances(ctx context.Context, filter string) ([]*computepb.Instance, error) {
	return drain(ctx, func() ([]*computepb.Instance, error) {
		it := a.instances.AggregatedList(ctx, &computepb.AggregatedListInstancesRequest{
			Project: a.project, Filter: proto.String(filter),
		}, noRetry)
		return collect(it.Next, func(p compute.InstancesScopedListPair) []*computepb.Instance { return p.Value.GetInstances() })
	})
}

func (a *restAPI) WaitZoneOperation(ctx context.Context, zone, name string) (*computepb.Operation, error) {
	return a.zoneOps.Wait(ctx, &computepb.WaitZoneOperationRequest{Project: a.project, Zone: zone, Operation: name}, noRetry)
}

func (a *restAPI) ListOperations(ctx context.Context, filter string) ([]*computepb.Operation, error) {
	return drain(ctx, func() ([]*computepb.Operation, error) {
		it := a.globalOps.AggregatedList(ctx, &computepb.AggregatedListGlobalOperationsRequest{
			Project: a.project, Filter: proto.String(filter),
		}, noRetry)
		return collect(it.Next, func(p compute.OperationsScopedListPair) []*computepb.Operation { return p.Value.GetOperations() })
	})
}

func (a *restAPI) ListZones(ctx context.Context, filter string) ([]*computepb.Zone, error) {
	return drain(ctx, func() ([]*computepb.Zone, error) {
		it := a.zones.List(ctx, &computepb.ListZonesRequest{Project: a.project, Filter: proto.String(filter)}, noRetry)
		return collect(it.Next, func(z *computepb.Zone) []*computepb.Zone { return []*computepb.Zone{z} })
	})
}

func (a *restAPI) GetFirewall(ctx context.Context, name string) (*computepb.Firewall, error) {
	return a.firewalls.Get(ctx, &computepb.GetFirewallRequest{Project: a.project, Firewall: name}, noRetry)
}

func (a *restAPI) InsertFirewall(ctx context.Context, fw *computepb.Firewall, requestID string) (*computepb.Operation, error) {
	op, err := a.firewalls.Insert(ctx, &computepb.InsertFirewallRequest{
		Project: a.project, FirewallResource: fw, RequestId: proto.String(requestID),
	}, noRetry)
	if err != nil {
		return nil, err
	}
	return op.Proto(), nil
}

func (a *restAPI) WaitGlobalOperation(ctx context.Context, name string) (*computepb.Operation, error) {
	return a.globalOps.Wait(ctx, &computepb.WaitGlobalOperationRequest{Project: a.project, Operation: name}, noRetry)
}

// collect reads an iterator to its end, gathering the values of each item.
func collect[P, T any](next func() (P, error), values func(P) []T) ([]T, error) {
	var out []T
	for {
		p, err := next()
		if errors.Is(err, iterator.Done) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, values(p)...)
	}
}

// drain runs a paged listing so that the caller can stop waiting when ctx
// ends. The generated list methods build their HTTP requests without the
// context (compute v1.75.0), so a cancelled ctx does not abort a page that
// is already in flight; the abandoned goroutine ends with that request.
func drain[T any](ctx context.Context, list func() ([]T, error)) ([]T, error) {
	type result struct {
		items []T
		err   error
	}
	ch := make(chan result, 1)
	go func() {
		items, err := list()
		ch <- result{items, err}
	}()
	select {
	case r := <-ch:
		return r.items, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
