package gcptest

import (
	"fmt"
	"maps"
	"sort"
	"time"

	"cloud.google.com/go/compute/apiv1/computepb"
	"google.golang.org/protobuf/proto"
)

// Instance is a snapshot of one VM the fake holds (deleted ones are gone).
type Instance struct {
	Zone        string
	Name        string
	Status      string // PROVISIONING, STAGING, RUNNING, STOPPING, ...
	Labels      map[string]string
	Tags        []string
	Metadata    map[string]string
	MachineType string
	// PublicIP says whether the insert asked for a ONE_TO_ONE_NAT access
	// config; NATIP is set either way but only served once RUNNING.
	PublicIP  bool
	NetworkIP string
	NATIP     string
	Created   time.Time
	// RequestID is the requestId of the insert that created it.
	RequestID string
	// HealthError is why a health endpoint could not listen, if it could not.
	HealthError string
}

// Instances returns every instance the fake holds, sorted by zone and name.
func (s *Server) Instances() []Instance {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Instance, 0, len(s.instances))
	for _, in := range s.instances {
		md := map[string]string{}
		for _, item := range in.pb.GetMetadata().GetItems() {
			md[item.GetKey()] = item.GetValue()
		}
		out = append(out, Instance{
			Zone:        in.zone,
			Name:        in.name(),
			Status:      in.status(now),
			Labels:      maps.Clone(in.pb.GetLabels()),
			Tags:        append([]string(nil), in.pb.GetTags().GetItems()...),
			Metadata:    md,
			MachineType: lastSegment(in.pb.GetMachineType()),
			PublicIP:    in.public,
			NetworkIP:   in.internalIP,
			NATIP:       in.natIP,
			Created:     in.created,
			RequestID:   in.requestID,
			HealthError: in.healthErr,
		})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Zone != out[j].Zone {
			return out[i].Zone < out[j].Zone
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// Seed describes an instance put in place behind the backend's back, for
// adoption and orphan-sweeper tests.
type Seed struct {
	Zone string
	Name string
	// Labels as given; nil for an unlabelled instance.
	Labels map[string]string
	// Status is kept until the instance is deleted; default RUNNING.
	Status string
	// Created is the creation time; default now. Use it to age instances.
	Created  time.Time
	PublicIP bool
	// MachineType default e2-small.
	MachineType string
}

// SeedInstance adds an instance without an API call.
func (s *Server) SeedInstance(seed Seed) error {
	if seed.Status == "" {
		seed.Status = "RUNNING"
	}
	if seed.MachineType == "" {
		seed.MachineType = "e2-small"
	}
	ni := &computepb.NetworkInterface{Network: proto.String("global/networks/default")}
	if seed.PublicIP {
		ni.AccessConfigs = []*computepb.AccessConfig{{Name: proto.String("External NAT"), Type: proto.String("ONE_TO_ONE_NAT")}}
	}
	pb := &computepb.Instance{
		Name:        proto.String(seed.Name),
		MachineType: proto.String("zones/" + seed.Zone + "/machineTypes/" + seed.MachineType),
		Labels:      maps.Clone(seed.Labels),
		Disks: []*computepb.AttachedDisk{{Boot: proto.Bool(true), AutoDelete: proto.Bool(true),
			InitializeParams: &computepb.AttachedDiskInitializeParams{SourceImage: proto.String("projects/debian-cloud/global/images/family/debian-12")}}},
		NetworkInterfaces: []*computepb.NetworkInterface{ni},
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.zones[seed.Zone] == nil {
		return fmt.Errorf("gcptest: unknown zone %q", seed.Zone)
	}
	if msg := validateInstance(pb, seed.Zone); msg != "" {
		return fmt.Errorf("gcptest: %s", msg)
	}
	if s.instances[seed.Zone+"/"+seed.Name] != nil {
		return fmt.Errorf("gcptest: instance %s already exists in %s", seed.Name, seed.Zone)
	}
	s.nextID++
	in := &instance{pb: pb, id: s.nextID, zone: seed.Zone, created: seed.Created, fixedStatus: seed.Status}
	s.addInstance(in, time.Now())
	return nil
}

// DeleteOutOfBand deletes an instance as someone else would (console,
// preemption, a colleague): STOPPING at once, gone after DeleteLatency. It
// reports whether the instance existed.
func (s *Server) DeleteOutOfBand(zone, name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.instances[zone+"/"+name]
	if in == nil {
		return false
	}
	s.beginDelete(in)
	return true
}
