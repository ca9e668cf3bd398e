package awstest

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRunInstancesValidatesLikeEC2(t *testing.T) {
	s := newServer(t, Options{})
	c := client(s, region)
	subnetB := s.SubnetID(region, "eu-west-1b")
	ni := func(subnet string, public *bool) []types.InstanceNetworkInterfaceSpecification {
		return []types.InstanceNetworkInterfaceSpecification{{DeviceIndex: aws.Int32(0), SubnetId: aws.String(subnet), AssociatePublicIpAddress: public}}
	}
	for _, tc := range []struct {
		name   string
		mutate func(*ec2.RunInstancesInput)
		code   string
	}{
		{"subnet on both levels", func(in *ec2.RunInstancesInput) {
			in.NetworkInterfaces, in.SubnetId = ni(subnetB, nil), aws.String(subnetB)
		}, "InvalidParameterCombination"},
		{"groups on both levels", func(in *ec2.RunInstancesInput) {
			in.NetworkInterfaces, in.SecurityGroupIds = ni(subnetB, nil), []string{"sg-1"}
		}, "InvalidParameterCombination"},
		{"unknown subnet", func(in *ec2.RunInstancesInput) { in.SubnetId = aws.String("subnet-0123456789abcdef0") }, "InvalidSubnetID.NotFound"},
		{"unknown group", func(in *ec2.RunInstancesInput) { in.SecurityGroupIds = []string{"sg-0123456789abcdef0"} }, "InvalidGroup.NotFound"},
		{"unknown zone", func(in *ec2.RunInstancesInput) {
			in.Placement = &types.Placement{AvailabilityZone: aws.String("eu-west-1z")}
		}, "InvalidParameterValue"},
		{"zone and subnet disagree", func(in *ec2.RunInstancesInput) {
			in.SubnetId, in.Placement = aws.String(subnetB), &types.Placement{AvailabilityZone: aws.String("eu-west-1a")}
		}, "InvalidParameterValue"},
		{"unknown image", func(in *ec2.RunInstancesInput) { in.ImageId = aws.String("ami-0123456789abcdef0") }, "InvalidAMIID.NotFound"},
		{"malformed image", func(in *ec2.RunInstancesInput) { in.ImageId = aws.String("ubuntu") }, "InvalidAMIID.Malformed"},
		{"arm image on x86 type", func(in *ec2.RunInstancesInput) {
			in.ImageId = aws.String(s.ImageID(region, "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-arm64-server-20261101"))
		}, "InvalidParameterValue"},
		{"bad instance type", func(in *ec2.RunInstancesInput) { in.InstanceType = "huge" }, "InvalidParameterValue"},
		{"bad user data", func(in *ec2.RunInstancesInput) { in.UserData = aws.String("%%%") }, "InvalidParameterValue"},
		{"reserved tag", func(in *ec2.RunInstancesInput) {
			in.TagSpecifications = []types.TagSpecification{{ResourceType: types.ResourceTypeInstance, Tags: []types.Tag{{Key: aws.String("aws:x"), Value: aws.String("y")}}}}
		}, "InvalidParameterValue"},
		{"long token", func(in *ec2.RunInstancesInput) { in.ClientToken = aws.String(strings.Repeat("x", 65)) }, "InvalidParameterValue"},
		{"more than asked for", func(in *ec2.RunInstancesInput) { in.MinCount = aws.Int32(2) }, "InvalidParameterValue"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := runInput(s, "")
			tc.mutate(in)
			_, err := c.RunInstances(ctx(t), in)
			code, status := apiErr(t, err)
			assert.Equal(t, tc.code, code)
			assert.Equal(t, 400, status)
		})
	}
	assert.Empty(t, s.Instances(region), "no failed call leaves an instance")
}

func TestPlacementAndPublicAddressing(t *testing.T) {
	s := newServer(t, Options{})
	c := client(s, region)
	for _, tc := range []struct {
		name       string
		in         func(*ec2.RunInstancesInput)
		wantZone   string
		wantPublic bool
	}{
		{"default", func(*ec2.RunInstancesInput) {}, "eu-west-1a", true},
		{"zone", func(in *ec2.RunInstancesInput) {
			in.Placement = &types.Placement{AvailabilityZone: aws.String("eu-west-1c")}
		}, "eu-west-1c", true},
		{"subnet on an interface, no public address", func(in *ec2.RunInstancesInput) {
			in.NetworkInterfaces = []types.InstanceNetworkInterfaceSpecification{{DeviceIndex: aws.Int32(0),
				SubnetId: aws.String(s.SubnetID(region, "eu-west-1b")), AssociatePublicIpAddress: aws.Bool(false)}}
		}, "eu-west-1b", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := runInput(s, tc.name)
			tc.in(in)
			id := aws.ToString(launch(t, c, in).InstanceId)
			require.Eventually(t, func() bool {
				for _, got := range s.Instances(region) {
					if got.ID == id && got.State == "running" {
						assert.Equal(t, tc.wantZone, got.Zone)
						assert.Equal(t, s.SubnetID(region, tc.wantZone), got.SubnetID)
						assert.Equal(t, tc.wantPublic, got.PublicIP != "")
						return true
					}
				}
				return false
			}, 5*time.Second, 5*time.Millisecond)
		})
	}
}

