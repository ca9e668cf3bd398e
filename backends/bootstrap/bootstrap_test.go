package bootstrap

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestScript(t *testing.T) {
	s, err := Script(Values{Gateway: "edge", Replica: 3, Domain: "example.com", HealthPath: "/status/ready", HealthPort: 8080})
	require.NoError(t, err)
	for _, want := range []string{
		"#!/bin/bash\n",
		"apt-get install -y -q nginx",
		"listen 80 default_server;",
		"listen 8080 default_server;",
		"server_name example.com *.example.com;",
		"location = /status/ready {",
		`"gateway":"edge","replica":3`,
	} {
		assert.Contains(t, s, want)
	}

	s, err = Script(Values{Gateway: "edge"})
	require.NoError(t, err)
	assert.Contains(t, s, "server_name _;", "no domain: any name")
	assert.Contains(t, s, "location = /healthz {", "default path")
	assert.Equal(t, 1, countOf(s, "listen 80 default_server;"), "port 80 once when it is also the health port")
}

func countOf(s, sub string) int {
	n := 0
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			n++
		}
	}
	return n
}

func TestScriptRejectsInjection(t *testing.T) {
	ok := Values{Gateway: "edge", Domain: "example.com", HealthPath: "/healthz", HealthPort: 80}
	tests := []struct {
		name string
		edit func(*Values)
	}{
		{"shell in domain", func(v *Values) { v.Domain = "example.com; rm -rf /" }},
		{"command substitution", func(v *Values) { v.Domain = "$(reboot).example.com" }},
		{"heredoc end in domain", func(v *Values) { v.Domain = "example.com\nPORTICO_NGINX_CONF\nreboot" }},
		{"nginx directive in domain", func(v *Values) { v.Domain = "example.com;return" }},
		{"quote in domain", func(v *Values) { v.Domain = "a.com';reboot;'" }},
		{"uppercase domain", func(v *Values) { v.Domain = "Example.com" }},
		{"wildcard domain", func(v *Values) { v.Domain = "*.example.com" }},
		{"single label", func(v *Values) { v.Domain = "localhost" }},
		{"quote in path", func(v *Values) { v.HealthPath = "/h'z" }},
		{"brace in path", func(v *Values) { v.HealthPath = "/h{z}" }},
		{"space in path", func(v *Values) { v.HealthPath = "/h z" }},
		{"newline in path", func(v *Values) { v.HealthPath = "/h\nreboot" }},
		{"relative path", func(v *Values) { v.HealthPath = "healthz" }},
		{"dollar in path", func(v *Values) { v.HealthPath = "/$host" }},
		{"bad gateway", func(v *Values) { v.Gateway = "edge'; reboot #" }},
		{"negative replica", func(v *Values) { v.Replica = -1 }},
		{"port too big", func(v *Values) { v.HealthPort = 70000 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := ok
			tt.edit(&v)
			_, err := Script(v)
			assert.Error(t, err)
		})
	}
}
