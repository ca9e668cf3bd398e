package awstest

import (
	"encoding/base64"
	"regexp"
	"strconv"
	"strings"
	"time"
)

var instanceIDRE = regexp.MustCompile(`^i-[0-9a-f]{8,17}$`)

// notFound is EC2's error for instance ids it does not know, naming them all.
func notFound(missing []string) *apiError {
	if len(missing) == 1 {
		return badRequest("InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", missing[0])
	}
	return badRequest("InvalidInstanceID.NotFound", "The instance IDs '%s' do not exist", strings.Join(missing, ", "))
}

// checkIDs validates instance ids; visible decides which instances count
// as known.
func checkIDs(r *regionState, ids []string, visible func(*instance) bool) *apiError {
	var missing []string
	for _, id := range ids {
		if !instanceIDRE.MatchString(id) {
			return badRequest("InvalidInstanceID.Malformed", "Invalid id: \"%s\"", id)
		}
		if inst := r.instances[id]; inst == nil || !visible(inst) {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return notFound(missing)
	}
	return nil
}

func instanceFields(inst *instance) map[string]string {
	return map[string]string{
		"instance-id": inst.id, "instance-state-name": inst.state,
		"instance-state-code": strconv.Itoa(stateCodes[inst.state]), "availability-zone": inst.zone,
		"client-token": inst.clientToken, "instance-type": inst.instanceType, "image-id": inst.image,
		"vpc-id": inst.vpcID, "subnet-id": inst.subnetID, "reservation-id": inst.reservationID,
		"ip-address": inst.publicIP, "private-ip-address": inst.privateIP,
		"dns-name":         map[bool]string{true: publicDNS(inst.publicIP, inst.region)}[inst.publicIP != ""],
		"private-dns-name": privateDNS(inst.privateIP, inst.region), "owner-id": AccountID,
		"launch-time": ec2Time(inst.launchTime), "tenancy": "default",
	}
}

func (s *Server) describeInstances(region string, q query) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.regions[region]
	s.prune(r)
	now := time.Now()
	visible := func(inst *instance) bool { return !now.Before(inst.visibleAt) }
	ids := q.list("InstanceId")
	maxResults, hasMax, apiErr := q.intParam("MaxResults")
	switch {
	case apiErr != nil:
		return nil, apiErr
	case hasMax && len(ids) > 0:
		return nil, badRequest("InvalidParameterCombination", "The parameter instancesSet cannot be used with the parameter maxResults")
	case hasMax && (maxResults < 5 || maxResults > 1000):
		return nil, badRequest("InvalidParameterValue", "Value ( %d ) for parameter maxResults is invalid. Expecting a value between 5 and 1000.", maxResults)
	}
	if err := checkIDs(r, ids, visible); err != nil {
		return nil, err
	}
	after := 0
	if nt := q.get("NextToken"); nt != "" {
		raw, err := base64.RawURLEncoding.DecodeString(nt)
		n, ok := strings.CutPrefix(string(raw), "after:")
		if after, _ = strconv.Atoi(n); err != nil || !ok || after <= 0 {
			return nil, badRequest("InvalidParameterValue", "Invalid value '%s' for nextToken", nt)
		}
	}
	filters := q.filters()
	var page []*instance
	next := ""
	for _, inst := range r.order {
		if inst.seq <= after || !visible(inst) || len(ids) > 0 && !matchAny(ids, inst.id) {
			continue
		}
		ok, err := matchFields(filters, instanceFields(inst), inst.tags)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		if hasMax && len(page) == maxResults {
			next = base64.RawURLEncoding.EncodeToString([]byte("after:" + strconv.Itoa(page[len(page)-1].seq)))
			break
		}
		page = append(page, inst)
	}
	out := &describeInstancesResponse{NextToken: next}
	// Group the page by reservation, keeping launch order.
	for i := 0; i < len(page); {
		j := i
		for j < len(page) && page[j].reservationID == page[i].reservationID {
			j++
		}
		out.Reservations = append(out.Reservations, s.reservationXML(page[i].reservationID, page[i:j]))
		i = j
	}
	return out, nil
}

func (s *Server) terminateInstances(region string, q query) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.regions[region]
	s.prune(r)
	ids := q.list("InstanceId")
	if len(ids) == 0 {
		return nil, badRequest("MissingParameter", "The request must contain the parameter InstanceId")
	}
	// Termination reaches an instance even while Describe cannot see it yet.
	if err := checkIDs(r, ids, func(*instance) bool { return true }); err != nil {
		return nil, err
	}
	out := &terminateInstancesResponse{}
	for _, id := range ids {
		inst := r.instances[id]
		prev := s.terminate(inst, "Client.UserInitiatedShutdown")
		out.Changes = append(out.Changes, stateChangeXML{InstanceID: id,
			Current:  stateXML{Code: stateCodes[inst.state], Name: inst.state},
			Previous: stateXML{Code: stateCodes[prev], Name: prev}})
	}
	return out, nil
}

func (s *Server) createTags(region string, q query) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.regions[region]
	ids, tags := q.list("ResourceId"), q.tagsAt("Tag")
	if len(ids) == 0 || len(tags) == 0 {
		return nil, badRequest("MissingParameter", "The request must contain the parameters ResourceId and Tag")
	}
	if err := validateTags(tags); err != nil {
		return nil, err
	}
	for _, id := range ids {
		switch {
		case strings.HasPrefix(id, "i-"):
			if err := checkIDs(r, []string{id}, func(*instance) bool { return true }); err != nil {
				return nil, err
			}
		case strings.HasPrefix(id, "sg-"):
			if r.group(id) == nil {
				return nil, badRequest("InvalidGroup.NotFound", "The security group '%s' does not exist", id)
			}
		default:
			return nil, badRequest("InvalidID", "The ID '%s' is not valid", id)
		}
	}
	for _, id := range ids {
		if inst := r.instances[id]; inst != nil {
			for _, t := range tags {
				inst.tags[t.key] = t.value
			}
			continue
		}
		g := r.group(id)
	next:
		for _, t := range tags {
			for i := range g.tags {
				if g.tags[i].key == t.key {
					g.tags[i].value = t.value
					continue next
				}
			}
			g.tags = append(g.tags, t)
		}
	}
	return &returnResponse{XMLName: xmlName("CreateTagsResponse"), Return: true}, nil
}
