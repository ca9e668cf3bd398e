// Package gcp runs gateway replicas on Google Compute Engine, one instance
// per replica, through the official cloud.google.com/go/compute/apiv1 REST
// clients.
//
// Launch is idempotent on the replica's token twice over: the instance name
// is derived from the token (names are unique per zone, so a second insert
// gets 409 and adopts), and each insert carries a requestId derived from the
// token and zone (so a retried insert whose reply was lost gets the first
// operation back). Operations are awaited together, one aggregated list of
// operations per round for all launches and deletions in flight (a lone
// one is long-polled with zoneOperations.wait), and their own error field
// is always checked, because op.Wait reports success for failed operations
// that lack httpErrorStatusCode.
//
// Credentials come from Application Default Credentials and are never
// stored or logged; only a plain-http loopback endpoint (the test fake) is
// used without them.
package gcp

import (
	"context"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
	"google.golang.org/api/option"

	"github.com/portico-dev/portico/backends"
)

// Name is the value of a spec's backend field for this backend.
const Name = "gcp"

// Defaults used when the configuration leaves a field empty.
const (
	DefaultRegion       = "us-central1"
	DefaultInstanceType = "e2-small"
	DefaultNetwork      = "default"
	DefaultImage        = "projects/ubuntu-os-cloud/global/images/family/ubuntu-2404-lts-amd64"
	DefaultPollInterval = 5 * time.Second
)

// Config is the gcp section of ~/.portico/config.yml: settings that belong
// to an installation rather than to one gateway.
type Config struct {
	// Project to create instances in; else GOOGLE_CLOUD_PROJECT, then
	// CLOUDSDK_CORE_PROJECT.
	Project string `yaml:"project"`
	// Endpoint overrides the Compute API address (a private endpoint, or
	// the test fake). A plain http:// endpoint must be loopback and is used
	// without credentials, so they never travel unencrypted.
	Endpoint string `yaml:"endpoint"`
	// Network the instances join; default "default".
	Network string `yaml:"network"`
	// Subnetwork, for custom-mode networks: a name (in the replica's region)
	// or a full path.
	Subnetwork string `yaml:"subnetwork"`
	// Image is the boot image or image family; default Ubuntu 24.04 LTS.
	Image string `yaml:"image"`
	// ExtraLabels are added to every instance (after GCE label rules are
	// applied); they never override Portico's own labels.
	ExtraLabels map[string]string `yaml:"extra_labels"`
	// SSHSourceRanges opens port 22 from these CIDR ranges; closed when empty.
	SSHSourceRanges []string `yaml:"ssh_source_ranges"`

	// PollInterval is how often callers should describe a starting
	// instance; default 5s.
	PollInterval time.Duration `yaml:"poll_interval"`
	// Retry bounds the retries of throttled (429) and failed (5xx, lost
	// connection) calls.
	Retry RetryPolicy `yaml:"-"`
	// Logger receives retry and fallback notices; default slog.Default().
	Logger *slog.Logger `yaml:"-"`
}

// RetryPolicy is an exponential backoff with jitter. Every wait is at
// least the computed base (never shorter), plus up to half of it again.
type RetryPolicy struct {
	// Initial is the first wait; default 1s.
	Initial time.Duration
	// Max caps a single wait; default 30s.
	Max time.Duration
	// Multiplier grows the wait after each attempt; default 2.
	Multiplier float64
	// MaxAttempts counts every try of one call, the first included; default 5.
	MaxAttempts int
}

