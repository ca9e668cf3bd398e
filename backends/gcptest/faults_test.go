package gcptest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/compute/apiv1/computepb"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
)

func TestThrottleAndFailNext(t *testing.T) {
	c := newClients(t, Options{})
	const zone = "europe-west1-b"
	c.srv.Throttle("instances.insert", 2)
	for range 2 {
		_, err := c.insert(t, zone, vm("a", zone, false, nil), "")
		code, why := reason(err)
		assert.Equal(t, http.StatusTooManyRequests, code)
		assert.Equal(t, "rateLimitExceeded", why)
	}
	_, err := c.insert(t, zone, vm("a", zone, false, nil), "")
	require.NoError(t, err, "the third call goes through")
	assert.Equal(t, 3, c.srv.Calls("instances.insert"))
	log := c.srv.CallsTo("instances.insert")
	assert.Equal(t, []int{429, 429, 200}, []int{log[0].Status, log[1].Status, log[2].Status})

	c.srv.FailNext("instances.get", http.StatusForbidden, "forbidden", "Required 'compute.instances.get' permission", 1)
	_, err = c.get(t, zone, "a")
	code, why := reason(err)
	assert.Equal(t, http.StatusForbidden, code)
	assert.Equal(t, "forbidden", why)
	_, err = c.get(t, zone, "a")
	require.NoError(t, err)
}

func TestDropResponseActsButDoesNotAnswer(t *testing.T) {
	c := newClients(t, Options{})
	const zone = "europe-west1-b"
	rid := uuid.NewString()
	c.srv.DropResponse("instances.insert", 1)
	_, err := c.insert(t, zone, vm("a", zone, false, nil), rid)
	require.Error(t, err, "the client hears nothing")
	require.Len(t, c.srv.Instances(), 1, "but the instance was created")
	op, err := c.insert(t, zone, vm("a", zone, false, nil), rid)
	require.NoError(t, err, "a retry with the same requestId gets the operation")
	require.NoError(t, op.Wait(ctxT(t)))
	assert.Len(t, c.srv.Instances(), 1)
	assert.Equal(t, 0, c.srv.CallLog()[0].Status, "a dropped reply is logged with status 0")
}

func TestHooksRunAroundTheAction(t *testing.T) {
	c := newClients(t, Options{})
	const zone = "europe-west1-b"
	var mu sync.Mutex
	var seen []string
	record := func(s string) func() {
		return func() {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, fmt.Sprintf("%s:%d", s, len(c.srv.Instances())))
		}
	}
	c.srv.Hook("instances.insert", BeforeAction, record("before"))
	remove := c.srv.Hook("instances.insert", AfterAction, record("after"))
	_, err := c.insert(t, zone, vm("a", zone, false, nil), "")
	require.NoError(t, err)
	remove()
	_, err = c.insert(t, zone, vm("b", zone, false, nil), "")
	require.NoError(t, err)
	assert.Equal(t, []string{"before:0", "after:1", "before:1"}, seen)

	// A hook that cancels the caller: the cloud acted, the caller never heard.
	// The reply is held back a moment, as a crash would: written at once, it
	// could reach the client before the transport notices the cancellation.
	ctx, cancel := context.WithCancel(context.Background())
	c.srv.Hook("instances.insert", AfterAction, func() {
		cancel()
		time.Sleep(100 * time.Millisecond)
	})
	_, err = c.instances.Insert(ctx, &computepb.InsertInstanceRequest{Project: c.srv.Project(), Zone: zone, InstanceResource: vm("c", zone, false, nil)})
	require.ErrorIs(t, err, context.Canceled)
	assert.Len(t, c.srv.Instances(), 3)
}

