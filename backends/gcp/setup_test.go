package gcp

import (
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/backends"
	"github.com/portico-dev/portico/backends/gcptest"
)

func TestSetupRunsOnceForConcurrentLaunches(t *testing.T) {
	f := newFixture(t, gcptest.Options{APILatency: 0}, Config{})
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			_, err := f.b.Launch(testCtx(t), request(fmt.Sprintf("tok-%d", i), i))
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	assert.Equal(t, 1, f.srv.Calls("zones.list"))
	assert.Equal(t, 1, f.srv.Calls("firewalls.get"))
	assert.Equal(t, 1, f.srv.Calls("firewalls.insert"))
	assert.Len(t, f.srv.Instances(), 20)

	fws := f.srv.Firewalls()
	require.Len(t, fws, 1)
	fw := fws[0]
	assert.Equal(t, "portico-gateway-default", fw.GetName())
	assert.Equal(t, []string{"portico-gateway"}, fw.GetTargetTags())
	assert.Equal(t, []string{"0.0.0.0/0"}, fw.GetSourceRanges())
	require.Len(t, fw.GetAllowed(), 1)
	assert.Equal(t, []string{"80", "443"}, fw.GetAllowed()[0].GetPorts())
	assert.Contains(t, fw.GetNetwork(), "global/networks/default")
}

func TestFirewallRulesFollowTheConfig(t *testing.T) {
	f := newFixture(t, gcptest.Options{}, Config{Network: "edge-net", SSHSourceRanges: []string{"203.0.113.0/24"}})
	req := request("tok", 0)
	req.HealthPort = 8080
	_, err := f.b.Launch(testCtx(t), req)
	require.NoError(t, err)
	ports := map[string][]string{}
	for _, fw := range f.srv.Firewalls() {
		ports[fw.GetName()] = fw.GetAllowed()[0].GetPorts()
		if fw.GetName() == "portico-gateway-edge-net-ssh" {
			assert.Equal(t, []string{"203.0.113.0/24"}, fw.GetSourceRanges(), "SSH only from the configured ranges")
		}
	}
	assert.Equal(t, map[string][]string{
		"portico-gateway-edge-net":      {"80", "443"},
		"portico-gateway-edge-net-8080": {"8080"},
		"portico-gateway-edge-net-ssh":  {"22"},
	}, ports)
}

func TestFirewallRaceAndFailure(t *testing.T) {
	f := newFixture(t, gcptest.Options{}, Config{})
	// Another process created the rule between our get and our insert.
	f.srv.FailNext("firewalls.insert", http.StatusConflict, "alreadyExists", "The resource 'projects/portico-test/global/firewalls/portico-gateway-default' already exists", 1)
	_, err := f.b.Launch(testCtx(t), request("tok", 0))
	require.NoError(t, err, "409 on the firewall is fine")

	g := newFixture(t, gcptest.Options{}, Config{})
	g.srv.FailNext("firewalls.insert", http.StatusForbidden, "forbidden", "Required 'compute.firewalls.create' permission", 1)
	_, err = g.b.Launch(testCtx(t), request("tok", 0))
	be := asBackendError(t, err)
	assert.Equal(t, backends.Permanent, be.Kind)
	assert.Contains(t, err.Error(), "portico-gateway-default")
	assert.Empty(t, g.srv.Instances(), "no instance without its firewall")
	_, err = g.b.Launch(testCtx(t), request("tok", 0))
	require.NoError(t, err, "a failed setup is tried again, not cached")
}

func TestFirewallName(t *testing.T) {
	long := "a-very-long-network-name-that-goes-on-and-on-and-on-x"
	for _, tt := range []struct{ network, suffix string }{
		{"default", ""}, {"default", "ssh"}, {long, "8080"}, {long + long, "ssh"}, {"My_Net", ""},
	} {
		name := firewallName(tt.network, tt.suffix)
		assert.Regexp(t, nameRE, name, "%s/%s", tt.network, tt.suffix)
		assert.LessOrEqual(t, len(name), 63)
	}
	assert.NotEqual(t, firewallName(long+"1", "ssh"), firewallName(long+"2", "ssh"), "shortened names stay distinct")
}
