package gateways

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzParseSpec feeds ParseSpec arbitrary bytes, starting from every fixture.
// Whatever the input: no panic; a failure is a *SpecError with at least one
// located problem; a success is a spec the rules allow, and that spec, written
// out as JSON (which is YAML), parses back to itself, so normalisation is stable.
func FuzzParseSpec(f *testing.F) {
	paths, err := filepath.Glob(filepath.Join(fixtures, "*.yml"))
	require.NoError(f, err)
	require.NotEmpty(f, paths)
	for _, path := range paths {
		data, err := os.ReadFile(path)
		require.NoError(f, err)
		f.Add(data)
	}
	opts := SpecOptions{}
	f.Fuzz(func(t *testing.T, data []byte) {
		spec, err := ParseSpec("fuzz.yml", data, opts)
		if err != nil {
			require.Nil(t, spec)
			var se *SpecError
			require.True(t, errors.As(err, &se), "want *SpecError, got %T: %v", err, err)
			require.NotEmpty(t, se.Problems)
			for _, p := range se.Problems {
				require.NotEmpty(t, p.Message)
				require.Equal(t, "fuzz.yml", p.File)
			}
			return
		}
		require.NotNil(t, spec)
		require.Equal(t, "gateway", spec.Type)
		require.True(t, validName(spec.Name), "name %q", spec.Name)
		require.GreaterOrEqual(t, spec.Replicas, 1)
		require.LessOrEqual(t, spec.Replicas, DefaultMaxReplicas)

		out, err := json.Marshal(spec)
		require.NoError(t, err)
		again, err := ParseSpec("fuzz.json", out, opts)
		require.NoError(t, err, "re-parsing %s", out)
		require.Equal(t, spec, again, "re-parsing %s", out)
	})
}
