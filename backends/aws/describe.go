package aws

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/portico-dev/portico/backends"
)

// launchGrace is how long after this process launched an instance a
// Describe that does not find it says "pending" rather than "terminated":
// EC2 is eventually consistent, and a new instance can be missing from
// DescribeInstances for a few seconds.
const launchGrace = 2 * time.Minute

// maxFilterValues is how many ids one instance-id filter carries.
const maxFilterValues = 200

func liveStates() types.Filter {
	return filter("instance-state-name", "pending", "running", "stopping", "stopped")
}

func (b *backend) remember(id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	for k, at := range b.launched {
		if now.Sub(at) > launchGrace {
			delete(b.launched, k)
		}
	}
	b.launched[id] = now
}

func (b *backend) recentlyLaunched(id string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	at, ok := b.launched[id]
	return ok && time.Since(at) < launchGrace
}

// Describe makes one DescribeInstances per region (per 200 instances). It
// filters on instance-id instead of passing InstanceIds, because EC2 fails
// the whole call for one unknown id.
func (b *backend) Describe(ctx context.Context, refs ...backends.InstanceRef) ([]backends.Instance, error) {
	byRegion := map[string][]string{}
	for _, ref := range refs {
		region := ref.Region
		if region == "" {
			region = DefaultRegion
		}
		if ref.ID != "" && !slices.Contains(byRegion[region], ref.ID) {
			byRegion[region] = append(byRegion[region], ref.ID)
		}
	}
	var (
		mu    sync.Mutex
		found = map[string]backends.Instance{}
		errs  []error
		wg    sync.WaitGroup
	)
	for region, ids := range byRegion {
		r, err := b.region(region)
		if err != nil {
			return nil, err
		}
		for chunk := range slices.Chunk(ids, maxFilterValues) {
			wg.Go(func() {
				insts, err := b.describeFiltered(ctx, r, "", filter("instance-id", chunk...))
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, classify(err, "describe %d instances in %s", len(chunk), region))
				}
				for _, in := range insts {
					found[in.ID] = in
				}
			})
		}
	}
	wg.Wait()
	if len(errs) > 0 {
		return nil, errs[0]
	}
	out := make([]backends.Instance, len(refs))
	for i, ref := range refs {
		if in, ok := found[ref.ID]; ok {
			out[i] = in
			continue
		}
		state := backends.StateTerminated
		if b.recentlyLaunched(ref.ID) {
			state = backends.StatePending
		}
		region := ref.Region
		if region == "" {
			region = DefaultRegion
		}
		out[i] = backends.Instance{ID: ref.ID, Region: region, Zone: ref.Zone, State: state}
	}
	return out, nil
}

// Terminate asks EC2 to terminate the instance; one EC2 no longer knows (or
// an id that cannot be one) is already gone, which is success.
func (b *backend) Terminate(ctx context.Context, ref backends.InstanceRef) error {
	if ref.ID == "" {
		return nil
	}
	r, err := b.region(ref.Region)
	if err != nil {
		return err
	}
	b.debug("TerminateInstances", r.name, "")
	_, err = r.client.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{ref.ID}})
	switch apiCode(err) {
	case "InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed":
		return nil
	}
	return classify(err, "terminate instance %s in %s", ref.ID, r.name)
}

// List finds the live instances tagged with the installation (and the
// gateway and token, when set). Without filter.Regions it looks in every
// region this backend has a client for, which in a fresh process is none:
// the orphan sweeper passes the regions its records name.
func (b *backend) List(ctx context.Context, f backends.ListFilter) ([]backends.Instance, error) {
	if f.Install == "" {
		return nil, fmt.Errorf("list aws instances: an install id is required")
	}
	filters := []types.Filter{filter("tag:"+backends.TagInstall, f.Install), liveStates()}
	if f.Gateway != "" {
		filters = append(filters, filter("tag:"+backends.TagGateway, f.Gateway))
	}
	if f.Token != "" {
		filters = append(filters, filter("tag:"+backends.TagToken, f.Token))
	}
	regions := f.Regions
	if len(regions) == 0 {
		regions = b.knownRegions()
	}
	var out []backends.Instance
	for _, name := range regions {
		r, err := b.region(name)
		if err != nil {
			return nil, err
		}
		insts, err := b.describeFiltered(ctx, r, f.Token, filters...)
		if err != nil {
			return nil, classify(err, "list instances of install %s in %s", f.Install, name)
		}
		out = append(out, insts...)
	}
	slices.SortFunc(out, func(a, b backends.Instance) int {
		if c := strings.Compare(a.Region, b.Region); c != 0 {
			return c
		}
		if c := a.LaunchedAt.Compare(b.LaunchedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// describeFiltered runs DescribeInstances with filters, following pages.
func (b *backend) describeFiltered(ctx context.Context, r *regionState, token string, filters ...types.Filter) ([]backends.Instance, error) {
	in := &ec2.DescribeInstancesInput{Filters: filters, MaxResults: awssdk.Int32(1000)}
	var out []backends.Instance
	for {
		b.debug("DescribeInstances", r.name, token)
		page, err := r.client.DescribeInstances(ctx, in)
		if err != nil {
			return nil, err
		}
		for _, res := range page.Reservations {
			for _, inst := range res.Instances {
				out = append(out, toInstance(r.name, inst))
			}
		}
		if awssdk.ToString(page.NextToken) == "" {
			return out, nil
		}
		in.NextToken = page.NextToken
	}
}

// toInstance reads an EC2 instance into Portico's terms.
func toInstance(region string, in types.Instance) backends.Instance {
	tags := map[string]string{}
	for _, t := range in.Tags {
		tags[awssdk.ToString(t.Key)] = awssdk.ToString(t.Value)
	}
	out := backends.Instance{
		ID: awssdk.ToString(in.InstanceId), Region: region, Token: tags[backends.TagToken],
		Install: tags[backends.TagInstall], Gateway: tags[backends.TagGateway],
		LaunchedAt: awssdk.ToTime(in.LaunchTime), Data: map[string]string{},
	}
	out.ReplicaNum, _ = strconv.Atoi(tags[backends.TagReplica])
	if in.Placement != nil {
		out.Zone = awssdk.ToString(in.Placement.AvailabilityZone)
	}
	ec2State := ""
	if in.State != nil {
		ec2State = string(in.State.Name)
	}
	switch ec2State {
	case "pending":
		out.State = backends.StatePending
	case "running":
		out.State = backends.StateRunning
	case "stopping":
		out.State = backends.StateStopping
	case "stopped":
		out.State = backends.StateStopped
	default: // shutting-down, terminated
		out.State = backends.StateTerminated
	}
	public, private := awssdk.ToString(in.PublicIpAddress), awssdk.ToString(in.PrivateIpAddress)
	switch {
	case out.State == backends.StateTerminated:
	case public != "":
		out.Hostname = public
	case tags[TagPublicIP] == "false" || tags[TagPublicIP] == "" && out.State == backends.StateRunning:
		// No public address wanted (or, for an instance we did not tag,
		// none came with running): the private one is where it answers.
		out.Hostname = private
	}
	for k, v := range map[string]string{"public_ip": public, "private_ip": private,
		"public_dns": awssdk.ToString(in.PublicDnsName), "client_token": awssdk.ToString(in.ClientToken),
		"instance_type": string(in.InstanceType), "image_id": awssdk.ToString(in.ImageId), "ec2_state": ec2State} {
		if v != "" {
			out.Data[k] = v
		}
	}
	return out
}
