package aws

import (
	"context"
	"fmt"
	"maps"
	"slices"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// ingress is one rule the group must allow.
type ingress struct {
	port int
	cidr string
	desc string
}

// wantedIngress is what a gateway needs open: HTTP and HTTPS to the world,
// SSH only to the configured CIDR.
func (b *backend) wantedIngress() []ingress {
	rules := []ingress{{80, "0.0.0.0/0", "http"}, {443, "0.0.0.0/0", "https"}}
	if b.cfg.SSHCIDR != "" {
		rules = append(rules, ingress{22, b.cfg.SSHCIDR, "ssh"})
	}
	return rules
}

// ensureGroup finds the VPC's portico-gateway group, or creates it, and
// adds whichever wanted rule it lacks. Another process doing the same at
// the same time is fine: Duplicate errors mean someone else got there.
func (b *backend) ensureGroup(ctx context.Context, r *regionState, vpcID string) (string, error) {
	sg, err := b.findGroup(ctx, r, vpcID)
	if err != nil {
		return "", err
	}
	if sg == nil {
		b.debug("CreateSecurityGroup", r.name, "")
		tags := []types.Tag{{Key: awssdk.String("Name"), Value: awssdk.String(GroupName)}}
		for _, k := range slices.Sorted(maps.Keys(b.cfg.ExtraTags)) {
			if !reservedTag(k) {
				tags = append(tags, types.Tag{Key: awssdk.String(k), Value: awssdk.String(b.cfg.ExtraTags[k])})
			}
		}
		out, err := r.client.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{
			GroupName:         awssdk.String(GroupName),
			Description:       awssdk.String("Portico gateways: HTTP and HTTPS in"),
			VpcId:             awssdk.String(vpcID),
			TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeSecurityGroup, Tags: tags}},
		})
		switch {
		case apiCode(err) == "InvalidGroup.Duplicate":
			if sg, err = b.findGroup(ctx, r, vpcID); err == nil && sg == nil {
				return "", permanent("InvalidGroup.NotFound", "security group %s in %s exists but cannot be described", GroupName, vpcID)
			}
			if err != nil {
				return "", err
			}
		case err != nil:
			return "", classify(err, "create security group %s in %s", GroupName, vpcID)
		default:
			sg = &types.SecurityGroup{GroupId: out.GroupId}
		}
	}
	var missing []ingress
	for _, want := range b.wantedIngress() {
		if !allows(sg.IpPermissions, want.port, want.cidr) {
			missing = append(missing, want)
		}
	}
	if err := b.authorize(ctx, r, awssdk.ToString(sg.GroupId), missing); err != nil {
		return "", err
	}
	return awssdk.ToString(sg.GroupId), nil
}

func (b *backend) findGroup(ctx context.Context, r *regionState, vpcID string) (*types.SecurityGroup, error) {
	b.debug("DescribeSecurityGroups", r.name, "")
	out, err := r.client.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{
		Filters: []types.Filter{filter("group-name", GroupName), filter("vpc-id", vpcID)}})
	if err != nil {
		return nil, classify(err, "find security group %s in %s", GroupName, vpcID)
	}
	if len(out.SecurityGroups) == 0 {
		return nil, nil
	}
	return &out.SecurityGroups[0], nil
}

func allows(perms []types.IpPermission, port int, cidr string) bool {
	for _, p := range perms {
		proto := awssdk.ToString(p.IpProtocol)
		from, to := int(awssdk.ToInt32(p.FromPort)), int(awssdk.ToInt32(p.ToPort))
		if proto != "-1" && (proto != "tcp" || port < from || port > to) {
			continue
		}
		for _, rg := range p.IpRanges {
			if awssdk.ToString(rg.CidrIp) == cidr {
				return true
			}
		}
	}
	return false
}

// authorize adds TCP ingress rules in one call; rules that exist already
// are success.
func (b *backend) authorize(ctx context.Context, r *regionState, groupID string, rules []ingress) error {
	if len(rules) == 0 {
		return nil
	}
	in := &ec2.AuthorizeSecurityGroupIngressInput{GroupId: awssdk.String(groupID)}
	for _, ru := range rules {
		in.IpPermissions = append(in.IpPermissions, types.IpPermission{
			IpProtocol: awssdk.String("tcp"), FromPort: awssdk.Int32(int32(ru.port)), ToPort: awssdk.Int32(int32(ru.port)),
			IpRanges: []types.IpRange{{CidrIp: awssdk.String(ru.cidr), Description: awssdk.String(ru.desc)}},
		})
	}
	b.debug("AuthorizeSecurityGroupIngress", r.name, "")
	_, err := r.client.AuthorizeSecurityGroupIngress(ctx, in)
	if apiCode(err) == "InvalidPermission.Duplicate" {
		// EC2 rejects the whole call for one existing rule; add the rest
		// one by one so none is lost.
		if len(rules) == 1 {
			return nil
		}
		for _, ru := range rules {
			if err := b.authorize(ctx, r, groupID, []ingress{ru}); err != nil {
				return err
			}
		}
		return nil
	}
	return classify(err, "open ports in security group %s", groupID)
}

// ensurePort opens a health port other than 80 and 443, once per region.
func (b *backend) ensurePort(ctx context.Context, r *regionState, n *network, port int) error {
	if port == 0 || port == 80 || port == 443 {
		return nil
	}
	r.mu.Lock()
	done := r.ports[port]
	r.mu.Unlock()
	if done {
		return nil
	}
	_, err := r.once(ctx, fmt.Sprintf("port/%d", port), func(ctx context.Context) (any, error) {
		err := b.authorize(ctx, r, n.groupID, []ingress{{port, "0.0.0.0/0", "health"}})
		if err == nil {
			r.mu.Lock()
			r.ports[port] = true
			r.mu.Unlock()
		}
		return nil, err
	})
	return err
}