func (c Config) withDefaults() Config {
	if c.Project == "" {
		c.Project = firstNonEmpty(os.Getenv("GOOGLE_CLOUD_PROJECT"), os.Getenv("CLOUDSDK_CORE_PROJECT"))
	}
	c.Network = firstNonEmpty(c.Network, DefaultNetwork)
	c.Image = firstNonEmpty(c.Image, DefaultImage)
	if c.PollInterval <= 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.Retry.Initial <= 0 {
		c.Retry.Initial = time.Second
	}
	if c.Retry.Max <= 0 {
		c.Retry.Max = 30 * time.Second
	}
	if c.Retry.Multiplier < 1 {
		c.Retry.Multiplier = 2
	}
	if c.Retry.MaxAttempts <= 0 {
		c.Retry.MaxAttempts = 5
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// New builds the backend. A missing project is a NotConfiguredError, as
// are missing credentials (reported by the client library, which finds
// them through Application Default Credentials).
func New(ctx context.Context, cfg Config) (backends.Backend, error) {
	cfg = cfg.withDefaults()
	if cfg.Project == "" {
		return nil, &backends.NotConfiguredError{Backend: Name, Reason: "no project",
			Hint: "set gcp.project in ~/.portico/config.yml or GOOGLE_CLOUD_PROJECT"}
	}
	if strings.ContainsAny(cfg.Project, "/ \t\n") {
		return nil, &backends.NotConfiguredError{Backend: Name, Reason: "invalid project id " + quote(cfg.Project),
			Hint: "gcp.project is a project id such as my-project-123"}
	}
	opts, err := clientOptions(cfg.Endpoint)
	if err != nil {
		return nil, err
	}
	api, err := newRESTAPI(ctx, cfg.Project, opts)
	if err != nil {
		return nil, &backends.NotConfiguredError{Backend: Name, Reason: "cannot create Compute Engine clients: " + err.Error(),
			Hint: "run `gcloud auth application-default login` or set GOOGLE_APPLICATION_CREDENTIALS"}
	}
	return newBackend(cfg, api), nil
}

// clientOptions picks authentication by endpoint: ADC by default and for
// https endpoints; none for a plain-http loopback endpoint; and a refusal
// for plain http anywhere else, which would expose the credentials.
func clientOptions(endpoint string) ([]option.ClientOption, error) {
	if endpoint == "" {
		return nil, nil
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return nil, &backends.NotConfiguredError{Backend: Name, Reason: "invalid endpoint " + quote(endpoint),
			Hint: "gcp.endpoint is a URL such as https://compute.googleapis.com"}
	}
	switch u.Scheme {
	case "https":
		return []option.ClientOption{option.WithEndpoint(endpoint)}, nil
	case "http":
		if !isLoopback(u.Hostname()) {
			return nil, &backends.NotConfiguredError{Backend: Name, Reason: "endpoint " + quote(endpoint) + " is plain http and not loopback",
				Hint: "use an https:// endpoint; credentials are never sent unencrypted"}
		}
		return []option.ClientOption{option.WithEndpoint(endpoint), option.WithoutAuthentication()}, nil
	}
	return nil, &backends.NotConfiguredError{Backend: Name, Reason: "endpoint " + quote(endpoint) + " is neither http nor https",
		Hint: "gcp.endpoint is a URL such as https://compute.googleapis.com"}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// backend implements backends.Backend on a computeAPI.
type backend struct {
	cfg    Config
	api    computeAPI
	log    *slog.Logger
	flight singleflight.Group // zone listings and firewall creation, once per key
	ops    *opPoller          // follows the insert and delete operations in flight

	mu        sync.Mutex
	zones     map[string][]string // region → zones that were UP, sorted
	firewalls map[string]bool     // rules known to exist
}

func newBackend(cfg Config, api computeAPI) *backend {
	b := &backend{cfg: cfg, api: api, log: cfg.Logger, zones: map[string][]string{}, firewalls: map[string]bool{}}
	b.ops = newOpPoller(b)
	return b
}

func (b *backend) Name() string { return Name }

// Capabilities lists GCP's public regions as data so that a spec's region
// is checked before any call.
func (b *backend) Capabilities() backends.Capabilities {
	return backends.Capabilities{
		Regions:             append([]string(nil), regions...),
		DefaultRegion:       DefaultRegion,
		DefaultInstanceType: DefaultInstanceType,
		PollInterval:        b.cfg.PollInterval,
	}
}

// Close fails the waits in flight, stops polling and releases the
// clients' connections.
func (b *backend) Close() error {
	b.ops.close()
	return b.api.Close()
}

// regions are Compute Engine's public regions, from
// https://cloud.google.com/compute/docs/regions-zones (checked 2025).
// Zones are not listed here: they are read from the Zones API when first
// needed, because their availability changes.
var regions = []string{
	"africa-south1",
	"asia-east1", "asia-east2", "asia-northeast1", "asia-northeast2", "asia-northeast3",
	"asia-south1", "asia-south2", "asia-southeast1", "asia-southeast2",
	"australia-southeast1", "australia-southeast2",
	"europe-central2", "europe-north1", "europe-north2", "europe-southwest1",
	"europe-west1", "europe-west2", "europe-west3", "europe-west4", "europe-west6",
	"europe-west8", "europe-west9", "europe-west10", "europe-west12",
	"me-central1", "me-central2", "me-west1",
	"northamerica-northeast1", "northamerica-northeast2", "northamerica-south1",
	"southamerica-east1", "southamerica-west1",
	"us-central1", "us-east1", "us-east4", "us-east5", "us-south1",
	"us-west1", "us-west2", "us-west3", "us-west4",
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func quote(s string) string { return `"` + s + `"` }

// Regions returns Compute Engine's public regions, so a spec can be
// validated without building a backend (which needs credentials).
func Regions() []string { return append([]string(nil), regions...) }
