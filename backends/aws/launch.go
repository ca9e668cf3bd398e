package aws

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/portico-dev/portico/backends"
)

// TagPublicIP records whether the replica asked for a public address, so
// Describe knows whether to wait for one or to use the private address.
const TagPublicIP = "portico-public-ip"

// transportRetries is how many more times a RunInstances whose reply never
// arrived (after the SDK's own retries) is sent again. The ClientToken
// makes the repeat safe: EC2 answers with the instance it already started.
const transportRetries = 2

// clientToken derives the EC2 ClientToken of one replica attempt in one
// zone. It is deterministic, so a retry, a resumed launch or a concurrent
// one sends the same token; it differs per zone, because EC2 would reject
// the same token with a different subnet (IdempotentParameterMismatch).
// EC2 allows 64 ASCII characters: a long token is shortened and a hash of
// the whole token keeps it unique.
func clientToken(token, zone string) string {
	t := token + "-" + zone
	if len(t) <= 64 {
		return t
	}
	sum := sha256.Sum256([]byte(token))
	h := hex.EncodeToString(sum[:])[:12]
	keep := 64 - len(zone) - len(h) - 2
	if keep < 1 {
		sum = sha256.Sum256([]byte(t))
		return hex.EncodeToString(sum[:])[:64]
	}
	return token[:keep] + "-" + h + "-" + zone
}

// reservedTag reports whether a user or extra tag key would clash with the
// tags Portico relies on (or AWS reserves); such keys are dropped.
func reservedTag(key string) bool {
	k := strings.ToLower(key)
	return key == "Name" || strings.HasPrefix(k, "portico-") || strings.HasPrefix(k, "aws:")
}

// tags are set at creation, so an instance is never visible untagged:
// config extra tags, then the spec's tags, then ours, which always win.
func (b *backend) tags(req backends.LaunchRequest) []types.Tag {
	m := map[string]string{}
	for _, src := range []map[string]string{b.cfg.ExtraTags, req.Tags} {
		for k, v := range src {
			if reservedTag(k) {
				slog.Default().Debug("aws: dropping reserved tag key", "key", k)
				continue
			}
			m[k] = v
		}
	}
	m["Name"] = fmt.Sprintf("portico-%s-%d", req.Gateway, req.ReplicaNum)
	m[backends.TagGateway] = req.Gateway
	m[backends.TagReplica] = strconv.Itoa(req.ReplicaNum)
	m[backends.TagToken] = req.Token
	m[backends.TagInstall] = req.Install
	m[TagPublicIP] = strconv.FormatBool(req.PublicIP)
	out := make([]types.Tag, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, types.Tag{Key: awssdk.String(k), Value: awssdk.String(m[k])})
	}
	return out
}

// Launch starts the replica's instance in its zone, moving on to the next
// zone (with that zone's token) when one has no capacity.
func (b *backend) Launch(ctx context.Context, req backends.LaunchRequest) (backends.Instance, error) {
	if err := validate(req); err != nil {
		return backends.Instance{}, err
	}
	r, err := b.region(req.Region)
	if err != nil {
		return backends.Instance{}, err
	}
	what := fmt.Sprintf("launch replica %d of %q in %s", req.ReplicaNum, req.Gateway, r.name)
	if req.Resume {
		inst, found, err := b.findByToken(ctx, r, req.Token)
		if err != nil || found {
			return inst, err
		}
	}
	itype := req.InstanceType
	if itype == "" {
		itype = DefaultInstanceType
	}
	n, err := b.network(ctx, r)
	if err != nil {
		return backends.Instance{}, prefixed(err, what)
	}
	ami, err := b.image(ctx, r, archOf(itype))
	if err != nil {
		return backends.Instance{}, prefixed(err, what)
	}
	if err := b.ensurePort(ctx, r, n, req.HealthPort); err != nil {
		return backends.Instance{}, prefixed(err, what)
	}
	ud, err := userData(req)
	if err != nil {
		return backends.Instance{}, err
	}
	tags := b.tags(req)
	start := req.ZoneIndex % len(n.slots)
	if start < 0 {
		start += len(n.slots)
	}
	var tried []string
	for i := range n.slots {
		sl := n.slots[(start+i)%len(n.slots)]
		if !slices.Contains(tried, sl.zone) {
			tried = append(tried, sl.zone)
		}
		token := clientToken(req.Token, sl.zone)
		in := runInput(req, itype, ami, ud, sl, n.groupID, token, tags)
		out, err := b.runInstances(ctx, r, in)
		if err == nil && len(out.Instances) > 0 {
			inst := toInstance(r.name, out.Instances[0])
			inst.Data["zones_tried"] = strings.Join(tried, ",")
			b.remember(inst.ID)
			return inst, nil
		}
		code := apiCode(err)
		switch {
		case err == nil:
			return backends.Instance{}, &backends.Error{Kind: backends.Transient, Message: what + ": RunInstances returned no instance"}
		case isZoneError(code):
			slog.Default().Debug("aws: zone refused launch", "region", r.name, "zone", sl.zone, "code", code, "token", token)
			continue
		case code == "IdempotentParameterMismatch":
			return b.adopt(ctx, r, token, tried, what)
		case invalidates(code):
			r.forget()
		}
		return backends.Instance{}, withZones(classify(err, "%s (zone %s)", what, sl.zone), tried)
	}
	return backends.Instance{}, &backends.Error{Kind: backends.Capacity, Code: "InsufficientInstanceCapacity",
		Message:    fmt.Sprintf("no capacity for %s in %s (tried %s)", itype, r.name, strings.Join(tried, ", ")),
		ZonesTried: tried}
}

