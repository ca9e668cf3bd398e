// Package aws is the backend that runs each gateway replica as an EC2
// instance, through aws-sdk-go-v2.
//
// Safety comes from EC2's own idempotency: every RunInstances carries a
// ClientToken derived from the replica's token and the zone, so a retried,
// resumed or concurrent launch gets the instance the first one started.
// Instances are tagged at creation (portico-token, -install, -gateway,
// -replica), so they can be found again after a crash and swept when no
// record claims them.
//
// Credentials, and the endpoint, come from the SDK's standard chain
// (profiles, environment including AWS_ENDPOINT_URL_EC2, SSO, instance
// roles); this package never stores or logs them.
package aws

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/portico-dev/portico/backends"
)

// Name is the backend's name in specs.
const Name = "aws"

// Defaults the Capabilities advertise.
const (
	DefaultRegion       = "us-east-1"
	DefaultInstanceType = "t3.micro"
)

// Regions are the AWS commercial regions (partition "aws"), as listed by
// aws-sdk-go-v2's EC2 endpoint table (service/ec2 v1.344.3,
// internal/endpoints), minus the FIPS aliases. Opt-in regions are included;
// EC2 answers OptInRequired there until the account enables them.
var Regions = []string{
	"af-south-1", "ap-east-1", "ap-east-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
	"ap-south-1", "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3",
	"ap-southeast-4", "ap-southeast-5", "ap-southeast-6", "ap-southeast-7",
	"ca-central-1", "ca-west-1", "eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1",
	"eu-south-2", "eu-west-1", "eu-west-2", "eu-west-3", "il-central-1", "me-central-1",
	"me-south-1", "mx-central-1", "sa-east-1", "us-east-1", "us-east-2", "us-west-1", "us-west-2",
}

// Config is the backend's settings from Portico's config file (under
// `aws:`); all optional. VPCID and SubnetIDs apply to every region a
// gateway uses, so they suit single-region installations; without them
// each region's default VPC is used.
type Config struct {
	// Profile selects a shared-config profile instead of AWS_PROFILE.
	Profile string `yaml:"profile"`
	// Endpoint overrides the EC2 endpoint the standard chain would pick
	// (AWS_ENDPOINT_URL_EC2 and AWS_ENDPOINT_URL also work, through the SDK).
	Endpoint string `yaml:"endpoint"`
	// VPCID places instances in this VPC rather than the default one.
	VPCID string `yaml:"vpc_id"`
	// SubnetIDs are the subnets replicas spread over (one zone each).
	SubnetIDs []string `yaml:"subnet_ids"`
	// ExtraTags are added to every instance (never over portico-* or Name).
	ExtraTags map[string]string `yaml:"extra_tags"`
	// SSHCIDR opens port 22 to this CIDR; port 22 stays closed when empty.
	SSHCIDR string `yaml:"ssh_cidr"`
	// AMI fixes the image; otherwise the newest Canonical Ubuntu 24.04
	// (then 22.04) of the region is looked up once and cached.
	AMI string `yaml:"ami"`

	// PollInterval is advertised to the pipelines; default 5s.
	PollInterval time.Duration `yaml:"poll_interval"`
	// RetryMaxAttempts bounds the SDK's attempts per call; default 8.
	RetryMaxAttempts int `yaml:"-"`
	// RetryMaxBackoff caps the SDK's backoff between attempts; default 20s.
	RetryMaxBackoff time.Duration `yaml:"retry_max_backoff"`
	// Credentials replaces the standard chain (tests use static keys so
	// that nothing ever asks the instance metadata service).
	Credentials awssdk.CredentialsProvider `yaml:"-"`
}

// ec2API is the part of the EC2 client this backend uses; tests may pass a
// narrow fake, though most talk to awstest's HTTP fake through the real
// client.
type ec2API interface {
	RunInstances(ctx context.Context, in *ec2.RunInstancesInput, opts ...func(*ec2.Options)) (*ec2.RunInstancesOutput, error)
	DescribeInstances(ctx context.Context, in *ec2.DescribeInstancesInput, opts ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error)
	TerminateInstances(ctx context.Context, in *ec2.TerminateInstancesInput, opts ...func(*ec2.Options)) (*ec2.TerminateInstancesOutput, error)
	DescribeAvailabilityZones(ctx context.Context, in *ec2.DescribeAvailabilityZonesInput, opts ...func(*ec2.Options)) (*ec2.DescribeAvailabilityZonesOutput, error)
	DescribeImages(ctx context.Context, in *ec2.DescribeImagesInput, opts ...func(*ec2.Options)) (*ec2.DescribeImagesOutput, error)
	DescribeVpcs(ctx context.Context, in *ec2.DescribeVpcsInput, opts ...func(*ec2.Options)) (*ec2.DescribeVpcsOutput, error)
	DescribeSubnets(ctx context.Context, in *ec2.DescribeSubnetsInput, opts ...func(*ec2.Options)) (*ec2.DescribeSubnetsOutput, error)
	DescribeSecurityGroups(ctx context.Context, in *ec2.DescribeSecurityGroupsInput, opts ...func(*ec2.Options)) (*ec2.DescribeSecurityGroupsOutput, error)
	CreateSecurityGroup(ctx context.Context, in *ec2.CreateSecurityGroupInput, opts ...func(*ec2.Options)) (*ec2.CreateSecurityGroupOutput, error)
	AuthorizeSecurityGroupIngress(ctx context.Context, in *ec2.AuthorizeSecurityGroupIngressInput, opts ...func(*ec2.Options)) (*ec2.AuthorizeSecurityGroupIngressOutput, error)
}

