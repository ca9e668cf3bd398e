package awstest

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

type secGroup struct {
	id, name, desc, vpcID string
	ingress, egress       []rule
	tags                  []tag
}

// rule is one permission; from and to are -1 for "all" protocols.
type rule struct {
	proto    string
	from, to int
	cidr     string
	desc     string
}

// SecurityGroup is a snapshot of one security group, for tests.
type SecurityGroup struct {
	ID, Name, Description, VpcID string
	// Ingress lists rules as "tcp/80-80 0.0.0.0/0".
	Ingress []string
	Tags    map[string]string
}

// SecurityGroups returns a snapshot of a region's security groups.
func (s *Server) SecurityGroups(region string) []SecurityGroup {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.regions[region]
	if r == nil {
		return nil
	}
	var out []SecurityGroup
	for _, g := range r.groups {
		sg := SecurityGroup{ID: g.id, Name: g.name, Description: g.desc, VpcID: g.vpcID, Tags: map[string]string{}}
		for _, ru := range g.ingress {
			sg.Ingress = append(sg.Ingress, fmt.Sprintf("%s/%d-%d %s", ru.proto, ru.from, ru.to, ru.cidr))
		}
		for _, t := range g.tags {
			sg.Tags[t.key] = t.value
		}
		out = append(out, sg)
	}
	return out
}

func (r *regionState) group(id string) *secGroup {
	for _, g := range r.groups {
		if g.id == id {
			return g
		}
	}
	return nil
}

func (s *Server) describeSecurityGroups(region string, q query) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.regions[region]
	ids, names := q.list("GroupId"), q.list("GroupName")
	for _, id := range ids {
		if r.group(id) == nil {
			return nil, badRequest("InvalidGroup.NotFound", "The security group '%s' does not exist", id)
		}
	}
	for _, n := range names {
		found := false
		for _, g := range r.groups {
			found = found || g.name == n && g.vpcID == r.vpc.id
		}
		if !found {
			return nil, badRequest("InvalidGroup.NotFound", "The security group '%s' does not exist in default VPC '%s'", n, r.vpc.id)
		}
	}
	out := &describeSecurityGroupsResponse{}
	for _, g := range r.groups {
		if len(ids) > 0 && !matchAny(ids, g.id) || len(names) > 0 && !matchAny(names, g.name) {
			continue
		}
		tags := map[string]string{}
		for _, t := range g.tags {
			tags[t.key] = t.value
		}
		fields := map[string]string{"group-id": g.id, "group-name": g.name, "vpc-id": g.vpcID,
			"description": g.desc, "owner-id": AccountID}
		ok, err := matchFields(q.filters(), fields, tags)
		if err != nil {
			return nil, err
		}
		if ok {
			out.Groups = append(out.Groups, securityGroupXML{OwnerID: AccountID, GroupID: g.id, GroupName: g.name,
				Description: g.desc, VpcID: g.vpcID, Ingress: permissionsXML(g.ingress),
				Egress: permissionsXML(g.egress), Tags: tagsXML(g.tags)})
		}
	}
	return out, nil
}

func permissionsXML(rules []rule) []permissionXML {
	var out []permissionXML
	for _, ru := range rules {
		p := permissionXML{Protocol: ru.proto, Ranges: []ipRangeXML{{CidrIP: ru.cidr, Description: ru.desc}}}
		if ru.proto != "-1" {
			from, to := ru.from, ru.to
			p.FromPort, p.ToPort = &from, &to
		}
		out = append(out, p)
	}
	return out
}

func tagsXML(tags []tag) []tagXML {
	var out []tagXML
	for _, t := range tags {
		out = append(out, tagXML{Key: t.key, Value: t.value})
	}
	return out
}

