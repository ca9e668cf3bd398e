package cli

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/portico-dev/portico/gateways/store"
	"github.com/portico-dev/portico/pipelines"
)

// porticoCollector reads Portico's figures at scrape time: states from the
// database, counters and latencies from the engine.
type porticoCollector struct {
	st  *store.Store
	srv *pipelines.Server
}

var (
	descGateways      = prometheus.NewDesc("portico_gateways", "Gateways by status.", []string{"status"}, nil)
	descReplicas      = prometheus.NewDesc("portico_replicas", "Replica attempts by status.", []string{"status"}, nil)
	descLatency       = prometheus.NewDesc("portico_pipeline_step_seconds", "Duration of one pipeline step.", []string{"pipeline"}, nil)
	descBackendCalls  = prometheus.NewDesc("portico_backend_calls_total", "Calls to backends (launch, describe batch, terminate, list).", nil, nil)
	descBackendErrors = prometheus.NewDesc("portico_backend_errors_total", "Backend calls that failed.", nil, nil)
	descLaunches      = prometheus.NewDesc("portico_launches_total", "Launch calls.", nil, nil)
	descLeasesLost    = prometheus.NewDesc("portico_lease_steals_total", "Leases this server lost to another worker.", nil, nil)
	descStaleWrites   = prometheus.NewDesc("portico_stale_writes_total", "Results discarded because their lease was lost.", nil, nil)
	descReplaced      = prometheus.NewDesc("portico_instances_lost_total", "Running instances found gone and replaced.", nil, nil)
	descMembers       = prometheus.NewDesc("portico_members_live", "Live servers sharing the database.", nil, nil)
	descOwned         = prometheus.NewDesc("portico_owned_gateways", "Gateways this server owns.", nil, nil)
)

func (c *porticoCollector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }

func (c *porticoCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if gws, reps, err := c.st.StatusCounts(ctx); err == nil {
		for st, n := range gws {
			ch <- prometheus.MustNewConstMetric(descGateways, prometheus.GaugeValue, float64(n), st)
		}
		for st, n := range reps {
			ch <- prometheus.MustNewConstMetric(descReplicas, prometheus.GaugeValue, float64(n), st)
		}
	}
	m := c.srv.Engine.Metrics()
	for _, x := range []struct {
		d *prometheus.Desc
		v int64
	}{
		{descBackendCalls, m.BackendCalls.Load()}, {descBackendErrors, m.BackendErrors.Load()},
		{descLaunches, m.Launches.Load()}, {descLeasesLost, m.LeasesLost.Load()},
		{descStaleWrites, m.StaleWrites.Load()}, {descReplaced, m.Replacements.Load()},
	} {
		ch <- prometheus.MustNewConstMetric(x.d, prometheus.CounterValue, float64(x.v))
	}
	for name, h := range m.Latency() {
		buckets := map[float64]uint64{}
		var cum int64
		for i, b := range h.Bounds {
			cum += h.Counts[i]
			buckets[b] = uint64(cum)
		}
		ch <- prometheus.MustNewConstHistogram(descLatency, uint64(h.Count), h.Sum, buckets, name)
	}
	ch <- prometheus.MustNewConstMetric(descMembers, prometheus.GaugeValue, float64(len(c.srv.Membership.Live())))
	ch <- prometheus.MustNewConstMetric(descOwned, prometheus.GaugeValue, float64(len(c.srv.Membership.Owned())))
}

// metricsHandler serves Prometheus metrics: Portico's, the Go runtime's and
// the process's (RSS, CPU, open files).
func metricsHandler(st *store.Store, srv *pipelines.Server) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&porticoCollector{st: st, srv: srv},
	)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}
