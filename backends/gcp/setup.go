package gcp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/compute/apiv1/computepb"
	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/portico-dev/portico/backends"
)

// networkTag is the network tag every instance carries and every Portico
// firewall rule targets.
const networkTag = "portico-gateway"

// setupTimeout bounds shared setup work (zone listing, firewall creation),
// which runs detached from the first caller's context so that one caller
// giving up does not fail the others waiting on the same work.
const setupTimeout = 2 * time.Minute

var regionRE = regexp.MustCompile(`^[a-z]+(-[a-z]+)+[0-9]+$`)

// zonesOf returns the zones of region that are UP, sorted. They are listed
// once per process (zones.list filtered on the region) and cached: zone
// sets change rarely, and a launch must not pay a call for them.
func (b *backend) zonesOf(ctx context.Context, region string) ([]string, error) {
	if !regionRE.MatchString(region) {
		return nil, &backends.Error{Kind: backends.Permanent, Code: "INVALID_REGION", Message: fmt.Sprintf("region %q is not a GCP region name", region)}
	}
	b.mu.Lock()
	cached, ok := b.zones[region]
	b.mu.Unlock()
	if ok {
		return cached, nil
	}
	v, err := b.shared(ctx, "zones/"+region, func(ctx context.Context) (any, error) {
		b.mu.Lock()
		cached, ok := b.zones[region] // another flight may have finished meanwhile
		b.mu.Unlock()
		if ok {
			return cached, nil
		}
		var zones []*computepb.Zone
		err := b.retry(ctx, "list zones of "+region, func(ctx context.Context) error {
			var err error
			// The regex dialect is used because a zone's region is a URL
			// whose host depends on the endpoint.
			zones, err = b.api.ListZones(ctx, "region eq '.*/regions/"+region+"'")
			return err
		})
		if err != nil {
			return nil, err
		}
		var names []string
		for _, z := range zones {
			if z.GetStatus() == "UP" && lastSegment(z.GetRegion()) == region {
				names = append(names, z.GetName())
			}
		}
		slices.Sort(names)
		if len(names) == 0 {
			return nil, &backends.Error{Kind: backends.Permanent, Code: "NO_ZONES", Message: fmt.Sprintf("region %s has no zone that is UP in project %s", region, b.cfg.Project)}
		}
		b.mu.Lock()
		b.zones[region] = names
		b.mu.Unlock()
		return names, nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]string), nil
}

