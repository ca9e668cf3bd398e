package awstest

import (
	"encoding/base64"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"strings"
	"time"
)

// instance is one fake EC2 instance. Guarded by Server.mu.
type instance struct {
	id, region, zone, state, reason  string
	tags                             map[string]string
	clientToken, instanceType, image string
	subnetID, vpcID, reservationID   string
	groups                           []string
	userData                         string
	launchTime, stateSince           time.Time
	visibleAt                        time.Time // EC2's eventual consistency
	ipIndex                          int
	privateIP, publicIP              string
	wantPublic                       bool
	seq                              int
	health                           int // status the health endpoint answers; 0 means 200
}

// tokenEntry remembers what a ClientToken launched, for idempotency. EC2
// remembers tokens for at least 24 hours, longer than a fake lives.
type tokenEntry struct {
	key           string
	reservationID string
	ids           []string
}

// State codes as EC2 numbers them.
var stateCodes = map[string]int{"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48, "stopping": 64, "stopped": 80}

var (
	instanceTypeRE = regexp.MustCompile(`^[a-z][a-z0-9-]*\.[a-z0-9]+$`)
)

// ipAddr returns the n-th loopback address of a range: base 10 for public
// addresses (127.0.10.1, ...), 20 for private ones.
func ipAddr(base, n int) string {
	block, within := n/2540, n%2540
	return fmt.Sprintf("127.%d.%d.%d", block, base+within/254, 1+within%254)
}

// publicDNS and privateDNS name an address the way EC2 does (the public
// one under a domain that never resolves).
func publicDNS(ip, region string) string {
	return "ec2-" + strings.ReplaceAll(ip, ".", "-") + "." + region + ".compute.fake"
}

func privateDNS(ip, region string) string {
	return "ip-" + strings.ReplaceAll(ip, ".", "-") + "." + region + ".compute.internal"
}

func (s *Server) runInstances(region string, q query) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.regions[region]
	token := q.get("ClientToken")
	if len(token) > 64 {
		return nil, badRequest("InvalidParameterValue", "Value (%s) for parameter clientToken is invalid. Length exceeds maximum of 64", token)
	}
	if e := r.tokens[token]; token != "" && e != nil {
		return s.replay(r, e, q)
	}
	spec, apiErr := s.parseLaunch(r, q)
	if apiErr != nil {
		return nil, apiErr
	}
	if !s.hasCapacity(region, spec.subnet.zone) {
		return nil, s.capacityError(r, spec.instanceType, spec.subnet.zone)
	}
	s.seq++
	resID := fmt.Sprintf("r-0%s%08x", s.prefix, s.seq)
	now := time.Now()
	var made []*instance
	for range spec.count {
		s.seq++
		inst := &instance{
			id: fmt.Sprintf("i-0%s%08x", s.prefix, s.seq), region: region, zone: spec.subnet.zone,
			state: "pending", tags: maps.Clone(spec.tags), clientToken: token, instanceType: spec.instanceType,
			image: spec.image, subnetID: spec.subnet.id, vpcID: r.vpc.id, reservationID: resID,
			groups: spec.groups, userData: spec.userData, launchTime: now.Truncate(time.Second),
			stateSince: now, visibleAt: now.Add(s.opts.ConsistencyDelay), wantPublic: spec.public,
		}
		s.addInstance(r, inst)
		made = append(made, inst)
	}
	if token != "" {
		e := &tokenEntry{key: q.key(), reservationID: resID}
		for _, inst := range made {
			e.ids = append(e.ids, inst.id)
		}
		r.tokens[token] = e
	}
	return &runInstancesResponse{reservationXML: s.reservationXML(resID, made)}, nil
}

// addInstance registers inst, gives it addresses and schedules its start.
func (s *Server) addInstance(r *regionState, inst *instance) {
	inst.seq = s.seq
	inst.ipIndex = s.ips
	s.ips++
	inst.privateIP = ipAddr(20, inst.ipIndex)
	r.instances[inst.id] = inst
	r.order = append(r.order, inst)
	switch inst.state {
	case "pending":
		s.after(s.opts.RunningAfter, func() { s.toRunning(inst) })
	case "running":
		inst.state = "pending"
		s.toRunning(inst)
	case "shutting-down":
		s.after(s.opts.TerminateAfter, func() { s.toTerminated(inst) })
	}
}

// replay answers a RunInstances whose token was seen before, as EC2 does:
// the same instances for the same request, an error for a changed one.
func (s *Server) replay(r *regionState, e *tokenEntry, q query) (any, *apiError) {
	if e.key != q.key() {
		return nil, badRequest("IdempotentParameterMismatch",
			"Arguments on this idempotent request are inconsistent with arguments used in previous request(s).")
	}
	var insts []*instance
	gone := true
	for _, id := range e.ids {
		if inst := r.instances[id]; inst != nil {
			insts = append(insts, inst)
			gone = gone && (inst.state == "terminated" || inst.state == "shutting-down")
		}
	}
	if gone {
		return nil, badRequest("IdempotentInstanceTerminated",
			"The client token %s was used by a previous request whose instances have been terminated.", q.get("ClientToken"))
	}
	return &runInstancesResponse{reservationXML: s.reservationXML(e.reservationID, insts)}, nil
}

func (s *Server) capacityError(r *regionState, instanceType, zone string) *apiError {
	var others []string
	for _, z := range r.zones {
		if z != zone && s.hasCapacity(r.name, z) {
			others = append(others, z)
		}
	}
	msg := fmt.Sprintf("We currently do not have sufficient %s capacity in the Availability Zone you requested (%s). "+
		"Our system will be working on provisioning additional capacity.", instanceType, zone)
	if len(others) > 0 {
		msg += fmt.Sprintf(" You can currently get %s capacity by not specifying an Availability Zone in your request or choosing %s.",
			instanceType, strings.Join(others, ", "))
	}
	return errorf(http.StatusInternalServerError, "InsufficientInstanceCapacity", "%s", msg)
}

