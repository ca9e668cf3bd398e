// Package awstest is an in-process fake of the EC2 Query API, served over
// HTTP so that the real aws-sdk-go-v2 client talks to it exactly as it talks
// to EC2: signed form posts in, namespaced XML out. It models the EC2
// semantics Portico's reliability rests on (ClientToken idempotency scoped
// per region, tags and filters, pending → running → shutting-down →
// terminated with configurable delays, public IPs that appear only once an
// instance runs, capacity and throttling errors with EC2's codes and HTTP
// statuses) and lets tests inject faults at exact points.
//
// One server serves every region, each with its own instances, the way EC2
// endpoints do: the region is read from the SigV4 credential scope. Every
// address it hands out is a loopback address (127.0.10.x public, 127.0.20.x
// private), so nothing a test does ever leaves the machine.
//
// The server is not tied to testing.T, so benchmarks and a fake-cloud
// command can use it too. All methods are safe for concurrent use.
package awstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"time"
)

// APIVersion is the EC2 API version the SDK speaks.
const APIVersion = "2016-11-15"

// AccountID owns every resource the fake creates.
const AccountID = "123456789012"

// Options shapes one fake EC2. The zero value is a usable, fast cloud.
type Options struct {
	// Regions served; default: DefaultRegions.
	Regions []string
	// ZonesPerRegion is the number of availability zones per region,
	// named <region>a, <region>b, ...; default 3.
	ZonesPerRegion int
	// LaunchLatency delays RunInstances' reply after the instances exist,
	// which is when a lost reply or a crash matters most.
	LaunchLatency time.Duration
	// APILatency delays every call before it acts.
	APILatency time.Duration
	// RunningAfter is how long an instance stays pending; its public IP is
	// assigned when it starts running.
	RunningAfter time.Duration
	// TerminateAfter is how long an instance stays shutting-down.
	TerminateAfter time.Duration
	// TerminatedTTL is how long a terminated instance stays visible to
	// DescribeInstances (EC2 keeps them for about an hour); default 1h.
	TerminatedTTL time.Duration
	// ConsistencyDelay hides a new instance from DescribeInstances for this
	// long after RunInstances, like EC2's eventual consistency; default 0.
	ConsistencyDelay time.Duration
	// Images replaces DefaultImages; each is published in every region
	// under a region-specific id (see ImageID).
	Images []ImageSpec
	// ServeHealth makes each running instance answer HTTP on its public and
	// private IP at HealthPort, so health checks can run end to end.
	ServeHealth bool
	// HealthPort for ServeHealth; 0 picks a free port once and holds it for
	// the server's life (see HealthPort). Servers of one process that serve
	// health on a fixed port need distinct ports: each numbers its
	// addresses from 127.0.10.1.
	HealthPort int
}

// DefaultRegions is a realistic subset of AWS commercial regions.
var DefaultRegions = []string{
	"us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1",
	"eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1", "eu-north-1",
	"ap-northeast-1", "ap-southeast-1", "ap-southeast-2", "ap-south-1", "sa-east-1",
}

// Server is a running fake EC2 endpoint.
type Server struct {
	opts   Options
	http   *httptest.Server
	prefix string // random per server, so ids never repeat across servers

	mu       sync.Mutex
	closed   bool
	regions  map[string]*regionState
	seq      int // ids, reservations and addresses
	ips      int
	calls    []Call
	faults   faults
	capacity map[string]bool // "region/zone" → false when out of capacity
	timers   map[*time.Timer]struct{}

	health *healthFarm
}

// NewServer starts a fake EC2 on a loopback port.
func NewServer(opts Options) *Server {
	if len(opts.Regions) == 0 {
		opts.Regions = DefaultRegions
	}
	if opts.ZonesPerRegion <= 0 {
		opts.ZonesPerRegion = 3
	}
	if opts.ZonesPerRegion > 26 {
		opts.ZonesPerRegion = 26
	}
	if opts.TerminatedTTL <= 0 {
		opts.TerminatedTTL = time.Hour
	}
	if opts.Images == nil {
		opts.Images = DefaultImages()
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	s := &Server{
		opts:     opts,
		prefix:   hex.EncodeToString(b),
		regions:  map[string]*regionState{},
		capacity: map[string]bool{},
		timers:   map[*time.Timer]struct{}{},
		faults:   newFaults(),
	}
	for _, r := range opts.Regions {
		s.regions[r] = s.newRegion(r)
	}
	s.health = newHealthFarm(s, opts.ServeHealth, opts.HealthPort)
	s.http = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	return s
}

// URL is the endpoint to give the SDK (BaseEndpoint, AWS_ENDPOINT_URL_EC2).
func (s *Server) URL() string { return s.http.URL }

// HealthPort is the port running instances answer on when ServeHealth is set.
func (s *Server) HealthPort() int { return s.health.port }

// Close stops the endpoint, every pending state change and health listener.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	for t := range s.timers {
		t.Stop()
	}
	s.timers = nil
	s.mu.Unlock()
	s.http.Close()
	s.health.closeAll()
}

