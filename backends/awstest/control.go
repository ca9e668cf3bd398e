package awstest

import (
	"fmt"
	"maps"
	"time"
)

// Instance is a snapshot of one fake instance, for assertions.
type Instance struct {
	ID, Region, Zone string
	// State is EC2's state name: pending, running, shutting-down,
	// terminated, stopping, stopped.
	State            string
	Tags             map[string]string
	ClientToken      string
	InstanceType     string
	ImageID          string
	SubnetID         string
	SecurityGroupIDs []string
	LaunchTime       time.Time
	PublicIP         string // set once running, when the instance has one
	PrivateIP        string
	// UserData is base64, as RunInstances received it.
	UserData string
}

func (inst *instance) snapshot() Instance {
	return Instance{
		ID: inst.id, Region: inst.region, Zone: inst.zone, State: inst.state, Tags: maps.Clone(inst.tags),
		ClientToken: inst.clientToken, InstanceType: inst.instanceType, ImageID: inst.image,
		SubnetID: inst.subnetID, SecurityGroupIDs: append([]string(nil), inst.groups...),
		LaunchTime: inst.launchTime, PublicIP: inst.publicIP, PrivateIP: inst.privateIP, UserData: inst.userData,
	}
}

// Instances returns every instance of region EC2 would still list
// (terminated ones included, until TerminatedTTL), in launch order.
func (s *Server) Instances(region string) []Instance {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.regions[region]
	if r == nil {
		return nil
	}
	s.prune(r)
	out := make([]Instance, 0, len(r.order))
	for _, inst := range r.order {
		out = append(out, inst.snapshot())
	}
	return out
}

// SeedSpec plants an instance directly, as if someone had launched it
// earlier, possibly long ago (for sweeper and adoption tests).
type SeedSpec struct {
	// ID is generated when empty.
	ID string
	// Zone defaults to the region's first zone.
	Zone string
	// State defaults to running; pending and shutting-down move on with the
	// server's delays.
	State string
	Tags  map[string]string
	// ClientToken, when set, is remembered as if RunInstances had used it.
	ClientToken  string
	InstanceType string    // default t3.micro
	ImageID      string    // default: the first published image
	LaunchTime   time.Time // default now
	NoPublicIP   bool
}

// SeedInstance plants an instance in region and returns its snapshot.
func (s *Server) SeedInstance(region string, spec SeedSpec) (Instance, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.regions[region]
	if r == nil {
		return Instance{}, fmt.Errorf("awstest: unknown region %q", region)
	}
	if spec.Zone == "" {
		spec.Zone = r.zones[0]
	}
	sn, ok := r.subnetInZone(spec.Zone)
	if !ok {
		return Instance{}, fmt.Errorf("awstest: unknown zone %q in %s", spec.Zone, region)
	}
	if spec.State == "" {
		spec.State = "running"
	}
	if _, ok := stateCodes[spec.State]; !ok {
		return Instance{}, fmt.Errorf("awstest: unknown state %q", spec.State)
	}
	s.seq++
	if spec.ID == "" {
		spec.ID = fmt.Sprintf("i-0%s%08x", s.prefix, s.seq)
	}
	if r.instances[spec.ID] != nil {
		return Instance{}, fmt.Errorf("awstest: instance %s exists", spec.ID)
	}
	if spec.InstanceType == "" {
		spec.InstanceType = "t3.micro"
	}
	if spec.ImageID == "" && len(s.opts.Images) > 0 {
		spec.ImageID = s.ImageID(region, s.opts.Images[0].Name)
	}
	if spec.LaunchTime.IsZero() {
		spec.LaunchTime = time.Now()
	}
	inst := &instance{
		id: spec.ID, region: region, zone: sn.zone, state: spec.State, tags: maps.Clone(spec.Tags),
		clientToken: spec.ClientToken, instanceType: spec.InstanceType, image: spec.ImageID,
		subnetID: sn.id, vpcID: r.vpc.id, reservationID: fmt.Sprintf("r-0%s%08x", s.prefix, s.seq),
		groups: []string{r.groups[0].id}, launchTime: spec.LaunchTime.Truncate(time.Second),
		stateSince: time.Now(), wantPublic: !spec.NoPublicIP,
	}
	if inst.tags == nil {
		inst.tags = map[string]string{}
	}
	s.addInstance(r, inst)
	if spec.ClientToken != "" {
		r.tokens[spec.ClientToken] = &tokenEntry{key: "seeded", reservationID: inst.reservationID, ids: []string{inst.id}}
	}
	return inst.snapshot(), nil
}

func (s *Server) find(region, id string) (*instance, error) {
	r := s.regions[region]
	if r == nil {
		return nil, fmt.Errorf("awstest: unknown region %q", region)
	}
	inst := r.instances[id]
	if inst == nil {
		return nil, fmt.Errorf("awstest: no instance %s in %s", id, region)
	}
	return inst, nil
}

// TerminateOutOfBand terminates an instance behind the client's back, as a
// person in the console or a hardware failure would: shutting-down now,
// terminated after TerminateAfter.
func (s *Server) TerminateOutOfBand(region, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	inst, err := s.find(region, id)
	if err != nil {
		return err
	}
	s.terminate(inst, "Server.InternalError")
	return nil
}

// SetState forces an instance into an EC2 state at once (e.g. "stopped"),
// with EC2's side effects: a stopped instance loses its public address,
// a running one gets it back.
func (s *Server) SetState(region, id, state string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	inst, err := s.find(region, id)
	if err != nil {
		return err
	}
	if _, ok := stateCodes[state]; !ok {
		return fmt.Errorf("awstest: unknown state %q", state)
	}
	s.health.stop(inst.id)
	inst.publicIP = ""
	if state == "running" {
		inst.state = "pending"
		s.toRunning(inst)
		return nil
	}
	inst.state, inst.stateSince = state, time.Now()
	return nil
}

// SetHealth makes the instance's health endpoint answer status (e.g. 503);
// 0 or 200 restores a healthy answer.
func (s *Server) SetHealth(id string, status int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.regions {
		if inst := r.instances[id]; inst != nil {
			inst.health = status
			return nil
		}
	}
	return fmt.Errorf("awstest: no instance %s", id)
}
