package aws

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"golang.org/x/sync/singleflight"

	"github.com/portico-dev/portico/backends"
)

// GroupName is the security group every Portico instance of a VPC shares.
const GroupName = "portico-gateway"

// setupTimeout bounds one region's discovery. Discovery runs detached from
// the caller that started it, because concurrent launches wait for its
// result and must not fail because the first caller gave up.
const setupTimeout = 2 * time.Minute

// regionState is what the backend knows about one region: its client and
// the results of the one-time discovery, shared by all launches there.
type regionState struct {
	name   string
	client ec2API
	flight singleflight.Group

	mu    sync.Mutex
	net   *network
	amis  map[string]string // architecture → image id
	ports map[int]bool      // extra ingress ports opened (health ports)
}

// network is where instances of a region go.
type network struct {
	vpcID   string
	slots   []slot // ordered by zone; a launch starts at slots[ZoneIndex % len]
	groupID string
}

// slot is one subnet, hence one zone.
type slot struct{ zone, subnetID string }

func newRegionState(name string, client ec2API) *regionState {
	return &regionState{name: name, client: client, amis: map[string]string{}, ports: map[int]bool{}}
}

// once runs fn for key at most once at a time: concurrent callers share its
// result. A failure is not cached, so a later call tries again.
func (r *regionState) once(ctx context.Context, key string, fn func(context.Context) (any, error)) (any, error) {
	ch := r.flight.DoChan(key, func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), setupTimeout)
		defer cancel()
		return fn(fctx)
	})
	select {
	case res := <-ch:
		return res.Val, res.Err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// forget drops the cached discovery so the next launch redoes it.
func (r *regionState) forget() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.net = nil
	r.amis = map[string]string{}
	r.ports = map[int]bool{}
}

// network returns the region's subnets and security group, discovering
// (and creating the group) on first use.
func (b *backend) network(ctx context.Context, r *regionState) (*network, error) {
	r.mu.Lock()
	n := r.net
	r.mu.Unlock()
	if n != nil {
		return n, nil
	}
	v, err := r.once(ctx, "network", func(ctx context.Context) (any, error) {
		n, err := b.discoverNetwork(ctx, r)
		if err == nil {
			r.mu.Lock()
			r.net = n
			r.mu.Unlock()
		}
		return n, err
	})
	if err != nil {
		return nil, err
	}
	return v.(*network), nil
}

func (b *backend) discoverNetwork(ctx context.Context, r *regionState) (*network, error) {
	n := &network{vpcID: b.cfg.VPCID}
	var subnets []types.Subnet
	if len(b.cfg.SubnetIDs) > 0 {
		b.debug("DescribeSubnets", r.name, "")
		out, err := r.client.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: b.cfg.SubnetIDs})
		if err != nil {
			return nil, classify(err, "find the configured subnets %v in %s (subnet_ids must exist in every region used)", b.cfg.SubnetIDs, r.name)
		}
		subnets = out.Subnets
		for _, sn := range subnets {
			vpc := awssdk.ToString(sn.VpcId)
			if n.vpcID != "" && vpc != n.vpcID {
				return nil, permanent("InvalidSubnetID.Mismatch", "subnet %s is in %s, not in VPC %s", awssdk.ToString(sn.SubnetId), vpc, n.vpcID)
			}
			n.vpcID = vpc
		}
	} else {
		var err error
		if n.vpcID == "" {
			if n.vpcID, err = b.defaultVPC(ctx, r); err != nil {
				return nil, err
			}
		}
		if subnets, err = b.vpcSubnets(ctx, r, n.vpcID); err != nil {
			return nil, err
		}
	}
	n.slots = slotsOf(subnets, len(b.cfg.SubnetIDs) == 0)
	if len(n.slots) == 0 {
		return nil, permanent("InvalidSubnetID.NotFound", "no usable subnet in VPC %s in %s; set subnet_ids in the aws config", n.vpcID, r.name)
	}
	groupID, err := b.ensureGroup(ctx, r, n.vpcID)
	if err != nil {
		return nil, err
	}
	n.groupID = groupID
	return n, nil
}

func (b *backend) defaultVPC(ctx context.Context, r *regionState) (string, error) {
	b.debug("DescribeVpcs", r.name, "")
	out, err := r.client.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: []types.Filter{filter("is-default", "true")}})
	if err != nil {
		return "", classify(err, "find the default VPC of %s", r.name)
	}
	if len(out.Vpcs) == 0 {
		return "", permanent("VPCIdNotSpecified", "%s has no default VPC; set vpc_id or subnet_ids in the aws config", r.name)
	}
	return awssdk.ToString(out.Vpcs[0].VpcId), nil
}

// vpcSubnets returns one subnet per available zone of the VPC, preferring
// the zone's default subnet.
func (b *backend) vpcSubnets(ctx context.Context, r *regionState, vpcID string) ([]types.Subnet, error) {
	b.debug("DescribeAvailabilityZones", r.name, "")
	zones, err := r.client.DescribeAvailabilityZones(ctx, &ec2.DescribeAvailabilityZonesInput{
		Filters: []types.Filter{filter("zone-type", "availability-zone"), filter("state", "available")}})
	if err != nil {
		return nil, classify(err, "list the availability zones of %s", r.name)
	}
	usable := map[string]bool{}
	for _, z := range zones.AvailabilityZones {
		usable[awssdk.ToString(z.ZoneName)] = true
	}
	b.debug("DescribeSubnets", r.name, "")
	out, err := r.client.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{
		Filters: []types.Filter{filter("vpc-id", vpcID), filter("state", "available")}})
	if err != nil {
		return nil, classify(err, "list the subnets of VPC %s in %s", vpcID, r.name)
	}
	best := map[string]types.Subnet{}
	for _, sn := range out.Subnets {
		zone := awssdk.ToString(sn.AvailabilityZone)
		if !usable[zone] {
			continue
		}
		cur, ok := best[zone]
		if !ok || awssdk.ToBool(sn.DefaultForAz) && !awssdk.ToBool(cur.DefaultForAz) ||
			awssdk.ToBool(sn.DefaultForAz) == awssdk.ToBool(cur.DefaultForAz) && awssdk.ToString(sn.SubnetId) < awssdk.ToString(cur.SubnetId) {
			best[zone] = sn
		}
	}
	subnets := make([]types.Subnet, 0, len(best))
	for _, sn := range best {
		subnets = append(subnets, sn)
	}
	return subnets, nil
}

// slotsOf orders subnets by zone (then id), so ZoneIndex maps to the same
// zone on every run. With onePerZone, later subnets of a zone are dropped.
func slotsOf(subnets []types.Subnet, onePerZone bool) []slot {
	var out []slot
	for _, sn := range subnets {
		out = append(out, slot{zone: awssdk.ToString(sn.AvailabilityZone), subnetID: awssdk.ToString(sn.SubnetId)})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].zone != out[j].zone {
			return out[i].zone < out[j].zone
		}
		return out[i].subnetID < out[j].subnetID
	})
	if onePerZone {
		dedup := out[:0]
		for i, s := range out {
			if i == 0 || s.zone != out[i-1].zone {
				dedup = append(dedup, s)
			}
		}
		out = dedup
	}
	return out
}

func filter(name string, values ...string) types.Filter {
	return types.Filter{Name: awssdk.String(name), Values: values}
}

func permanent(code, format string, args ...any) *backends.Error {
	return &backends.Error{Kind: backends.Permanent, Code: code, Message: fmt.Sprintf(format, args...)}
}
