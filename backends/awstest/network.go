package awstest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// regionState is one region's world. Guarded by Server.mu.
type regionState struct {
	name      string
	zones     []string
	zoneIDs   map[string]string
	vpc       vpc
	subnets   []subnet // one default subnet per zone, in zone order
	groups    []*secGroup
	instances map[string]*instance
	order     []*instance // launch order, for stable pagination
	tokens    map[string]*tokenEntry
}

type vpc struct{ id, cidr string }

type subnet struct{ id, zone, zoneID, cidr string }

// stableID derives an EC2-shaped id from names, so a region's VPC, subnets
// and images have the same ids in every fake (tests can name them up front).
func stableID(prefix string, parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "/")))
	return prefix + "-0" + hex.EncodeToString(sum[:])[:16]
}

// zoneAbbrev turns "eu-west-1" into "euw1" and "ap-southeast-2" into
// "apse2", the way EC2 spells zone ids.
func zoneAbbrev(region string) string {
	dirs := map[string]string{"north": "n", "south": "s", "east": "e", "west": "w", "central": "c",
		"northeast": "ne", "northwest": "nw", "southeast": "se", "southwest": "sw"}
	parts := strings.Split(region, "-")
	var b strings.Builder
	for i, p := range parts {
		if d, ok := dirs[p]; ok && i > 0 {
			b.WriteString(d)
		} else {
			b.WriteString(p)
		}
	}
	return b.String()
}

func (s *Server) newRegion(name string) *regionState {
	r := &regionState{
		name:      name,
		zoneIDs:   map[string]string{},
		vpc:       vpc{id: stableID("vpc", name, "default"), cidr: "127.0.0.0/8"},
		instances: map[string]*instance{},
		tokens:    map[string]*tokenEntry{},
	}
	for i := range s.opts.ZonesPerRegion {
		zone := name + string(rune('a'+i))
		r.zones = append(r.zones, zone)
		r.zoneIDs[zone] = fmt.Sprintf("%s-az%d", zoneAbbrev(name), i+1)
		r.subnets = append(r.subnets, subnet{
			id: stableID("subnet", name, zone), zone: zone, zoneID: r.zoneIDs[zone],
			cidr: fmt.Sprintf("127.%d.0.0/16", 100+i),
		})
	}
	r.groups = append(r.groups, &secGroup{
		id: stableID("sg", name, "default"), name: "default", vpcID: r.vpc.id,
		desc:   "default VPC security group",
		egress: []rule{{proto: "-1", from: -1, to: -1, cidr: "0.0.0.0/0"}},
	})
	return r
}

func (r *regionState) subnetByID(id string) (subnet, bool) {
	for _, sn := range r.subnets {
		if sn.id == id {
			return sn, true
		}
	}
	return subnet{}, false
}

func (r *regionState) subnetInZone(zone string) (subnet, bool) {
	for _, sn := range r.subnets {
		if sn.zone == zone {
			return sn, true
		}
	}
	return subnet{}, false
}

// DefaultVPC is the id of a region's default VPC.
func (s *Server) DefaultVPC(region string) string { return stableID("vpc", region, "default") }

// SubnetID is the id of the default subnet of zone (e.g. "eu-west-1b").
func (s *Server) SubnetID(region, zone string) string { return stableID("subnet", region, zone) }

func (s *Server) describeAvailabilityZones(region string, q query) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.regions[region]
	names := q.list("ZoneName")
	for _, n := range names {
		if _, ok := r.zoneIDs[n]; !ok {
			return nil, badRequest("InvalidParameterValue", "The zone '%s' does not exist.", n)
		}
	}
	out := &describeAvailabilityZonesResponse{}
	for _, z := range r.zones {
		if len(names) > 0 && !matchAny(names, z) {
			continue
		}
		fields := map[string]string{"zone-name": z, "zone-id": r.zoneIDs[z], "state": "available",
			"region-name": region, "zone-type": "availability-zone", "opt-in-status": "opt-in-not-required",
			"group-name": region}
		ok, err := matchFields(q.filters(), fields, nil)
		if err != nil {
			return nil, err
		}
		if ok {
			out.Zones = append(out.Zones, zoneXML{ZoneName: z, ZoneID: r.zoneIDs[z], State: "available",
				RegionName: region, ZoneType: "availability-zone", OptInStatus: "opt-in-not-required",
				GroupName: region, NetworkBorderGroup: region})
		}
	}
	return out, nil
}