func TestZonesVpcsAndSubnets(t *testing.T) {
	s := newServer(t, Options{ZonesPerRegion: 2})
	c := client(s, "us-west-2")
	zones, err := c.DescribeAvailabilityZones(ctx(t), &ec2.DescribeAvailabilityZonesInput{})
	require.NoError(t, err)
	require.Len(t, zones.AvailabilityZones, 2)
	assert.Equal(t, "us-west-2a", aws.ToString(zones.AvailabilityZones[0].ZoneName))
	assert.Equal(t, "usw2-az1", aws.ToString(zones.AvailabilityZones[0].ZoneId))

	vpcs, err := c.DescribeVpcs(ctx(t), &ec2.DescribeVpcsInput{Filters: []types.Filter{flt("is-default", "true")}})
	require.NoError(t, err)
	require.Len(t, vpcs.Vpcs, 1)
	assert.Equal(t, s.DefaultVPC("us-west-2"), aws.ToString(vpcs.Vpcs[0].VpcId))
	assert.NotEqual(t, s.DefaultVPC("us-west-2"), s.DefaultVPC(region), "one default VPC per region")

	subnets, err := c.DescribeSubnets(ctx(t), &ec2.DescribeSubnetsInput{Filters: []types.Filter{flt("vpc-id", s.DefaultVPC("us-west-2"))}})
	require.NoError(t, err)
	require.Len(t, subnets.Subnets, 2)
	assert.Equal(t, s.SubnetID("us-west-2", "us-west-2b"), aws.ToString(subnets.Subnets[1].SubnetId))
	assert.True(t, aws.ToBool(subnets.Subnets[1].DefaultForAz))

	_, err = c.DescribeSubnets(ctx(t), &ec2.DescribeSubnetsInput{SubnetIds: []string{s.SubnetID(region, "eu-west-1a")}})
	code, _ := apiErr(t, err)
	assert.Equal(t, "InvalidSubnetID.NotFound", code, "another region's subnet")
}

func TestDescribeImages(t *testing.T) {
	s := newServer(t, Options{})
	c := client(s, region)
	names := func(in *ec2.DescribeImagesInput) []string {
		out, err := c.DescribeImages(ctx(t), in)
		require.NoError(t, err)
		var got []string
		for _, img := range out.Images {
			got = append(got, aws.ToString(img.Name))
			assert.Equal(t, s.ImageID(region, aws.ToString(img.Name)), aws.ToString(img.ImageId))
		}
		return got
	}
	const prefix = "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-"
	all := names(&ec2.DescribeImagesInput{Filters: []types.Filter{flt("name", "ubuntu/images/hvm-ssd*/ubuntu-noble-24.04-amd64-server-*")}})
	assert.Contains(t, all, prefix+"amd64-server-20261231", "the impostor matches the name")
	canonical := names(&ec2.DescribeImagesInput{Owners: []string{CanonicalOwner},
		Filters: []types.Filter{flt("name", "ubuntu/images/hvm-ssd*/ubuntu-noble-24.04-amd64-server-*"), flt("state", "available"), flt("architecture", "x86_64")}})
	assert.ElementsMatch(t, []string{prefix + "amd64-server-20260915", prefix + "amd64-server-20261101"}, canonical)

	_, err := c.DescribeImages(ctx(t), &ec2.DescribeImagesInput{ImageIds: []string{"ami-0123456789abcdef0"}})
	code, _ := apiErr(t, err)
	assert.Equal(t, "InvalidAMIID.NotFound", code)
}

func TestSecurityGroups(t *testing.T) {
	s := newServer(t, Options{})
	c := client(s, region)
	create := &ec2.CreateSecurityGroupInput{GroupName: aws.String("web"), Description: aws.String("web in")}
	out, err := c.CreateSecurityGroup(ctx(t), create)
	require.NoError(t, err)
	id := aws.ToString(out.GroupId)
	_, err = c.CreateSecurityGroup(ctx(t), create)
	code, _ := apiErr(t, err)
	assert.Equal(t, "InvalidGroup.Duplicate", code)

	rule := &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(id), IpPermissions: []types.IpPermission{{
		IpProtocol: aws.String("tcp"), FromPort: aws.Int32(443), ToPort: aws.Int32(443),
		IpRanges: []types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}}}}
	_, err = c.AuthorizeSecurityGroupIngress(ctx(t), rule)
	require.NoError(t, err)
	_, err = c.AuthorizeSecurityGroupIngress(ctx(t), rule)
	code, _ = apiErr(t, err)
	assert.Equal(t, "InvalidPermission.Duplicate", code)

	found, err := c.DescribeSecurityGroups(ctx(t), &ec2.DescribeSecurityGroupsInput{Filters: []types.Filter{
		flt("group-name", "web"), flt("vpc-id", s.DefaultVPC(region))}})
	require.NoError(t, err)
	require.Len(t, found.SecurityGroups, 1)
	g := found.SecurityGroups[0]
	assert.Equal(t, id, aws.ToString(g.GroupId))
	require.Len(t, g.IpPermissions, 1)
	assert.Equal(t, int32(443), aws.ToInt32(g.IpPermissions[0].FromPort))
	assert.Equal(t, "0.0.0.0/0", aws.ToString(g.IpPermissions[0].IpRanges[0].CidrIp))

	none, err := c.DescribeSecurityGroups(ctx(t), &ec2.DescribeSecurityGroupsInput{Filters: []types.Filter{flt("group-name", "web")}})
	require.NoError(t, err)
	assert.Len(t, none.SecurityGroups, 1)
	_, err = c.DescribeSecurityGroups(ctx(t), &ec2.DescribeSecurityGroupsInput{GroupIds: []string{"sg-0123456789abcdef0"}})
	code, _ = apiErr(t, err)
	assert.Equal(t, "InvalidGroup.NotFound", code)

	in := runInput(s, "")
	in.SecurityGroupIds = []string{id}
	launched := launch(t, c, in)
	assert.Equal(t, id, aws.ToString(launched.SecurityGroups[0].GroupId))
	assert.Equal(t, "web", aws.ToString(launched.SecurityGroups[0].GroupName))
}