func runInput(req backends.LaunchRequest, itype, ami, ud string, sl slot, groupID, token string, tags []types.Tag) *ec2.RunInstancesInput {
	return &ec2.RunInstancesInput{
		ImageId:      awssdk.String(ami),
		InstanceType: types.InstanceType(itype),
		MinCount:     awssdk.Int32(1),
		MaxCount:     awssdk.Int32(1),
		ClientToken:  awssdk.String(token),
		UserData:     awssdk.String(ud),
		// The public address can only be asked for on a network interface,
		// which then also carries the subnet (hence the zone) and group.
		NetworkInterfaces: []types.InstanceNetworkInterfaceSpecification{{
			DeviceIndex:              awssdk.Int32(0),
			SubnetId:                 awssdk.String(sl.subnetID),
			Groups:                   []string{groupID},
			AssociatePublicIpAddress: awssdk.Bool(req.PublicIP),
			DeleteOnTermination:      awssdk.Bool(true),
		}},
		MetadataOptions: &types.InstanceMetadataOptionsRequest{HttpTokens: types.HttpTokensStateRequired},
		TagSpecifications: []types.TagSpecification{
			{ResourceType: types.ResourceTypeInstance, Tags: tags},
			{ResourceType: types.ResourceTypeVolume, Tags: tags},
		},
	}
}

// runInstances sends RunInstances, and sends it again (same input, same
// token) when no reply came back at all.
func (b *backend) runInstances(ctx context.Context, r *regionState, in *ec2.RunInstancesInput) (*ec2.RunInstancesOutput, error) {
	for attempt := 0; ; attempt++ {
		b.debug("RunInstances", r.name, awssdk.ToString(in.ClientToken))
		out, err := r.client.RunInstances(ctx, in)
		if err == nil || attempt >= transportRetries || !isTransport(ctx, err) {
			return out, err
		}
		slog.Default().Debug("aws: RunInstances reply lost, resending with the same token",
			"region", r.name, "token", awssdk.ToString(in.ClientToken), "err", err)
		select {
		case <-time.After(b.cfg.RetryMaxBackoff / 10):
		case <-ctx.Done():
			return nil, err
		}
	}
}

// adopt handles IdempotentParameterMismatch: the token launched something
// with other parameters before (a changed spec, an edited config). A live
// instance of that token is this replica's; a dead one cannot be replaced
// under the same token.
func (b *backend) adopt(ctx context.Context, r *regionState, token string, tried []string, what string) (backends.Instance, error) {
	found, err := b.describeFiltered(ctx, r, "", filter("client-token", token))
	if err != nil {
		return backends.Instance{}, classify(err, "%s: find the instance of client token %s", what, token)
	}
	for _, inst := range found {
		if !inst.State.Gone() {
			inst.Data["zones_tried"] = strings.Join(tried, ",")
			return inst, nil
		}
	}
	if len(found) > 0 {
		return backends.Instance{}, &backends.Error{Kind: backends.Permanent, Code: "IdempotentParameterMismatch", ZonesTried: tried,
			Message: fmt.Sprintf("%s: client token %s was used earlier with other parameters and its instance is gone; launch a new attempt with a new token", what, token)}
	}
	// EC2 knows the token but does not list its instance yet (eventual
	// consistency): try again rather than declare it gone and leave it
	// running unrecorded.
	return backends.Instance{}, &backends.Error{Kind: backends.Transient, Code: "IdempotentParameterMismatch", ZonesTried: tried,
		Message: fmt.Sprintf("%s: client token %s was used earlier with other parameters and its instance is not visible yet; retrying", what, token)}
}

// findByToken looks for a live instance tagged with the replica's token,
// in any zone.
func (b *backend) findByToken(ctx context.Context, r *regionState, token string) (backends.Instance, bool, error) {
	found, err := b.describeFiltered(ctx, r, token, filter("tag:"+backends.TagToken, token), liveStates())
	if err != nil {
		return backends.Instance{}, false, classify(err, "look for an instance of token %s in %s", token, r.name)
	}
	if len(found) == 0 {
		return backends.Instance{}, false, nil
	}
	slices.SortFunc(found, func(a, b backends.Instance) int { return a.LaunchedAt.Compare(b.LaunchedAt) })
	return found[0], true, nil
}

// prefixed says what was being done in a classified error without
// changing the (possibly shared) original.
func prefixed(err error, what string) error {
	var be *backends.Error
	if errors.As(err, &be) {
		cp := *be
		cp.Message = what + ": " + be.Message
		return &cp
	}
	return fmt.Errorf("%s: %w", what, err)
}

func withZones(err error, tried []string) error {
	var be *backends.Error
	if errors.As(err, &be) {
		be.ZonesTried = tried
	}
	return err
}
