package aws

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/backends"
	"github.com/portico-dev/portico/backends/awstest"
	"github.com/portico-dev/portico/backends/backendtest"
)

// TestConformance runs the suite every backend passes against the fake EC2,
// through the real SDK client.
func TestConformance(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backendtest.Env {
		f := newFixture(t, awstest.Options{RunningAfter: 100 * time.Millisecond, TerminateAfter: 100 * time.Millisecond}, nil)
		return backendtest.Env{
			Backend: f.b,
			Region:  region,
			Kill: func(t *testing.T, ref backends.InstanceRef) {
				require.NoError(t, f.srv.TerminateOutOfBand(ref.Region, ref.ID))
			},
			Timeout:   10 * time.Second,
			UnknownID: "i-0123456789abcdef0",
		}
	})
}
