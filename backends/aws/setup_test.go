package aws

import (
	"context"
	"net/http"
	"testing"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/backends"
	"github.com/portico-dev/portico/backends/awstest"
)

// sdkClient talks to the fake directly, as another process or a person
// would, to prepare the world a test starts from.
func sdkClient(f *fixture) *ec2.Client {
	return ec2.New(ec2.Options{Region: region, BaseEndpoint: awssdk.String(f.srv.URL()),
		Credentials: f.cfg.Credentials, RetryMaxAttempts: 1, HTTPClient: detachedBody{next: &http.Client{}}})
}

func porticoGroups(srv *awstest.Server) []awstest.SecurityGroup {
	var out []awstest.SecurityGroup
	for _, g := range srv.SecurityGroups(region) {
		if g.Name == GroupName {
			out = append(out, g)
		}
	}
	return out
}

func TestSecurityGroupIsCreatedOnceWithTheWantedPorts(t *testing.T) {
	for _, tc := range []struct {
		name    string
		sshCIDR string
		want    []string
	}{
		{"no ssh", "", []string{"tcp/80-80 0.0.0.0/0", "tcp/443-443 0.0.0.0/0"}},
		{"ssh from an office", "198.51.100.0/24", []string{"tcp/80-80 0.0.0.0/0", "tcp/443-443 0.0.0.0/0", "tcp/22-22 198.51.100.0/24"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, awstest.Options{}, func(c *Config) { c.SSHCIDR = tc.sshCIDR })
			for n := range 3 {
				_, err := f.b.Launch(ctx(t), request("sg", n))
				require.NoError(t, err)
			}
			groups := porticoGroups(f.srv)
			require.Len(t, groups, 1)
			assert.Equal(t, tc.want, groups[0].Ingress)
			assert.Equal(t, f.srv.DefaultVPC(region), groups[0].VpcID)
			for _, in := range live(f.srv, region, nil) {
				assert.Equal(t, []string{groups[0].ID}, in.SecurityGroupIDs)
			}

			// A second process finds the group and changes nothing.
			b2, err := New(context.Background(), f.cfg)
			require.NoError(t, err)
			_, err = b2.Launch(ctx(t), request("sg-2", 0))
			require.NoError(t, err)
			assert.Equal(t, 1, f.srv.Calls("CreateSecurityGroup"))
			assert.Equal(t, 1, f.srv.Calls("AuthorizeSecurityGroupIngress"))
		})
	}
}

func TestSecurityGroupRaceWithAnotherProcessIsTolerated(t *testing.T) {
	f := newFixture(t, awstest.Options{}, nil)
	other := sdkClient(f)
	// Another process creates the group (with port 80 only) between our
	// lookup and our create.
	f.srv.Hook("CreateSecurityGroup", awstest.BeforeAction, func() {
		f.srv.Hook("CreateSecurityGroup", awstest.BeforeAction, nil)
		out, err := other.CreateSecurityGroup(context.Background(), &ec2.CreateSecurityGroupInput{
			GroupName: awssdk.String(GroupName), Description: awssdk.String("other"), VpcId: awssdk.String(f.srv.DefaultVPC(region))})
		assert.NoError(t, err) // not require: this runs on a server goroutine
		_, err = other.AuthorizeSecurityGroupIngress(context.Background(), &ec2.AuthorizeSecurityGroupIngressInput{
			GroupId: out.GroupId, IpPermissions: []types.IpPermission{{IpProtocol: awssdk.String("tcp"),
				FromPort: awssdk.Int32(80), ToPort: awssdk.Int32(80), IpRanges: []types.IpRange{{CidrIp: awssdk.String("0.0.0.0/0")}}}}})
		assert.NoError(t, err) // not require: this runs on a server goroutine
	})
	_, err := f.b.Launch(ctx(t), request("race", 0))
	require.NoError(t, err)
	groups := porticoGroups(f.srv)
	require.Len(t, groups, 1, "InvalidGroup.Duplicate means someone else created it")
	assert.Equal(t, []string{"tcp/80-80 0.0.0.0/0", "tcp/443-443 0.0.0.0/0"}, groups[0].Ingress, "only the missing rule was added")
}

func TestHealthPortIsOpenedOncePerRegion(t *testing.T) {
	f := newFixture(t, awstest.Options{}, nil)
	for n := range 3 {
		req := request("hp", n)
		req.HealthPort = 8080
		_, err := f.b.Launch(ctx(t), req)
		require.NoError(t, err)
	}
	assert.Contains(t, porticoGroups(f.srv)[0].Ingress, "tcp/8080-8080 0.0.0.0/0")
	assert.Equal(t, 2, f.srv.Calls("AuthorizeSecurityGroupIngress"), "80/443 once, 8080 once")
}