// apiError is an EC2 error reply.
type apiError struct {
	status  int
	code    string
	message string
}

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

func badRequest(code, format string, args ...any) *apiError {
	return errorf(http.StatusBadRequest, code, format, args...)
}

// handler runs one action for one region and returns the response body.
type handler func(s *Server, region string, q query) (any, *apiError)

// actions is every EC2 action the fake speaks.
var actions = map[string]handler{
	"RunInstances":                  (*Server).runInstances,
	"DescribeInstances":             (*Server).describeInstances,
	"TerminateInstances":            (*Server).terminateInstances,
	"DescribeAvailabilityZones":     (*Server).describeAvailabilityZones,
	"DescribeImages":                (*Server).describeImages,
	"DescribeVpcs":                  (*Server).describeVpcs,
	"DescribeSubnets":               (*Server).describeSubnets,
	"DescribeSecurityGroups":        (*Server).describeSecurityGroups,
	"CreateSecurityGroup":           (*Server).createSecurityGroup,
	"AuthorizeSecurityGroupIngress": (*Server).authorizeSecurityGroupIngress,
	"CreateTags":                    (*Server).createTags,
}

// scopeRE pulls the region out of a SigV4 Authorization header.
var scopeRE = regexp.MustCompile(`Credential=[^/,\s]+/\d{8}/([a-z0-9-]+)/ec2/aws4_request`)

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	requestID := newRequestID()
	if err := r.ParseForm(); err != nil {
		writeError(w, requestID, badRequest("MalformedQueryString", "%v", err))
		return
	}
	q := query(r.Form)
	action := q.get("Action")
	region := ""
	if m := scopeRE.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
		region = m[1]
	}
	idx := s.record(action, region, q.get("ClientToken"), r.Header.Get("Amz-Sdk-Request"))
	s.respond(r.Context(), w, requestID, action, region, q, func(result string) { s.setResult(idx, result) })
}

// respond runs the call through latency, hooks and faults, then the action,
// and writes the reply. It logs what the caller sees before the caller can
// see it, so a test that just got a reply finds it in the call log.
func (s *Server) respond(ctx context.Context, w http.ResponseWriter, requestID, action, region string, q query, logResult func(string)) {
	fail := func(e *apiError) { logResult(e.code); writeError(w, requestID, e) }
	if !sleep(ctx, s.opts.APILatency) {
		logResult("canceled")
		return
	}
	s.runHook(action, BeforeAction)
	switch {
	case region == "":
		fail(errorf(http.StatusUnauthorized, "AuthFailure", "AWS was not able to validate the provided access credentials"))
		return
	case s.regions[region] == nil:
		fail(errorf(http.StatusUnauthorized, "AuthFailure", "Credential should be scoped to a valid region, not '%s'.", region))
		return
	case action == "":
		fail(badRequest("MissingAction", "The request must contain the parameter Action"))
		return
	case q.get("Version") != APIVersion:
		fail(badRequest("NoSuchVersion", "An invalid API version was specified: %q", q.get("Version")))
		return
	}
	if e := s.takeFault(action); e != nil {
		fail(e)
		return
	}
	h, ok := actions[action]
	if !ok {
		fail(badRequest("InvalidAction", "The action %s is not valid for this web service.", action))
		return
	}
	body, apiErr := h(s, region, q)
	s.runHook(action, AfterAction)
	switch {
	case action == "RunInstances" && !sleep(ctx, s.opts.LaunchLatency):
		logResult("canceled")
	case s.takeDrop(action):
		logResult("dropped")
		dropConnection(w)
	case apiErr != nil:
		fail(apiErr)
	default:
		logResult("")
		writeXML(w, action, requestID, body)
	}
}

// sleep waits d unless ctx ends first; it reports whether it waited.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// dropConnection closes the connection without a reply, so the client sees
// a transport error although the action took effect.
func dropConnection(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler) // aborts the reply on transports that cannot hijack
}

func newRequestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return strings.Join([]string{h[:8], h[8:12], h[12:16], h[16:20], h[20:]}, "-")
}
