package gcp

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/backends"
)

func TestInstanceName(t *testing.T) {
	long := strings.Repeat("g", 41)
	tests := []struct {
		gateway string
		replica int
		token   string
		prefix  string
	}{
		{"edge", 0, "tok-1", "portico-edge-0-"},
		{"edge", 12, "tok-1", "portico-edge-12-"},
		{long, 9999, "t", "portico-" + long},
		{strings.Repeat("x", 70), 123456, "t", "portico-x"},
		{"Edge_GW", 1, "t", "portico-edge-gw-1-"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%d", tt.gateway, tt.replica), func(t *testing.T) {
			name := InstanceName(tt.gateway, tt.replica, tt.token)
			assert.Regexp(t, nameRE, name)
			assert.LessOrEqual(t, len(name), 63)
			assert.True(t, strings.HasPrefix(name, tt.prefix), name)
			assert.Equal(t, name, InstanceName(tt.gateway, tt.replica, tt.token), "deterministic")
			assert.NotEqual(t, name, InstanceName(tt.gateway, tt.replica, tt.token+"x"), "the token decides")
		})
	}
	assert.Equal(t, "portico-edge-0-65dcf16e", InstanceName("edge", 0, "tok-1"), "the derivation must never change")
}

func TestRequestID(t *testing.T) {
	a := RequestID("tok-1", "europe-west1-b")
	assert.Equal(t, a, RequestID("tok-1", "europe-west1-b"), "deterministic, so retries dedupe")
	assert.NotEqual(t, a, RequestID("tok-1", "europe-west1-c"), "differs per zone")
	assert.NotEqual(t, a, RequestID("tok-2", "europe-west1-b"), "differs per token")
	for _, id := range []string{a, chainRequestID(a, "operation-1")} {
		u, err := uuid.Parse(id)
		require.NoError(t, err)
		assert.NotEqual(t, uuid.Nil, u, "the API refuses the zero UUID")
		assert.Equal(t, uuid.Version(5), u.Version())
	}
	assert.NotEqual(t, a, chainRequestID(a, "operation-1"))
	// Pinned (computed with Python's uuid.uuid5): an upgrade that changed it
	// would break dedupe of a retry across the upgrade.
	assert.Equal(t, "4b441ab2-9404-5ee4-99a1-98d268776c88", a)
}

func TestLabelRules(t *testing.T) {
	tests := []struct{ in, key, value string }{
		{"team", "team", "team"},
		{"Team", "team", "team"},
		{"_private", "x-_private", "_private"},
		{"9lives", "x-9lives", "9lives"},
		{"a.b c", "a_b_c", "a_b_c"},
		{strings.Repeat("k", 70), strings.Repeat("k", 63), ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			assert.Equal(t, tt.key, labelKey(tt.in))
			v := labelValue(tt.in)
			assert.LessOrEqual(t, len(v), 63)
			assert.Regexp(t, `^[a-z0-9_-]*$`, v)
			if tt.value != "" {
				assert.Equal(t, tt.value, v)
			}
		})
	}
	tok64 := strings.Repeat("a", 64)
	assert.Len(t, labelValue(tok64), 63, "a 64-character token is shortened")
	assert.NotEqual(t, labelValue(tok64), labelValue(strings.Repeat("a", 63)+"b"), "shortened values stay distinct")
}

func TestLabelsNeverOverridePorticoOwn(t *testing.T) {
	req := request("tok-1", 2)
	req.Tags = map[string]string{"Team": "Infra", "portico-token": "forged", "PORTICO-INSTALL": "forged"}
	got := labels(req, map[string]string{"cost-center": "42", "team": "ops", "portico-gateway": "forged"})
	assert.Equal(t, map[string]string{
		backends.TagGateway: "edge", backends.TagReplica: "2", backends.TagToken: "tok-1", backends.TagInstall: "inst1",
		"team": "infra", "cost-center": "42",
	}, got, "spec tags override config extras; Portico's own labels override both")

	many := map[string]string{}
	for i := range 100 {
		many[fmt.Sprintf("k%03d", i)] = "v"
	}
	req.Tags = many
	assert.Len(t, labels(req, nil), 64, "GCE allows 64 labels")
}
