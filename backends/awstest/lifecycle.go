package awstest

import (
	"sort"
	"time"
)

// toRunning starts a pending instance: it gets its public address now, as
// on EC2, and starts answering health probes. Callers hold s.mu.
func (s *Server) toRunning(inst *instance) {
	if inst.state != "pending" {
		return
	}
	inst.state, inst.stateSince = "running", time.Now()
	if inst.wantPublic {
		inst.publicIP = ipAddr(10, inst.ipIndex)
	}
	s.health.start(inst)
}

// toTerminated ends a shutting-down instance. Callers hold s.mu.
func (s *Server) toTerminated(inst *instance) {
	if inst.state != "shutting-down" {
		return
	}
	inst.state, inst.stateSince = "terminated", time.Now()
	inst.publicIP = ""
}

// terminate starts shutting an instance down and reports the state it was
// in. Callers hold s.mu.
func (s *Server) terminate(inst *instance, reason string) string {
	prev := inst.state
	switch prev {
	case "shutting-down", "terminated":
		return prev
	}
	inst.state, inst.stateSince, inst.reason = "shutting-down", time.Now(), reason
	s.health.stop(inst.id)
	s.after(s.opts.TerminateAfter, func() { s.toTerminated(inst) })
	return prev
}

// prune forgets instances terminated longer than TerminatedTTL ago, as EC2
// eventually stops listing them. Their tokens stay remembered. Callers hold
// s.mu.
func (s *Server) prune(r *regionState) {
	now := time.Now()
	kept := r.order[:0]
	for _, inst := range r.order {
		if inst.state == "terminated" && now.Sub(inst.stateSince) > s.opts.TerminatedTTL {
			delete(r.instances, inst.id)
			continue
		}
		kept = append(kept, inst)
	}
	r.order = kept
}

func (s *Server) reservationXML(resID string, insts []*instance) reservationXML {
	out := reservationXML{ReservationID: resID, OwnerID: AccountID}
	for _, inst := range insts {
		out.Instances = append(out.Instances, s.instanceXML(inst))
	}
	if len(insts) > 0 {
		out.Groups = s.groupsXML(insts[0])
	}
	return out
}

func (s *Server) groupsXML(inst *instance) []groupXML {
	var out []groupXML
	r := s.regions[inst.region]
	for _, id := range inst.groups {
		name := ""
		if g := r.group(id); g != nil {
			name = g.name
		}
		out = append(out, groupXML{GroupID: id, GroupName: name})
	}
	return out
}

func (s *Server) instanceXML(inst *instance) instanceXML {
	x := instanceXML{
		InstanceID: inst.id, ImageID: inst.image,
		State:          stateXML{Code: stateCodes[inst.state], Name: inst.state},
		PrivateDNSName: privateDNS(inst.privateIP, inst.region),
		InstanceType:   inst.instanceType, LaunchTime: ec2Time(inst.launchTime),
		Zone: inst.zone, Tenancy: "default", Monitoring: "disabled",
		SubnetID: inst.subnetID, VpcID: inst.vpcID, PrivateIP: inst.privateIP,
		SourceDestCheck: true, Groups: s.groupsXML(inst),
		Architecture: "x86_64", RootDeviceType: "ebs", RootDeviceName: "/dev/sda1",
		VirtualizationType: "hvm", ClientToken: inst.clientToken, Hypervisor: "xen", EnaSupport: true,
	}
	if img, ok := s.image(inst.region, inst.image); ok {
		x.Architecture = img.Architecture
	}
	if inst.state == "terminated" {
		x.PrivateDNSName, x.PrivateIP, x.SubnetID, x.VpcID = "", "", "", ""
	}
	if inst.reason != "" {
		x.StateReason = &reasonXML{Code: inst.reason, Message: inst.reason + ": " + reasonMessage(inst.reason)}
		if inst.reason == "Client.UserInitiatedShutdown" {
			x.Reason = "User initiated (" + inst.stateSince.UTC().Format("2006-01-02 15:04:05 MST") + ")"
		}
	}
	if inst.publicIP != "" {
		x.PublicIP, x.DNSName = inst.publicIP, publicDNS(inst.publicIP, inst.region)
	}
	keys := make([]string, 0, len(inst.tags))
	for k := range inst.tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		x.Tags = append(x.Tags, tagXML{Key: k, Value: inst.tags[k]})
	}
	if inst.state != "terminated" {
		eni := eniXML{ID: "eni" + inst.id[1:], SubnetID: inst.subnetID, VpcID: inst.vpcID, OwnerID: AccountID,
			Status: "in-use", PrivateIP: inst.privateIP, PrivateDNSName: x.PrivateDNSName, SourceDestCheck: true,
			Groups: x.Groups, InterfaceType: "interface",
			Attachment: attachmentXML{ID: "eni-attach" + inst.id[1:], Status: "attached",
				AttachTime: x.LaunchTime, DeleteOnTermination: true}}
		if inst.publicIP != "" {
			eni.Association = &associationXML{PublicIP: inst.publicIP, PublicDNSName: x.DNSName, IPOwnerID: "amazon"}
		}
		x.ENIs = []eniXML{eni}
	}
	return x
}

func reasonMessage(code string) string {
	switch code {
	case "Client.UserInitiatedShutdown":
		return "User initiated shutdown"
	case "Server.SpotInstanceTermination":
		return "Spot instance termination"
	default:
		return "Internal error"
	}
}

// after runs fn once d has passed, unless the server closes first. Callers
// hold s.mu.
func (s *Server) after(d time.Duration, fn func()) {
	if s.closed {
		return
	}
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.closed {
			return
		}
		delete(s.timers, t)
		fn()
	})
	s.timers[t] = struct{}{}
}