type backend struct {
	cfg       Config
	newClient func(region string) ec2API

	mu      sync.Mutex
	regions map[string]*regionState
	// launched remembers recent launches of this process, so an instance
	// EC2 does not list yet (eventual consistency) is not taken for dead.
	launched map[string]time.Time
}

// New returns the AWS backend. It loads the SDK configuration (no network
// call happens until the first launch or describe).
func New(ctx context.Context, cfg Config) (backends.Backend, error) {
	if cfg.SSHCIDR != "" {
		if _, _, err := net.ParseCIDR(cfg.SSHCIDR); err != nil {
			return nil, fmt.Errorf("aws backend: ssh_cidr %q is not a CIDR block such as 203.0.113.0/24", cfg.SSHCIDR)
		}
	}
	var opts []func(*config.LoadOptions) error
	if cfg.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(cfg.Profile))
	}
	if cfg.Credentials != nil {
		opts = append(opts, config.WithCredentialsProvider(cfg.Credentials))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, &backends.NotConfiguredError{Backend: Name, Reason: fmt.Sprintf("load AWS configuration: %v", err),
			Hint: "check the profile name and ~/.aws/config, or set AWS_PROFILE"}
	}
	cfg = withDefaults(cfg)
	b := newBackend(cfg, nil)
	b.newClient = func(region string) ec2API {
		return ec2.NewFromConfig(awsCfg, func(o *ec2.Options) {
			o.Region = region
			if cfg.Endpoint != "" {
				o.BaseEndpoint = awssdk.String(cfg.Endpoint)
			}
			o.Retryer = newRetryer(cfg)
			o.RetryMaxAttempts = 0 // ours wins over AWS_MAX_ATTEMPTS
			if o.HTTPClient != nil {
				o.HTTPClient = detachedBody{next: o.HTTPClient}
			}
		})
	}
	return b, nil
}

func withDefaults(cfg Config) Config {
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 5 * time.Second
	}
	if cfg.RetryMaxAttempts <= 0 {
		cfg.RetryMaxAttempts = 8
	}
	if cfg.RetryMaxBackoff <= 0 {
		cfg.RetryMaxBackoff = 20 * time.Second
	}
	return cfg
}

func newBackend(cfg Config, newClient func(string) ec2API) *backend {
	return &backend{cfg: cfg, newClient: newClient, regions: map[string]*regionState{}, launched: map[string]time.Time{}}
}

// newRetryer is the SDK's standard retryer (exponential backoff with full
// jitter, throttling included) with our bounds, minus one thing: capacity
// errors come with HTTP 500, which the SDK would retry in the same zone;
// the launch loop moves to the next zone instead.
func newRetryer(cfg Config) awssdk.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = cfg.RetryMaxAttempts
		o.MaxBackoff = cfg.RetryMaxBackoff
		o.Retryables = append([]retry.IsErrorRetryable{retry.IsErrorRetryableFunc(func(err error) awssdk.Ternary {
			if isZoneError(apiCode(err)) {
				return awssdk.FalseTernary
			}
			return awssdk.UnknownTernary
		})}, o.Retryables...)
	})
}

func (b *backend) Name() string { return Name }

func (b *backend) Capabilities() backends.Capabilities {
	return backends.Capabilities{
		Regions:             slices.Clone(Regions),
		DefaultRegion:       DefaultRegion,
		DefaultInstanceType: DefaultInstanceType,
		PollInterval:        b.cfg.PollInterval,
		// EC2 lists a new instance within seconds, usually; allow a minute.
		ConsistencyDelay: time.Minute,
	}
}

// region returns the state of one region, creating its client on first use.
func (b *backend) region(name string) (*regionState, error) {
	if name == "" {
		name = DefaultRegion
	}
	if !regionRE.MatchString(name) {
		return nil, &backends.Error{Kind: backends.Permanent, Code: "InvalidRegion", Message: fmt.Sprintf("invalid AWS region %q", name)}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	r, ok := b.regions[name]
	if !ok {
		r = newRegionState(name, b.newClient(name))
		b.regions[name] = r
	}
	return r, nil
}

// knownRegions are the regions this backend has a client for, sorted.
func (b *backend) knownRegions() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]string, 0, len(b.regions))
	for name := range b.regions {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// debug logs one EC2 call: action, region and token only, never
// credentials or user data.
func (b *backend) debug(action, region, token string) {
	slog.Default().Debug("ec2 call", "action", action, "region", region, "token", token)
}
