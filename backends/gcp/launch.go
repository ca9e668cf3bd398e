package gcp

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"cloud.google.com/go/compute/apiv1/computepb"
	"google.golang.org/protobuf/proto"

	"github.com/portico-dev/portico/backends"
)

var (
	tokenRE       = regexp.MustCompile(`^[a-z0-9-]{1,64}$`)
	machineTypeRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)
)

// maxStaleReplay bounds the stale failed operations (requestId replays)
// one zone attempt steps over.
const maxStaleReplay = 8

// Launch starts the replica's instance, or returns the one its token
// already started. Zones are tried from zones[ZoneIndex % n] on, moving on
// only when a zone has no capacity; every other failure ends the launch.
func (b *backend) Launch(ctx context.Context, req backends.LaunchRequest) (backends.Instance, error) {
	what := fmt.Sprintf("launch replica %d of %q", req.ReplicaNum, req.Gateway)
	req, script, err := b.prepare(req)
	if err != nil {
		return backends.Instance{}, &backends.Error{Kind: backends.Permanent, Code: "INVALID_REQUEST", Message: what + ": " + err.Error()}
	}
	if req.Resume {
		found, err := b.findByToken(ctx, req.Install, req.Token)
		if err != nil {
			return backends.Instance{}, fmt.Errorf("%s: look for an earlier instance: %w", what, err)
		}
		if found != nil {
			b.log.InfoContext(ctx, "gcp: adopted instance", "instance", found.ID, "zone", found.Zone, "token", req.Token)
			return *found, nil
		}
	}
	zones, err := b.zonesOf(ctx, req.Region)
	if err != nil {
		return backends.Instance{}, fmt.Errorf("%s: %w", what, err)
	}
	if err := b.ensureFirewalls(ctx, req.HealthPort); err != nil {
		return backends.Instance{}, fmt.Errorf("%s: %w", what, err)
	}
	name := InstanceName(req.Gateway, req.ReplicaNum, req.Token)
	n := len(zones)
	start := (req.ZoneIndex%n + n) % n
	var tried []string
	var last *backends.Error
	for i := range n {
		zone := zones[(start+i)%n]
		tried = append(tried, zone)
		in, err := b.launchInZone(ctx, req, zone, name, script)
		if err == nil {
			in.Data["zones_tried"] = strings.Join(tried, ",")
			return in, nil
		}
		var be *backends.Error
		if !errors.As(err, &be) || be.Kind != backends.Capacity {
			if be != nil {
				be.ZonesTried = tried
			}
			return backends.Instance{}, fmt.Errorf("%s: %w", what, err)
		}
		last = be
		b.log.InfoContext(ctx, "gcp: no capacity, trying the next zone", "zone", zone, "code", be.Code, "token", req.Token)
	}
	return backends.Instance{}, &backends.Error{
		Kind:       backends.Capacity,
		Code:       last.Code,
		Message:    fmt.Sprintf("no capacity for %s in %s (tried %s)", req.InstanceType, req.Region, shortZones(tried)),
		ZonesTried: tried,
		Err:        last,
	}
}

// prepare fills defaults, checks what the API would reject late (or what
// would be unsafe in the startup script) and renders that script.
func (b *backend) prepare(req backends.LaunchRequest) (backends.LaunchRequest, string, error) {
	req.InstanceType = firstNonEmpty(req.InstanceType, DefaultInstanceType)
	req.HealthPath = firstNonEmpty(req.HealthPath, "/healthz")
	if req.HealthPort == 0 {
		req.HealthPort = 80
	}
	switch {
	case !tokenRE.MatchString(req.Token):
		return req, "", fmt.Errorf("token %q is not 1..64 characters of [a-z0-9-]", req.Token)
	case req.Install == "":
		return req, "", fmt.Errorf("no installation id: instances without one could never be listed or swept")
	case !machineTypeRE.MatchString(req.InstanceType):
		return req, "", fmt.Errorf("instance type %q is not a Compute Engine machine type (e.g. e2-small)", req.InstanceType)
	}
	script, err := startupScript(req.Gateway, req.ReplicaNum, req.Domain, req.HealthPath, req.HealthPort)
	return req, script, err
}