// launchSpec is a validated RunInstances request.
type launchSpec struct {
	count               int
	image, instanceType string
	subnet              subnet
	groups              []string
	public              bool
	userData            string
	tags                map[string]string
}

func (s *Server) parseLaunch(r *regionState, q query) (launchSpec, *apiError) {
	var sp launchSpec
	minCount, hasMin, err1 := q.intParam("MinCount")
	maxCount, hasMax, err2 := q.intParam("MaxCount")
	if err := firstErr(err1, err2); err != nil {
		return sp, err
	}
	switch {
	case !hasMin || !hasMax:
		return sp, badRequest("MissingParameter", "The request must contain the parameters MinCount and MaxCount")
	case minCount < 1 || maxCount < minCount || maxCount > 100:
		return sp, badRequest("InvalidParameterValue", "Invalid MinCount %d / MaxCount %d", minCount, maxCount)
	}
	sp.count = maxCount
	sp.image = q.get("ImageId")
	img, apiErr := s.checkImage(r.name, sp.image)
	if apiErr != nil {
		return sp, apiErr
	}
	sp.instanceType = q.get("InstanceType")
	if sp.instanceType == "" {
		sp.instanceType = "m1.small" // EC2's historical default
	}
	if !instanceTypeRE.MatchString(sp.instanceType) {
		return sp, badRequest("InvalidParameterValue", "Invalid value '%s' for InstanceType.", sp.instanceType)
	}
	if arch := typeArch(sp.instanceType); arch != img.Architecture {
		return sp, badRequest("InvalidParameterValue", "The architecture '%s' of the specified instance type does not match the architecture '%s' of the specified AMI.", arch, img.Architecture)
	}
	if sp.subnet, sp.groups, sp.public, apiErr = s.parseNetwork(r, q); apiErr != nil {
		return sp, apiErr
	}
	if sp.userData = q.get("UserData"); sp.userData != "" {
		raw, err := base64.StdEncoding.DecodeString(sp.userData)
		if err != nil {
			return sp, badRequest("InvalidParameterValue", "Invalid BASE64 encoding of user data.")
		}
		if len(raw) > 16384 {
			return sp, badRequest("InvalidParameterValue", "User data is limited to 16384 bytes")
		}
	}
	sp.tags = map[string]string{}
	for _, spec := range q.tagSpecs() {
		switch spec.resourceType {
		case "instance":
			if err := validateTags(spec.tags); err != nil {
				return sp, err
			}
			for _, t := range spec.tags {
				sp.tags[t.key] = t.value
			}
		case "volume", "network-interface":
		default:
			return sp, badRequest("InvalidParameterValue", "'%s' is not a valid taggable resource type for this operation.", spec.resourceType)
		}
	}
	return sp, nil
}

// parseNetwork decides subnet, security groups and public addressing the
// way EC2 does, including its refusal to mix instance-level and
// network-interface-level settings.
func (s *Server) parseNetwork(r *regionState, q query) (subnet, []string, bool, *apiError) {
	hasNI := len(q.indexes("NetworkInterface")) > 0
	subnetID, groups, names := q.get("SubnetId"), q.list("SecurityGroupId"), q.list("SecurityGroup")
	public := true // default subnets map public IPs on launch
	if hasNI {
		switch {
		case subnetID != "":
			return subnet{}, nil, false, badRequest("InvalidParameterCombination", "Network interfaces and an instance-level subnet ID may not be specified on the same request")
		case len(groups) > 0 || len(names) > 0:
			return subnet{}, nil, false, badRequest("InvalidParameterCombination", "Network interfaces and an instance-level security groups may not be specified on the same request")
		}
		subnetID, groups = q.get("NetworkInterface.1.SubnetId"), q.list("NetworkInterface.1.SecurityGroupId")
		if v := q.get("NetworkInterface.1.AssociatePublicIpAddress"); v != "" {
			public = v == "true"
		}
	}
	zone := q.get("Placement.AvailabilityZone")
	var sn subnet
	switch {
	case subnetID != "":
		var ok bool
		if sn, ok = r.subnetByID(subnetID); !ok {
			return sn, nil, false, badRequest("InvalidSubnetID.NotFound", "The subnet ID '%s' does not exist", subnetID)
		}
		if zone != "" && zone != sn.zone {
			return sn, nil, false, badRequest("InvalidParameterValue", "Subnet %s is not in availability zone %s", subnetID, zone)
		}
	case zone != "":
		var ok bool
		if sn, ok = r.subnetInZone(zone); !ok {
			return sn, nil, false, badRequest("InvalidParameterValue", "Invalid availability zone: [%s]", zone)
		}
	default: // EC2 picks a zone with capacity
		sn = r.subnets[0]
		for _, cand := range r.subnets {
			if s.hasCapacity(r.name, cand.zone) {
				sn = cand
				break
			}
		}
	}
	for _, n := range names {
		for _, g := range r.groups {
			if g.name == n && g.vpcID == r.vpc.id {
				groups = append(groups, g.id)
			}
		}
	}
	if len(groups) == 0 {
		groups = []string{r.groups[0].id}
	}
	for _, id := range groups {
		if g := r.group(id); g == nil || g.vpcID != r.vpc.id {
			return sn, nil, false, badRequest("InvalidGroup.NotFound", "The security group '%s' does not exist in VPC '%s'", id, r.vpc.id)
		}
	}
	return sn, groups, public, nil
}