// shared runs fn once for all concurrent callers with the same key, each
// caller still free to stop waiting when its own ctx ends.
func (b *backend) shared(ctx context.Context, key string, fn func(ctx context.Context) (any, error)) (any, error) {
	ch := b.flight.DoChan(key, func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), setupTimeout)
		defer cancel()
		return fn(fctx)
	})
	select {
	case r := <-ch:
		return r.Val, r.Err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// firewallRules are the rules replicas need on the configured network:
// 80 and 443 from anywhere; the health port when it is neither; 22 from
// the configured ranges only, and only when some are configured.
func (b *backend) firewallRules(healthPort int) []*computepb.Firewall {
	network := lastSegment(b.cfg.Network)
	rule := func(suffix, why string, ports []string, sources []string) *computepb.Firewall {
		return &computepb.Firewall{
			Name:         proto.String(firewallName(network, suffix)),
			Description:  proto.String("Portico: " + why),
			Network:      proto.String(networkPath(b.cfg.Network)),
			Direction:    proto.String("INGRESS"),
			Allowed:      []*computepb.Allowed{{IPProtocol: proto.String("tcp"), Ports: ports}},
			SourceRanges: sources,
			TargetTags:   []string{networkTag},
		}
	}
	rules := []*computepb.Firewall{rule("", "HTTP and HTTPS to gateway replicas", []string{"80", "443"}, []string{"0.0.0.0/0"})}
	if healthPort != 80 && healthPort != 443 {
		p := strconv.Itoa(healthPort)
		rules = append(rules, rule(p, "health checks of gateway replicas", []string{p}, []string{"0.0.0.0/0"}))
	}
	if len(b.cfg.SSHSourceRanges) > 0 {
		rules = append(rules, rule("ssh", "SSH to gateway replicas", []string{"22"}, slices.Clone(b.cfg.SSHSourceRanges)))
	}
	return rules
}

// ensureFirewalls makes sure each needed rule exists, at most once per
// rule and process however many launches run at once (get, then insert;
// 409 means another process won the race, which is fine). Existing rules
// are left as they are, so an administrator may tighten them.
func (b *backend) ensureFirewalls(ctx context.Context, healthPort int) error {
	for _, fw := range b.firewallRules(healthPort) {
		name := fw.GetName()
		b.mu.Lock()
		done := b.firewalls[name]
		b.mu.Unlock()
		if done {
			continue
		}
		_, err := b.shared(ctx, "firewall/"+name, func(ctx context.Context) (any, error) {
			b.mu.Lock()
			done := b.firewalls[name] // another flight may have finished meanwhile
			b.mu.Unlock()
			if done {
				return nil, nil
			}
			if err := b.ensureFirewall(ctx, fw); err != nil {
				return nil, err
			}
			b.mu.Lock()
			b.firewalls[name] = true
			b.mu.Unlock()
			return nil, nil
		})
		if err != nil {
			return fmt.Errorf("create firewall rule %s: %w", name, err)
		}
	}
	return nil
}

func (b *backend) ensureFirewall(ctx context.Context, fw *computepb.Firewall) error {
	name := fw.GetName()
	err := b.retry(ctx, "get firewall rule "+name, func(ctx context.Context) error {
		_, err := b.api.GetFirewall(ctx, name)
		return err
	})
	if err == nil || !isNotFound(err) {
		return err
	}
	// A random requestId: it only has to survive this call's retries, and a
	// derived one would replay an old operation if the rule were deleted
	// and needed again.
	rid := uuid.NewString()
	var op *computepb.Operation
	err = b.retry(ctx, "insert firewall rule "+name, func(ctx context.Context) error {
		var err error
		op, err = b.api.InsertFirewall(ctx, fw, rid)
		return err
	})
	if isAlreadyExists(err) {
		return nil
	}
	if err != nil {
		return err
	}
	for op.GetStatus() != computepb.Operation_DONE {
		next := op
		if err := b.retry(ctx, "wait for firewall rule "+name, func(ctx context.Context) error {
			var err error
			next, err = b.api.WaitGlobalOperation(ctx, op.GetName())
			return err
		}); err != nil {
			return err
		}
		if next.GetStatus() != computepb.Operation_DONE {
			if err := sleep(ctx, b.cfg.PollInterval); err != nil {
				return err
			}
		}
		op = next
	}
	if oe := operationError(op); oe != nil && oe.Code != "RESOURCE_ALREADY_EXISTS" {
		return oe
	}
	return nil
}

// firewallName is portico-gateway-<network>[-<suffix>], shortened with a
// hash when the network name is long, so it stays a valid name.
func firewallName(network, suffix string) string {
	base := "portico-gateway-" + sanitize(strings.ToLower(network), '-')
	if suffix != "" {
		suffix = "-" + suffix
	}
	if len(base)+len(suffix) > 63 {
		sum := sha256.Sum256([]byte(network))
		base = base[:63-len(suffix)-9] + "-" + hex.EncodeToString(sum[:4])
	}
	return strings.TrimRight(base, "-") + suffix
}

// networkPath accepts a network name or path as configured.
func networkPath(network string) string {
	if strings.Contains(network, "/") {
		return network
	}
	return "global/networks/" + network
}

// subnetworkPath accepts a subnetwork name (in region) or path.
func subnetworkPath(subnet, region string) string {
	if subnet == "" || strings.Contains(subnet, "/") {
		return subnet
	}
	return "regions/" + region + "/subnetworks/" + subnet
}

func lastSegment(s string) string { return s[strings.LastIndex(s, "/")+1:] }
