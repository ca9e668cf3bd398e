package gateways

import (
	"fmt"
	"testing"
	"time"

	"github.com/portico-dev/portico/models"
)

// BenchmarkReconcile measures the pure reconciliation step the gateway
// pipeline runs on every look at a gateway, for gateways of 5 to 100
// replicas: steady state (all running, nothing to do), scale-out from zero,
// and a gateway mid-replacement (unhealthy and failed replicas, replaced
// rows still live). It reports time per gateway; it asserts nothing.
func BenchmarkReconcile(b *testing.B) {
	p := Policy{Now: t0}
	for _, n := range []int{5, 100} {
		running := make([]models.Replica, n)
		mixed := make([]models.Replica, 0, 2*n)
		for i := range n {
			running[i] = rep(int64(i+1), i, 1, models.ReplicaRunning)
			switch i % 4 {
			case 0:
				mixed = append(mixed, rep(int64(i+1), i, 1, models.ReplicaUnhealthy, unhealthyFor(time.Minute)))
			case 1:
				mixed = append(mixed, rep(int64(i+1), i, 1, models.ReplicaFailed, failedAt(time.Hour, "transient")))
			case 2:
				mixed = append(mixed, rep(int64(i+1), i, 1, models.ReplicaRunning),
					rep(int64(n+i+1), i, 2, models.ReplicaProvisioning))
			default:
				mixed = append(mixed, rep(int64(i+1), i, 1, models.ReplicaRunning))
			}
		}
		cases := []struct {
			name string
			g    *models.Gateway
		}{
			{"steady", gw(n, running...)},
			{"scale-out", gw(n)},
			{"replacing", gw(n, mixed...)},
		}
		for _, c := range cases {
			b.Run(fmt.Sprintf("%s/replicas=%d", c.name, n), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					_ = Reconcile(c.g, p)
				}
			})
		}
	}
}

// BenchmarkPlanApply measures the plan shown by `portico apply` for a new
// gateway and for a scale from 50 to 100 replicas.
func BenchmarkPlanApply(b *testing.B) {
	spec := models.Spec{Type: "gateway", Name: "edge", Backend: "aws", Regions: []string{"eu-west-1", "us-east-1"}, Replicas: 100}
	existing := make([]models.Replica, 50)
	for i := range existing {
		existing[i] = rep(int64(i+1), i, 1, models.ReplicaRunning)
	}
	cur := gw(50, existing...)
	cur.Spec.Regions, cur.Spec.Region = spec.Regions, ""
	p := Policy{Now: t0}
	b.Run("create", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = PlanApply(nil, spec, false, p)
		}
	})
	b.Run("scale-50-to-100", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = PlanApply(cur, spec, false, p)
		}
	})
}