func (s *Server) createSecurityGroup(region string, q query) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.regions[region]
	name, desc, vpcID := q.get("GroupName"), q.get("GroupDescription"), q.get("VpcId")
	switch {
	case name == "":
		return nil, badRequest("MissingParameter", "The request must contain the parameter GroupName")
	case desc == "":
		return nil, badRequest("MissingParameter", "The request must contain the parameter GroupDescription")
	case len(name) > 255 || strings.HasPrefix(strings.ToLower(name), "sg-"):
		return nil, badRequest("InvalidParameterValue", "Value (%s) for parameter GroupName is invalid. Group names may not be in the format sg-*.", name)
	}
	if vpcID == "" {
		vpcID = r.vpc.id
	}
	if vpcID != r.vpc.id {
		return nil, badRequest("InvalidVpcID.NotFound", "The vpc ID '%s' does not exist", vpcID)
	}
	for _, g := range r.groups {
		if g.name == name && g.vpcID == vpcID {
			return nil, badRequest("InvalidGroup.Duplicate", "The security group '%s' already exists for VPC '%s'", name, vpcID)
		}
	}
	var tags []tag
	for _, spec := range q.tagSpecs() {
		if spec.resourceType != "security-group" {
			return nil, badRequest("InvalidParameterValue", "'%s' is not a valid taggable resource type for this operation.", spec.resourceType)
		}
		tags = append(tags, spec.tags...)
	}
	if err := validateTags(tags); err != nil {
		return nil, err
	}
	s.seq++
	g := &secGroup{id: fmt.Sprintf("sg-0%s%08x", s.prefix, s.seq), name: name, desc: desc, vpcID: vpcID, tags: tags,
		egress: []rule{{proto: "-1", from: -1, to: -1, cidr: "0.0.0.0/0"}}}
	r.groups = append(r.groups, g)
	return &createSecurityGroupResponse{Return: true, GroupID: g.id}, nil
}

func (s *Server) authorizeSecurityGroupIngress(region string, q query) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.regions[region]
	var g *secGroup
	switch id, name := q.get("GroupId"), q.get("GroupName"); {
	case id != "":
		if g = r.group(id); g == nil {
			return nil, badRequest("InvalidGroup.NotFound", "The security group '%s' does not exist", id)
		}
	case name != "":
		for _, cand := range r.groups {
			if cand.name == name && cand.vpcID == r.vpc.id {
				g = cand
			}
		}
		if g == nil {
			return nil, badRequest("InvalidGroup.NotFound", "The security group '%s' does not exist in default VPC '%s'", name, r.vpc.id)
		}
	default:
		return nil, badRequest("MissingParameter", "The request must contain the parameter groupId or groupName")
	}
	var add []rule
	for _, n := range q.indexes("IpPermissions") {
		p := "IpPermissions." + strconv.Itoa(n)
		proto := strings.ToLower(q.get(p + ".IpProtocol"))
		from, _, err1 := q.intParam(p + ".FromPort")
		to, _, err2 := q.intParam(p + ".ToPort")
		if err := firstErr(err1, err2); err != nil {
			return nil, err
		}
		switch proto {
		case "tcp", "udp", "6", "17":
			if from < 0 || to > 65535 || from > to {
				return nil, badRequest("InvalidParameterValue", "Invalid port range %d-%d", from, to)
			}
		case "-1", "all":
			proto, from, to = "-1", -1, -1
		case "icmp", "1":
		default:
			return nil, badRequest("InvalidParameterValue", "Invalid value '%s' for IP protocol. Unknown protocol.", proto)
		}
		for _, m := range q.indexes(p + ".IpRanges") {
			rp := p + ".IpRanges." + strconv.Itoa(m)
			cidr := q.get(rp + ".CidrIp")
			if _, _, err := net.ParseCIDR(cidr); err != nil {
				return nil, badRequest("InvalidParameterValue", "CIDR block %s is malformed", cidr)
			}
			add = append(add, rule{proto: proto, from: from, to: to, cidr: cidr, desc: q.get(rp + ".Description")})
		}
	}
	if len(add) == 0 {
		return nil, badRequest("MissingParameter", "No IP permissions specified")
	}
	for _, a := range add {
		for _, have := range g.ingress {
			if have.proto == a.proto && have.from == a.from && have.to == a.to && have.cidr == a.cidr {
				return nil, badRequest("InvalidPermission.Duplicate",
					"the specified rule \"peer: %s, %s, from port: %d, to port: %d, ALLOW\" already exists",
					a.cidr, strings.ToUpper(a.proto), a.from, a.to)
			}
		}
	}
	g.ingress = append(g.ingress, add...)
	return &returnResponse{XMLName: xmlName("AuthorizeSecurityGroupIngressResponse"), Return: true}, nil
}

func firstErr(errs ...*apiError) *apiError {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