func TestImageIsTheNewestCanonicalUbuntu(t *testing.T) {
	jammyOnly := []awstest.ImageSpec{awstest.DefaultImages()[3], awstest.DefaultImages()[4]}
	for _, tc := range []struct {
		name         string
		images       []awstest.ImageSpec
		instanceType string
		configured   string
		want         string // image name; "" means the configured id
		wantLookups  int
	}{
		{"noble amd64, not the impostor or the pending one", nil, "", "", "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20261101", 1},
		{"arm64 for graviton", nil, "t4g.small", "", "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-arm64-server-20261101", 1},
		{"jammy when noble is missing", jammyOnly, "", "", "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-20261020", 2},
		{"configured image, no lookup", nil, "", "fixed", "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := awstest.NewServer(awstest.Options{Images: tc.images})
			t.Cleanup(srv.Close)
			cfg := testConfig(srv)
			if tc.configured != "" {
				cfg.AMI = srv.ImageID(region, awstest.DefaultImages()[0].Name)
			}
			b, err := New(context.Background(), cfg)
			require.NoError(t, err)
			for n := range 2 {
				req := request("img", n)
				req.InstanceType = tc.instanceType
				_, err := b.Launch(ctx(t), req)
				require.NoError(t, err)
			}
			want := cfg.AMI
			if tc.want != "" {
				want = srv.ImageID(region, tc.want)
			}
			for _, in := range srv.Instances(region) {
				assert.Equal(t, want, in.ImageID)
			}
			assert.Equal(t, tc.wantLookups, srv.Calls("DescribeImages"), "looked up once and cached")
		})
	}
}

func TestNoImageIsAPermanentError(t *testing.T) {
	srv := awstest.NewServer(awstest.Options{Images: []awstest.ImageSpec{}})
	t.Cleanup(srv.Close)
	b, err := New(context.Background(), testConfig(srv))
	require.NoError(t, err)
	_, err = b.Launch(ctx(t), request("noimg", 0))
	var be *backends.Error
	require.ErrorAs(t, err, &be)
	assert.Equal(t, backends.Permanent, be.Kind)
	assert.Equal(t, "InvalidAMIID.NotFound", be.Code)
	assert.Contains(t, be.Message, "set ami in the aws config")
	assert.Zero(t, srv.Calls("RunInstances"))
}

func TestConfiguredNetwork(t *testing.T) {
	f := newFixture(t, awstest.Options{}, nil)
	subnetB, subnetC := f.srv.SubnetID(region, "eu-west-1b"), f.srv.SubnetID(region, "eu-west-1c")
	for _, tc := range []struct {
		name      string
		mod       func(*Config)
		wantZones []string
		wantCalls map[string]int
		wantCode  string
	}{
		{"subnets", func(c *Config) { c.SubnetIDs = []string{subnetC, subnetB} },
			[]string{"eu-west-1b", "eu-west-1c", "eu-west-1b"},
			map[string]int{"DescribeSubnets": 1, "DescribeVpcs": 0, "DescribeAvailabilityZones": 0}, ""},
		{"vpc", func(c *Config) { c.VPCID = f.srv.DefaultVPC(region) },
			[]string{"eu-west-1a", "eu-west-1b", "eu-west-1c"},
			map[string]int{"DescribeSubnets": 1, "DescribeVpcs": 0, "DescribeAvailabilityZones": 1}, ""},
		{"unknown subnet", func(c *Config) { c.SubnetIDs = []string{"subnet-0123456789abcdef0"} }, nil, nil, "InvalidSubnetID.NotFound"},
		{"subnet outside the vpc", func(c *Config) { c.SubnetIDs, c.VPCID = []string{subnetB}, "vpc-0123456789abcdef0" }, nil, nil, "InvalidSubnetID.Mismatch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := awstest.NewServer(awstest.Options{})
			t.Cleanup(srv.Close)
			cfg := testConfig(srv)
			tc.mod(&cfg)
			b, err := New(context.Background(), cfg)
			require.NoError(t, err)
			for n := range 3 {
				in, err := b.Launch(ctx(t), request("net", n))
				if tc.wantCode != "" {
					var be *backends.Error
					require.ErrorAs(t, err, &be)
					assert.Equal(t, backends.Permanent, be.Kind)
					assert.Equal(t, tc.wantCode, be.Code)
					return
				}
				require.NoError(t, err)
				assert.Equal(t, tc.wantZones[n], in.Zone, "replica %d", n)
			}
			for action, want := range tc.wantCalls {
				assert.Equal(t, want, srv.Calls(action), action)
			}
		})
	}
}

func TestIngressDuplicateFromAnotherProcessIsTolerated(t *testing.T) {
	f := newFixture(t, awstest.Options{}, nil)
	other := sdkClient(f)
	// Another process adds the https rule between our lookup and our
	// authorize, so EC2 rejects our two-rule call as a duplicate.
	f.srv.Hook("AuthorizeSecurityGroupIngress", awstest.BeforeAction, func() {
		f.srv.Hook("AuthorizeSecurityGroupIngress", awstest.BeforeAction, nil)
		groups := porticoGroups(f.srv)
		if !assert.Len(t, groups, 1) {
			return
		}
		_, err := other.AuthorizeSecurityGroupIngress(context.Background(), &ec2.AuthorizeSecurityGroupIngressInput{
			GroupId: awssdk.String(groups[0].ID), IpPermissions: []types.IpPermission{{IpProtocol: awssdk.String("tcp"),
				FromPort: awssdk.Int32(443), ToPort: awssdk.Int32(443), IpRanges: []types.IpRange{{CidrIp: awssdk.String("0.0.0.0/0")}}}}})
		assert.NoError(t, err) // not require: this runs on a server goroutine
	})
	_, err := f.b.Launch(ctx(t), request("dup", 0))
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"tcp/80-80 0.0.0.0/0", "tcp/443-443 0.0.0.0/0"}, porticoGroups(f.srv)[0].Ingress)
	var results []string
	for _, c := range f.srv.CallLog() {
		if c.Action == "AuthorizeSecurityGroupIngress" {
			results = append(results, c.Result)
		}
	}
	assert.Equal(t, []string{"InvalidPermission.Duplicate", "", "", "InvalidPermission.Duplicate"}, results,
		"our pair (during which the other process adds https), then ours one by one")
}