func TestOutOfBandDeleteAndSeeds(t *testing.T) {
	c := newClients(t, Options{DeleteLatency: 50 * time.Millisecond})
	old := time.Now().Add(-time.Hour)
	require.NoError(t, c.srv.SeedInstance(Seed{Zone: "us-central1-b", Name: "orphan", Labels: map[string]string{"portico-install": "x"}, Created: old}))
	require.Error(t, c.srv.SeedInstance(Seed{Zone: "us-central1-b", Name: "orphan"}), "names stay unique")
	require.Error(t, c.srv.SeedInstance(Seed{Zone: "nowhere-b", Name: "x"}))
	got := c.srv.Instances()
	require.Len(t, got, 1)
	assert.WithinDuration(t, old, got[0].Created, time.Second)

	pb, err := c.get(t, "us-central1-b", "orphan")
	require.NoError(t, err)
	created, err := time.Parse(time.RFC3339, pb.GetCreationTimestamp())
	require.NoError(t, err)
	assert.WithinDuration(t, old, created, time.Second)

	assert.True(t, c.srv.DeleteOutOfBand("us-central1-b", "orphan"))
	assert.Equal(t, "STOPPING", c.srv.Instances()[0].Status)
	assert.Eventually(t, func() bool { return len(c.srv.Instances()) == 0 }, 2*time.Second, 10*time.Millisecond)
	assert.False(t, c.srv.DeleteOutOfBand("us-central1-b", "orphan"))
}

func TestFirewalls(t *testing.T) {
	c := newClients(t, Options{})
	fw := &computepb.Firewall{
		Name:         proto.String("portico-gateway-default"),
		Network:      proto.String("global/networks/default"),
		Allowed:      []*computepb.Allowed{{IPProtocol: proto.String("tcp"), Ports: []string{"80", "443"}}},
		SourceRanges: []string{"0.0.0.0/0"},
		TargetTags:   []string{"portico-gateway"},
	}
	_, err := c.firewalls.Get(ctxT(t), &computepb.GetFirewallRequest{Project: c.srv.Project(), Firewall: fw.GetName()})
	code, _ := reason(err)
	assert.Equal(t, http.StatusNotFound, code)
	op, err := c.firewalls.Insert(ctxT(t), &computepb.InsertFirewallRequest{Project: c.srv.Project(), FirewallResource: fw})
	require.NoError(t, err)
	require.NoError(t, op.Wait(ctxT(t)))
	got, err := c.firewalls.Get(ctxT(t), &computepb.GetFirewallRequest{Project: c.srv.Project(), Firewall: fw.GetName()})
	require.NoError(t, err)
	assert.Equal(t, []string{"portico-gateway"}, got.GetTargetTags())
	_, err = c.firewalls.Insert(ctxT(t), &computepb.InsertFirewallRequest{Project: c.srv.Project(), FirewallResource: fw})
	code, why := reason(err)
	assert.Equal(t, http.StatusConflict, code)
	assert.Equal(t, "alreadyExists", why)
	assert.Len(t, c.srv.Firewalls(), 1)
}

func TestHealthEndpoints(t *testing.T) {
	c := newClients(t, Options{ServeHealth: true, HealthPort: 18080, RunningAfter: 50 * time.Millisecond})
	const zone = "europe-west1-b"
	op, err := c.insert(t, zone, vm("web", zone, true, map[string]string{"portico-gateway": "edge", "portico-replica": "0"}), "")
	require.NoError(t, err)
	require.NoError(t, op.Wait(ctxT(t)))

	probe := func(ip string) (int, string) {
		client := &http.Client{Timeout: time.Second}
		resp, err := client.Get("http://" + ip + ":18080/healthz")
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	var in Instance
	require.Eventually(t, func() bool {
		in = c.srv.Instances()[0]
		code, _ := probe(in.NATIP)
		return code == http.StatusOK
	}, 3*time.Second, 20*time.Millisecond, "health on the NAT IP once RUNNING")
	require.Empty(t, in.HealthError)
	code, body := probe(in.NetworkIP)
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, `"gateway":"edge"`)

	c.srv.SetHealth("web", http.StatusServiceUnavailable)
	code, _ = probe(in.NATIP)
	assert.Equal(t, http.StatusServiceUnavailable, code)

	require.True(t, c.srv.DeleteOutOfBand(zone, "web"))
	code, _ = probe(in.NATIP)
	assert.Equal(t, 0, code, "a stopping instance no longer answers")
}
