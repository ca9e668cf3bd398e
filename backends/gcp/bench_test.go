package gcp

import (
	"fmt"
	"testing"

	"github.com/portico-dev/portico/backends/gcptest"
)

// BenchmarkLaunchDescribe measures the backend's own overhead for one
// replica (launch, then one describe) against a fake with no latency: the
// cost of the client library, JSON and the fake, not of Compute Engine.
func BenchmarkLaunchDescribe(b *testing.B) {
	srv := gcptest.NewServer(gcptest.Options{})
	b.Cleanup(srv.Close)
	be := newBackendFor(b, srv, Config{})
	b.ResetTimer()
	for i := range b.N {
		in, err := be.Launch(b.Context(), request(fmt.Sprintf("tok-%d", i), i))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := be.Describe(b.Context(), in.Ref()); err != nil {
			b.Fatal(err)
		}
	}
}
