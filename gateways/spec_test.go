package gateways

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/models"
)

var update = flag.Bool("update", false, "rewrite the .golden files of invalid spec fixtures")

const fixtures = "../testdata/gateways"

// documentProblems are the messages allowed to have no Field: they are about
// the file as a whole, not one key.
var documentProblems = []string{"invalid YAML", "file is empty", "file holds", "a gateway spec must be a mapping"}

func parseFixture(t *testing.T, path string) (*models.Spec, error) {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return ParseSpec(filepath.Base(path), data, SpecOptions{})
}

func TestSpecValidFixtures(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join(fixtures, "valid-*.yml"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(paths), 6)
	paths = append(paths, filepath.Join(fixtures, "local.yml"))
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			spec, err := parseFixture(t, path)
			require.NoError(t, err)
			require.NotNil(t, spec)
			assert.Equal(t, "gateway", spec.Type)
			assert.True(t, validName(spec.Name), spec.Name)
			assert.GreaterOrEqual(t, spec.Replicas, 1)
		})
	}
}

func TestSpecValidFixtureValues(t *testing.T) {
	ptr := func(b bool) *bool { return &b }
	tests := []struct {
		file string
		want models.Spec
	}{
		{"local.yml", models.Spec{Type: "gateway", Name: "example-gateway", Backend: "local",
			Region: "local", Domain: "example.com", Replicas: 3}},
		{"valid-minimal.yml", models.Spec{Type: "gateway", Name: "gw", Backend: "aws", Replicas: 1}},
		{"valid-null-optionals.yml", models.Spec{Type: "gateway", Name: "defaults", Backend: "aws", Replicas: 1}},
		{"valid-full.yml", models.Spec{
			Type: "gateway", Name: "edge-prod-1", Backend: "aws", Region: "eu-west-1",
			Domain: "gateway.example.com", // trailing dot dropped
			Certificate: &models.Certificate{Type: models.CertACM,
				ARN: "arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789"},
			Replicas: 3, InstanceType: "t3.micro", PublicIP: ptr(false),
			Tags: map[string]string{"team": "infra", "cost_center": "42", "owner-email": "ops@example.com"},
			Health: &models.HealthSpec{Path: "/healthz", Port: 8080,
				Period: models.Duration(5 * time.Second), Timeout: models.Duration(2 * time.Second),
				ReplaceAfter: models.Duration(90 * time.Second), FailureThreshold: 5, MaxUnhealthy: "50%"},
		}},
		{"valid-regions.yml", models.Spec{Type: "gateway", Name: "spread", Backend: "gcp",
			Regions: []string{"europe-west1", "us-central1", "asia-east1"}, Replicas: 6, InstanceType: "e2-small"}},
		{"valid-lets-encrypt.yml", models.Spec{Type: "gateway", Name: "solo", Backend: "gcp", Region: "europe-west4",
			Domain: "solo.example.net", Certificate: &models.Certificate{Type: models.CertLetsEncrypt}, Replicas: 1}},
		{"valid-health.yml", models.Spec{Type: "gateway", Name: "probed", Backend: "local", Replicas: 4,
			Health: &models.HealthSpec{Path: "/status?full=1", Timeout: models.Duration(500 * time.Millisecond), MaxUnhealthy: "2"}}},
		{"valid-flow-style.yml", models.Spec{Type: "gateway", Name: "flow-gw", Backend: "local",
			Regions: []string{"local"}, Replicas: 2, PublicIP: ptr(true), Tags: map[string]string{"a": "same", "b": "same"}}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			spec, err := parseFixture(t, filepath.Join(fixtures, tt.file))
			require.NoError(t, err)
			assert.Equal(t, tt.want, *spec)
		})
	}
}

func TestSpecInvalidFixtures(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join(fixtures, "invalid-*.yml"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(paths), 20)
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			spec, err := parseFixture(t, path)
			require.Error(t, err)
			assert.Nil(t, spec)
			var se *SpecError
			require.True(t, errors.As(err, &se), "want *SpecError, got %T", err)
			require.NotEmpty(t, se.Problems)
			for _, p := range se.Problems {
				assert.Equal(t, filepath.Base(path), p.File)
				assert.Positive(t, p.Line, "problem without a line: %s", p)
				if p.Field == "" {
					assert.True(t, hasAnyPrefix(p.Message, documentProblems), "problem without a field: %s", p)
				}
			}
			for i := 1; i < len(se.Problems); i++ {
				a, b := se.Problems[i-1], se.Problems[i]
				assert.True(t, a.Line < b.Line || a.Line == b.Line && a.Col <= b.Col, "not in file order: %s, then %s", a, b)
			}

			golden := strings.TrimSuffix(path, ".yml") + ".golden"
			got := err.Error() + "\n"
			if *update {
				require.NoError(t, os.WriteFile(golden, []byte(got), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run go test ./gateways -run TestSpec -update to create it")
			assert.Equal(t, string(want), got)
		})
	}
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
