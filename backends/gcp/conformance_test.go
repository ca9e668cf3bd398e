package gcp

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/backends"
	"github.com/portico-dev/portico/backends/backendtest"
	"github.com/portico-dev/portico/backends/gcptest"
)

// TestConformance runs the suite every backend passes, against the fake
// Compute Engine with realistic (if shortened) delays.
func TestConformance(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backendtest.Env {
		f := newFixture(t, gcptest.Options{
			APILatency:    time.Millisecond,
			InsertLatency: 20 * time.Millisecond,
			RunningAfter:  100 * time.Millisecond,
			DeleteLatency: 30 * time.Millisecond,
		}, Config{PollInterval: 50 * time.Millisecond})
		return backendtest.Env{
			Backend: f.b,
			Region:  "europe-west1",
			Kill: func(t *testing.T, ref backends.InstanceRef) {
				require.True(t, f.srv.DeleteOutOfBand(ref.Zone, ref.ID), "kill %s in %s", ref.ID, ref.Zone)
			},
			Timeout: 10 * time.Second,
		}
	})
}
