// Package backends defines how Portico talks to a place that runs instances:
// the Backend interface, the errors backends return, and the registry the CLI
// fills explicitly with the backends it knows. Provider details stay inside
// the sub-packages (aws, gcp, local).
package backends

import (
	"context"
	"time"
)

// Backend starts, observes and stops the instances behind gateway replicas.
//
// Every method is safe for concurrent use. Launch is idempotent on
// LaunchRequest.Token: the same token never yields a second instance, even
// when the first call's reply was lost or the caller crashed before saving it.
type Backend interface {
	// Name is the value of the spec's backend field ("aws", "gcp", "local").
	Name() string
	// Capabilities describes what the backend offers; it never changes.
	Capabilities() Capabilities
	// Launch starts one instance for one replica, or returns the instance an
	// earlier call with the same token started.
	Launch(ctx context.Context, req LaunchRequest) (Instance, error)
	// Describe reports many instances at once, batching provider calls (one
	// call per region, not per instance). It returns one Instance per ref, in
	// the order given; an instance the provider no longer knows comes back
	// with State StateTerminated.
	Describe(ctx context.Context, refs ...InstanceRef) ([]Instance, error)
	// Terminate stops an instance. An instance that is already gone is success.
	Terminate(ctx context.Context, ref InstanceRef) error
	// List returns every instance carrying Portico's tags that matches the
	// filter, for adoption and the orphan sweeper.
	List(ctx context.Context, filter ListFilter) ([]Instance, error)
}

// Capabilities is what a backend offers, as data.
type Capabilities struct {
	// Regions the backend accepts; nil means any well-formed region name.
	Regions []string
	// DefaultRegion is used when a spec names none.
	DefaultRegion string
	// DefaultInstanceType is used when a spec names none; empty when the
	// backend has no notion of instance types.
	DefaultInstanceType string
	// PollInterval is how long to wait between descriptions of an instance
	// that is still starting.
	PollInterval time.Duration
	// ConsistencyDelay is how long after a launch the provider may still
	// not list or describe the new instance (EC2's eventual consistency).
	// Until then "not found" does not mean "gone".
	ConsistencyDelay time.Duration
}

// AcceptsRegion reports whether region is one of the backend's regions.
func (c Capabilities) AcceptsRegion(region string) bool {
	if c.Regions == nil {
		return region != ""
	}
	for _, r := range c.Regions {
		if r == region {
			return true
		}
	}
	return false
}

// Tag keys every backend attaches to the instances it creates (as AWS tags,
// GCE labels, or fields of a local agent's state file).
const (
	TagGateway = "portico-gateway"
	TagReplica = "portico-replica"
	TagToken   = "portico-token"
	TagInstall = "portico-install"
)

// LaunchRequest asks for one instance for one replica attempt.
type LaunchRequest struct {
	// Token identifies this replica attempt; at most 64 characters of
	// [a-z0-9-]. Backends derive provider idempotency keys from it.
	Token string
	// Install is the installation id; instances are tagged with it so that an
	// installation only ever lists and sweeps its own.
	Install    string
	Gateway    string
	ReplicaNum int
	Attempt    int
	Region     string
	// ZoneIndex spreads replicas over a region's zones: the backend starts at
	// zones[ZoneIndex % len(zones)] and moves on to the next zone when one has
	// no capacity.
	ZoneIndex    int
	InstanceType string
	PublicIP     bool
	// Domain is served by the replica; already validated as a DNS name.
	Domain string
	// Tags are the spec's user tags, added to the provider's tags.
	Tags map[string]string
	// HealthPath and HealthPort tell the instance where to answer probes.
	HealthPath string
	HealthPort int
	// Resume is set when an earlier Launch with this token may have reached
	// the provider; the backend then looks for that instance (by token or
	// tags) before it creates anything.
	Resume bool
}

// InstanceRef names one instance to a backend.
type InstanceRef struct {
	ID     string `json:"id"`
	Region string `json:"region"`
	Zone   string `json:"zone,omitempty"`
}

// InstanceState is a provider's instance state, reduced to what Portico acts on.
type InstanceState string

// Instance states.
const (
	StatePending    InstanceState = "pending"
	StateRunning    InstanceState = "running"
	StateStopping   InstanceState = "stopping"
	StateStopped    InstanceState = "stopped"
	StateTerminated InstanceState = "terminated"
)

// Gone reports whether the instance will never serve again.
func (s InstanceState) Gone() bool { return s == StateTerminated }

// Instance is what a backend knows about one instance.
type Instance struct {
	ID     string        `json:"id"`
	Region string        `json:"region"`
	Zone   string        `json:"zone,omitempty"`
	State  InstanceState `json:"state"`
	// Hostname is where clients reach the replica: the public IP (private
	// IP without one), or 127.0.0.1:PORT for a local agent. Empty until known.
	Hostname string `json:"hostname,omitempty"`
	// Tags as read back from the provider: Token, Install, Gateway, Replica.
	Token      string    `json:"token,omitempty"`
	Install    string    `json:"install,omitempty"`
	Gateway    string    `json:"gateway,omitempty"`
	ReplicaNum int       `json:"replica_num"`
	LaunchedAt time.Time `json:"launched_at"`
	// Data holds provider details worth recording (public DNS name, private
	// IP, zones tried); never credentials.
	Data map[string]string `json:"data,omitempty"`
}

// Ref returns the reference that names this instance.
func (i Instance) Ref() InstanceRef {
	return InstanceRef{ID: i.ID, Region: i.Region, Zone: i.Zone}
}

// ListFilter narrows List. Install is required; empty fields match anything.
type ListFilter struct {
	Install string
	Gateway string
	Token   string
	// Regions to look in; nil means every region the backend has been used in
	// or is configured for.
	Regions []string
}
