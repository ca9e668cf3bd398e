package aws

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/backends"
	"github.com/portico-dev/portico/backends/awstest"
)

func decodeUserData(t *testing.T, b64 string) string {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(b64)
	require.NoError(t, err)
	return string(raw)
}

func TestUserDataServesTheDomainAndHealthPath(t *testing.T) {
	for _, tc := range []struct {
		name       string
		domain     string
		path       string
		port       int
		want       []string
		wantAbsent []string
	}{
		{"domain", "example.com", "/healthz", 80,
			[]string{"server_name example.com *.example.com;", "location = /healthz {", "listen 80 default_server;", `"gateway":"edge","replica":3`},
			[]string{"listen 80 default_server;\n    listen 80"}},
		{"health port", "example.com", "/ready", 8080,
			[]string{"server_name example.com *.example.com;", "location = /ready {", "listen 8080 default_server;"}, nil},
		{"no domain", "", "", 0, []string{"server_name _;", "location = /healthz {"}, []string{"listen 0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := request("ud", 3)
			req.Domain, req.HealthPath, req.HealthPort = tc.domain, tc.path, tc.port
			b64, err := userData(req)
			require.NoError(t, err)
			script := decodeUserData(t, b64)
			assert.True(t, strings.HasPrefix(script, "#!/bin/bash\n"))
			assert.Contains(t, script, "apt-get install -y -q nginx")
			for _, w := range tc.want {
				assert.Contains(t, script, w)
			}
			for _, w := range tc.wantAbsent {
				assert.NotContains(t, script, w)
			}
		})
	}
}

func TestLaunchRejectsUnsafeValues(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*backends.LaunchRequest)
		field  string
	}{
		{"shell in domain", func(r *backends.LaunchRequest) { r.Domain = "a.com\nrm -rf /" }, "domain"},
		{"quote in domain", func(r *backends.LaunchRequest) { r.Domain = "a.com';reboot;'" }, "domain"},
		{"nginx in domain", func(r *backends.LaunchRequest) { r.Domain = "a.com; return 301 http://evil" }, "domain"},
		{"space in path", func(r *backends.LaunchRequest) { r.HealthPath = "/h { return 200; }" }, "health path"},
		{"relative path", func(r *backends.LaunchRequest) { r.HealthPath = "healthz" }, "health path"},
		{"gateway", func(r *backends.LaunchRequest) { r.Gateway = "Edge$(id)" }, "gateway"},
		{"token", func(r *backends.LaunchRequest) { r.Token = "UPPER" }, "token"},
		{"long token", func(r *backends.LaunchRequest) { r.Token = strings.Repeat("a", 65) }, "token"},
		{"install", func(r *backends.LaunchRequest) { r.Install = "" }, "install"},
		{"port", func(r *backends.LaunchRequest) { r.HealthPort = 70000 }, "health port"},
		{"region", func(r *backends.LaunchRequest) { r.Region = "eu-west-1/../x" }, "region"},
		{"instance type", func(r *backends.LaunchRequest) { r.InstanceType = "t3.micro --x" }, "instance type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, awstest.Options{}, nil)
			req := request("unsafe", 0)
			tc.mutate(&req)
			_, err := f.b.Launch(ctx(t), req)
			var be *backends.Error
			require.ErrorAs(t, err, &be)
			assert.Equal(t, backends.Permanent, be.Kind)
			assert.Equal(t, "InvalidLaunchRequest", be.Code)
			assert.Contains(t, be.Message, tc.field)
			assert.Empty(t, f.srv.CallLog(), "rejected before any cloud call")
		})
	}
}

func TestLaunchSendsUserDataAndTags(t *testing.T) {
	f := newFixture(t, awstest.Options{}, func(c *Config) {
		c.ExtraTags = map[string]string{"cost-center": "42", "portico-token": "extra-must-not-win"}
	})
	req := request("tagged", 1)
	req.Tags = map[string]string{"team": "infra", "Name": "mine", "portico-install": "evil", "cost-center": "7"}
	in, err := f.b.Launch(ctx(t), req)
	require.NoError(t, err)
	got := live(f.srv, region, withToken("tagged"))
	require.Len(t, got, 1)
	assert.Equal(t, map[string]string{
		"Name": "portico-edge-1", "portico-gateway": "edge", "portico-replica": "1", "portico-token": "tagged",
		"portico-install": "inst1", "portico-public-ip": "true", "team": "infra", "cost-center": "7",
	}, got[0].Tags, "spec tags over extra tags, ours over both")
	assert.Equal(t, "t3.micro", got[0].InstanceType)
	assert.Contains(t, decodeUserData(t, got[0].UserData), "server_name example.com *.example.com;")
	assert.Equal(t, "tagged", in.Token)
}
