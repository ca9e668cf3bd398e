package gcp

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/backends"
	"github.com/portico-dev/portico/backends/gcptest"
)

func TestNewNeedsAProject(t *testing.T) {
	t.Setenv("GOOGLE_CLOUD_PROJECT", "")
	t.Setenv("CLOUDSDK_CORE_PROJECT", "")
	_, err := New(context.Background(), Config{Endpoint: "http://127.0.0.1:1"})
	var nc *backends.NotConfiguredError
	require.True(t, errors.As(err, &nc), "got %v", err)
	assert.Equal(t, "gcp", nc.Backend)
	assert.Equal(t, "no project", nc.Reason)
	assert.Contains(t, nc.Hint, "GOOGLE_CLOUD_PROJECT")
}

func TestNewTakesTheProjectFromTheEnvironment(t *testing.T) {
	srv := gcptest.NewServer(gcptest.Options{Project: "from-env"})
	t.Cleanup(srv.Close)
	for _, env := range []string{"GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT"} {
		t.Run(env, func(t *testing.T) {
			t.Setenv("GOOGLE_CLOUD_PROJECT", "")
			t.Setenv("CLOUDSDK_CORE_PROJECT", "")
			t.Setenv(env, "from-env")
			b, err := New(context.Background(), Config{Endpoint: srv.URL()})
			require.NoError(t, err)
			t.Cleanup(func() { _ = b.(*backend).Close() })
			_, err = b.List(testCtx(t), backends.ListFilter{Install: "x"})
			require.NoError(t, err, "the fake only knows project from-env")
		})
	}
}

func TestEndpointsAndCredentials(t *testing.T) {
	tests := []struct {
		endpoint string
		ok       bool
		opts     int
	}{
		{"", true, 0},
		{"https://compute.googleapis.com", true, 1},
		{"http://127.0.0.1:8080", true, 2}, // endpoint + no authentication
		{"http://localhost:8080", true, 2},
		{"http://[::1]:8080", true, 2},
		{"http://compute.example.com", false, 0}, // credentials in the clear
		{"http://10.0.0.1:8080", false, 0},
		{"ftp://127.0.0.1", false, 0},
		{"127.0.0.1:8080", false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.endpoint, func(t *testing.T) {
			opts, err := clientOptions(tt.endpoint)
			if !tt.ok {
				var nc *backends.NotConfiguredError
				assert.True(t, errors.As(err, &nc), "got %v", err)
				return
			}
			require.NoError(t, err)
			assert.Len(t, opts, tt.opts)
		})
	}
}

func TestCapabilities(t *testing.T) {
	f := newFixture(t, gcptest.Options{}, Config{PollInterval: 123 * time.Millisecond})
	c := f.b.Capabilities()
	assert.Equal(t, "gcp", f.b.Name())
	assert.Equal(t, "us-central1", c.DefaultRegion)
	assert.Equal(t, "e2-small", c.DefaultInstanceType)
	assert.Equal(t, 123*time.Millisecond, c.PollInterval)
	assert.True(t, c.AcceptsRegion("europe-west1"))
	assert.False(t, c.AcceptsRegion("eu-west-1"), "an AWS region")
	for _, r := range gcptest.DefaultRegions {
		assert.True(t, c.AcceptsRegion(r), "the fake's region %s is a real one", r)
	}
	c.Regions[0] = "changed"
	assert.NotEqual(t, "changed", f.b.Capabilities().Regions[0], "callers get a copy")
}