// launchInZone inserts the instance in one zone and waits for the insert.
// An insert reply is PENDING or RUNNING when the request is new, so one
// that is already DONE with an error is the server replaying an earlier
// failed try with the same requestId: the next try then uses a requestId
// chained from that operation, as does a retry after a transient failure.
// The operation is awaited through the poller, which shares its calls
// with every other launch and deletion in flight.
func (b *backend) launchInZone(ctx context.Context, req backends.LaunchRequest, zone, name, script string) (backends.Instance, error) {
	res := b.instanceResource(req, zone, name, script)
	rid := RequestID(req.Token, zone)
	what := "insert instance " + name + " in " + zone
	stale, failures := 0, 0
	for {
		var op *computepb.Operation
		err := b.retry(ctx, what, func(ctx context.Context) error {
			var err error
			op, err = b.api.InsertInstance(ctx, zone, res, rid)
			return err
		})
		if isAlreadyExists(err) {
			return b.adopt(ctx, zone, name, req.Token)
		}
		if err != nil {
			return backends.Instance{}, err
		}
		if op.GetStatus() == computepb.Operation_DONE && operationError(op) != nil && stale < maxStaleReplay {
			stale++
			rid = chainRequestID(rid, op.GetName())
			continue
		}
		if op, err = b.ops.await(ctx, zone, op); err != nil {
			return backends.Instance{}, err
		}
		if oe := operationError(op); oe != nil {
			oe.Message = what + ": " + oe.Message
			failures++
			if oe.Kind != backends.Transient || failures >= b.cfg.Retry.MaxAttempts {
				return backends.Instance{}, oe
			}
			if err := sleep(ctx, b.backoff(failures, nil)); err != nil {
				return backends.Instance{}, fmt.Errorf("%s: %w (last error: %v)", what, err, oe)
			}
			rid = chainRequestID(rid, op.GetName())
			continue
		}
		return launched(res, zone, op), nil
	}
}

// launched is the instance a successful insert created, as far as the
// request and the operation tell: pending, named, labelled, created at the
// operation's insertTime, without addresses yet. Reading it back would
// cost a call per replica; the callers' batched Describe reports its state
// and hostname.
func launched(res *computepb.Instance, zone string, op *computepb.Operation) backends.Instance {
	return toInstance(&computepb.Instance{
		Name:              res.Name,
		Zone:              proto.String(zone),
		Status:            proto.String("PROVISIONING"),
		Labels:            res.Labels,
		Metadata:          res.Metadata,
		CreationTimestamp: op.InsertTime,
		SelfLink:          op.TargetLink,
	})
}

// instanceResource is the insert body: deterministic name, labels, the
// network tag the firewall targets, the boot image, a NAT address only
// when the replica is public, and the startup-script.
func (b *backend) instanceResource(req backends.LaunchRequest, zone, name, script string) *computepb.Instance {
	ni := &computepb.NetworkInterface{Network: proto.String(networkPath(b.cfg.Network))}
	if sub := subnetworkPath(b.cfg.Subnetwork, req.Region); sub != "" {
		ni.Subnetwork = proto.String(sub)
	}
	if req.PublicIP {
		ni.AccessConfigs = []*computepb.AccessConfig{{Name: proto.String("External NAT"), Type: proto.String("ONE_TO_ONE_NAT")}}
	}
	return &computepb.Instance{
		Name:        proto.String(name),
		Description: proto.String(fmt.Sprintf("Portico gateway %s, replica %d, attempt %d", req.Gateway, req.ReplicaNum, req.Attempt)),
		MachineType: proto.String("zones/" + zone + "/machineTypes/" + req.InstanceType),
		Labels:      labels(req, b.cfg.ExtraLabels),
		Tags:        &computepb.Tags{Items: []string{networkTag}},
		Disks: []*computepb.AttachedDisk{{
			Boot: proto.Bool(true), AutoDelete: proto.Bool(true), Type: proto.String("PERSISTENT"),
			InitializeParams: &computepb.AttachedDiskInitializeParams{SourceImage: proto.String(b.cfg.Image)},
		}},
		NetworkInterfaces: []*computepb.NetworkInterface{ni},
		Metadata: &computepb.Metadata{Items: []*computepb.Items{
			{Key: proto.String("startup-script"), Value: proto.String(script)},
			{Key: proto.String(metadataToken), Value: proto.String(req.Token)},
		}},
	}
}

// adopt handles 409 alreadyExists: the name is the token's, so the
// instance is ours if its token says so; anything else holding the name
// is a conflict no retry can solve.
func (b *backend) adopt(ctx context.Context, zone, name, token string) (backends.Instance, error) {
	var pb *computepb.Instance
	err := b.retry(ctx, "get instance "+name+" in "+zone, func(ctx context.Context) error {
		var err error
		pb, err = b.api.GetInstance(ctx, zone, name)
		return err
	})
	if isNotFound(err) {
		return backends.Instance{}, &backends.Error{Kind: backends.Transient, Code: "alreadyExists",
			Message: fmt.Sprintf("instance %s in %s existed a moment ago and is gone now; try again", name, zone), Err: err}
	}
	if err != nil {
		return backends.Instance{}, err
	}
	if tokenOf(pb) != token {
		return backends.Instance{}, &backends.Error{Kind: backends.Permanent, Code: "NAME_TAKEN",
			Message: fmt.Sprintf("instance name %s in %s is taken by an instance with another token (%q)", name, zone, tokenOf(pb))}
	}
	return toInstance(pb), nil
}

// shortZones writes zones as "europe-west1-b, -c, -d".
func shortZones(zones []string) string {
	parts := make([]string, len(zones))
	for i, z := range zones {
		parts[i] = z
		if i > 0 && regionOf(z) == regionOf(zones[0]) {
			parts[i] = "-" + z[strings.LastIndex(z, "-")+1:]
		}
	}
	return strings.Join(parts, ", ")
}
