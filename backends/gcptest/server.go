// Package gcptest is an in-process fake of the Compute Engine REST API, as
// the real cloud.google.com/go/compute/apiv1 REST clients speak it. No
// Compute Engine emulator exists, so the GCP backend's reliability (token
// idempotency, zone fallback, the op.Wait gotcha, throttling, lost replies,
// crashes) can only be tested against a fake that keeps the cloud's
// semantics: names unique per zone, requestId idempotency, operations that
// finish later (possibly with an error), instances that go PROVISIONING →
// STAGING → RUNNING, and instances that vanish behind the caller's back.
//
// Every address it hands out is a loopback address (internal 127.x.40.N,
// NAT 127.x.30.N), so no test ever sends traffic beyond the machine.
package gcptest

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"time"
)

// Options shape the fake cloud. The zero value is a fast, fault-free cloud.
type Options struct {
	// Project is the only project the fake knows; default "portico-test".
	Project string
	// Regions the project sees; default DefaultRegions. Each region has
	// the zones <region>-b, <region>-c and <region>-d.
	Regions []string
	// APILatency delays every call, as the network and the frontend do.
	APILatency time.Duration
	// InsertLatency is how long an insert operation takes to be DONE: it is
	// PENDING for the first quarter of it, then RUNNING.
	InsertLatency time.Duration
	// RunningAfter is how long a new instance takes to go PROVISIONING →
	// STAGING (at half) → RUNNING.
	RunningAfter time.Duration
	// DeleteLatency is how long a deleted instance stays STOPPING (and its
	// delete operation PENDING, then RUNNING) before it is gone.
	DeleteLatency time.Duration
	// WaitTimeout bounds how long operations.wait blocks; default 2 minutes,
	// as the real API does.
	WaitTimeout time.Duration
	// BareOperationErrors makes failed operations omit httpErrorStatusCode
	// and httpErrorMessage, the shape for which op.Wait reports success
	// (see ../shared/notes/gce-wire.md). It can be changed later with
	// SetBareOperationErrors.
	BareOperationErrors bool
	// ServeHealth serves GET /healthz on each running instance's NAT IP and
	// internal IP at HealthPort, so health checks can run end to end.
	ServeHealth bool
	// HealthPort is the port of those health endpoints; default 8080.
	HealthPort int
}

// DefaultRegions is a realistic handful of GCP regions.
var DefaultRegions = []string{"us-central1", "us-east1", "us-west1", "europe-west1", "europe-west4", "asia-northeast1"}

// Server is a running fake. All methods are safe for concurrent use.
type Server struct {
	opts      Options
	hs        *httptest.Server
	closed    chan struct{}
	closeOnce sync.Once

	mu         sync.Mutex
	zones      map[string]*zone
	instances  map[string]*instance  // by "zone/name"
	ops        map[string]*operation // by operation name
	requestIDs map[string]*operation // by "zone/requestId" or "global/requestId"
	firewalls  map[string]*firewall  // by name
	nextID     uint64
	calls      []*Call
	counts     map[string]int
	faults     faultState
	health     map[string]int // instance name → /healthz status
}

// NewServer starts a fake on a loopback port. It is not tied to a
// testing.T so that benchmarks and the CLI's end-to-end tests can use it;
// callers must Close it.
func NewServer(opts Options) *Server {
	if opts.Project == "" {
		opts.Project = "portico-test"
	}
	if len(opts.Regions) == 0 {
		opts.Regions = DefaultRegions
	}
	if opts.WaitTimeout <= 0 {
		opts.WaitTimeout = 2 * time.Minute
	}
	if opts.HealthPort == 0 {
		opts.HealthPort = 8080
	}
	s := &Server{
		opts:       opts,
		closed:     make(chan struct{}),
		zones:      map[string]*zone{},
		instances:  map[string]*instance{},
		ops:        map[string]*operation{},
		requestIDs: map[string]*operation{},
		firewalls:  map[string]*firewall{},
		counts:     map[string]int{},
		health:     map[string]int{},
		faults:     newFaultState(),
	}
	s.faults.bareOpErrors = opts.BareOperationErrors
	for _, r := range opts.Regions {
		for _, suffix := range []string{"b", "c", "d"} {
			name := r + "-" + suffix
			s.zones[name] = &zone{name: name, region: r, status: "UP"}
		}
	}
	s.hs = httptest.NewServer(s.routes())
	return s
}

// URL is the endpoint to give the client (option.WithEndpoint).
func (s *Server) URL() string { return s.hs.URL }

// Project is the fake's project id.
func (s *Server) Project() string { return s.opts.Project }

// Close stops the server, releases blocked operations.wait calls and stops
// every health endpoint.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.closed)
		s.mu.Lock()
		for _, in := range s.instances {
			in.stopHealth()
		}
		s.mu.Unlock()
		s.hs.Close()
	})
}

func (s *Server) isClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

// routes maps the Compute REST paths the Go client uses (verified against
// cloud.google.com/go/compute v1.75.0 apiv1/*_client.go) to methods named
// as in the API reference ("instances.insert").
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	const p = "/compute/v1/projects/{project}"
	route := func(pattern, method string, h handler) {
		mux.HandleFunc(pattern, s.wrap(method, h))
	}
	route("POST "+p+"/zones/{zone}/instances", "instances.insert", s.insertInstance)
	route("GET "+p+"/zones/{zone}/instances", "instances.list", s.listInstances)
	route("GET "+p+"/zones/{zone}/instances/{name}", "instances.get", s.getInstance)
	route("DELETE "+p+"/zones/{zone}/instances/{name}", "instances.delete", s.deleteInstance)
	route("GET "+p+"/aggregated/instances", "instances.aggregatedList", s.aggregatedListInstances)
	route("GET "+p+"/zones/{zone}/operations/{op}", "zoneOperations.get", s.getOperation)
	route("POST "+p+"/zones/{zone}/operations/{op}/wait", "zoneOperations.wait", s.waitOperation)
	route("GET "+p+"/global/operations/{op}", "globalOperations.get", s.getOperation)
	route("POST "+p+"/global/operations/{op}/wait", "globalOperations.wait", s.waitOperation)
	route("GET "+p+"/aggregated/operations", "globalOperations.aggregatedList", s.aggregatedListOperations)
	route("GET "+p+"/zones", "zones.list", s.listZones)
	route("GET "+p+"/zones/{zone}", "zones.get", s.getZone)
	route("GET "+p+"/regions/{region}", "regions.get", s.getRegion)
	route("GET "+p+"/global/firewalls/{name}", "firewalls.get", s.getFirewall)
	route("POST "+p+"/global/firewalls", "firewalls.insert", s.insertFirewall)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeReply(w, apiError(http.StatusNotFound, "notFound", "The requested URL "+r.URL.Path+" was not found on this server."))
	})
	return mux
}

// HealthPort is the port instances serve /healthz on when ServeHealth is set.
func (s *Server) HealthPort() int { return s.opts.HealthPort }