func (s *Server) describeVpcs(region string, q query) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.regions[region]
	for _, id := range q.list("VpcId") {
		if id != r.vpc.id {
			return nil, badRequest("InvalidVpcID.NotFound", "The vpc ID '%s' does not exist", id)
		}
	}
	fields := map[string]string{"vpc-id": r.vpc.id, "is-default": "true", "isDefault": "true",
		"state": "available", "cidr": r.vpc.cidr, "cidr-block-association.cidr-block": r.vpc.cidr, "owner-id": AccountID}
	ok, err := matchFields(q.filters(), fields, nil)
	if err != nil {
		return nil, err
	}
	out := &describeVpcsResponse{}
	if ok {
		out.Vpcs = append(out.Vpcs, vpcXML{VpcID: r.vpc.id, OwnerID: AccountID, State: "available",
			CidrBlock: r.vpc.cidr, DhcpOptionsID: stableID("dopt", region), InstanceTenancy: "default", IsDefault: true})
	}
	return out, nil
}

func (s *Server) describeSubnets(region string, q query) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.regions[region]
	ids := q.list("SubnetId")
	for _, id := range ids {
		if _, ok := r.subnetByID(id); !ok {
			return nil, badRequest("InvalidSubnetID.NotFound", "The subnet ID '%s' does not exist", id)
		}
	}
	out := &describeSubnetsResponse{}
	for _, sn := range r.subnets {
		if len(ids) > 0 && !matchAny(ids, sn.id) {
			continue
		}
		fields := map[string]string{"subnet-id": sn.id, "vpc-id": r.vpc.id, "availability-zone": sn.zone,
			"availability-zone-id": sn.zoneID, "default-for-az": "true", "defaultForAz": "true",
			"state": "available", "cidr-block": sn.cidr, "map-public-ip-on-launch": "true", "owner-id": AccountID}
		ok, err := matchFields(q.filters(), fields, nil)
		if err != nil {
			return nil, err
		}
		if ok {
			out.Subnets = append(out.Subnets, subnetXML{SubnetID: sn.id, VpcID: r.vpc.id, OwnerID: AccountID,
				State: "available", CidrBlock: sn.cidr, AvailableIPs: 65530, Zone: sn.zone, ZoneID: sn.zoneID,
				DefaultForAz: true, MapPublicIPOnLaunch: true})
		}
	}
	return out, nil
}

// matchFields applies Describe filters to a resource given as field values
// plus its tags; a filter name the resource does not know is an error, as
// in EC2.
func matchFields(filters []filter, fields map[string]string, tags map[string]string) (bool, *apiError) {
	for _, f := range filters {
		var ok bool
		switch {
		case strings.HasPrefix(f.name, "tag:"):
			v, has := tags[strings.TrimPrefix(f.name, "tag:")]
			ok = has && matchAny(f.values, v)
		case f.name == "tag-key":
			for k := range tags {
				ok = ok || matchAny(f.values, k)
			}
		case f.name == "tag-value":
			for _, v := range tags {
				ok = ok || matchAny(f.values, v)
			}
		default:
			v, known := fields[f.name]
			if !known {
				return false, badRequest("InvalidParameterValue", "The filter '%s' is invalid", f.name)
			}
			ok = matchAny(f.values, v)
		}
		if !ok {
			return false, nil
		}
	}
	return true, nil
}
