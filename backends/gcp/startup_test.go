package gcp

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStartupScript(t *testing.T) {
	s, err := startupScript("edge", 3, "example.com", "/status/ready", 8080)
	require.NoError(t, err)
	for _, want := range []string{
		"#!/bin/bash",
		"apt-get install -y -q nginx",
		"listen 8080 default_server;",
		"server_name example.com *.example.com;",
		"location = /status/ready {",
		`"gateway":"edge","replica":3`,
	} {
		assert.Contains(t, s, want)
	}
	s, err = startupScript("edge", 0, "", "/healthz", 80)
	require.NoError(t, err)
	assert.Contains(t, s, "server_name _;", "no domain: any name")
}

func TestStartupScriptRejectsInjection(t *testing.T) {
	tests := []struct {
		name, gateway, domain, path string
		port                        int
	}{
		{"shell in domain", "edge", "example.com; rm -rf /", "/healthz", 80},
		{"command substitution", "edge", "$(reboot).example.com", "/healthz", 80},
		{"heredoc end in domain", "edge", "example.com\nPORTICO_NGINX_CONF\nreboot", "/healthz", 80},
		{"nginx directive in domain", "edge", "example.com;return", "/healthz", 80},
		{"uppercase domain", "edge", "Example.com", "/healthz", 80},
		{"wildcard domain", "edge", "*.example.com", "/healthz", 80},
		{"single label", "edge", "localhost", "/healthz", 80},
		{"quote in path", "edge", "example.com", "/h'z", 80},
		{"brace in path", "edge", "example.com", "/h{z}", 80},
		{"space in path", "edge", "example.com", "/h z", 80},
		{"newline in path", "edge", "example.com", "/h\nreboot", 80},
		{"relative path", "edge", "example.com", "healthz", 80},
		{"dollar in path", "edge", "example.com", "/$host", 80},
		{"bad gateway", "edge'; reboot #", "example.com", "/healthz", 80},
		{"port zero", "edge", "example.com", "/healthz", 0},
		{"port too big", "edge", "example.com", "/healthz", 70000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := startupScript(tt.gateway, 0, tt.domain, tt.path, tt.port)
			assert.Error(t, err)
		})
	}
}
