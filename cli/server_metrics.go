package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/portico-dev/portico/gateways/store"
	"github.com/portico-dev/portico/pipelines"
)

// metricsHandler serves Prometheus metrics in the text exposition format
// (version 0.0.4): Portico's own figures, read at scrape time (states from
// the database, counters and latencies from the engine), and the process's
// (RSS, CPU, open files, goroutines, heap).
//
// It is written by hand rather than with prometheus/client_golang: that
// library's package initialisation alone took 7.6 ms of every CLI start
// (GODEBUG=inittrace=1), a quarter of the 30 ms start-up budget, for a
// dozen metrics a server exposes.
func metricsHandler(st *store.Store, srv *pipelines.Server) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		var buf bytes.Buffer
		writeMetrics(ctx, &buf, st, srv)
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_, _ = w.Write(buf.Bytes())
	})
}

func writeMetrics(ctx context.Context, w io.Writer, st *store.Store, srv *pipelines.Server) {
	mw := metricWriter{w: w}
	if gws, reps, err := st.StatusCounts(ctx); err == nil {
		mw.labelled("portico_gateways", "gauge", "Gateways by status.", "status", gws)
		mw.labelled("portico_replicas", "gauge", "Replica attempts by status.", "status", reps)
	}
	m := srv.Engine.Metrics()
	mw.single("portico_backend_calls_total", "counter", "Calls to backends (launch, describe batch, terminate, list).", float64(m.BackendCalls.Load()))
	mw.single("portico_backend_errors_total", "counter", "Backend calls that failed.", float64(m.BackendErrors.Load()))
	mw.single("portico_launches_total", "counter", "Launch calls.", float64(m.Launches.Load()))
	mw.single("portico_lease_steals_total", "counter", "Leases this server lost to another worker.", float64(m.LeasesLost.Load()))
	mw.single("portico_stale_writes_total", "counter", "Results discarded because their lease was lost.", float64(m.StaleWrites.Load()))
	mw.single("portico_instances_lost_total", "counter", "Running instances found gone and replaced.", float64(m.Replacements.Load()))
	mw.single("portico_members_live", "gauge", "Live servers sharing the database.", float64(len(srv.Membership.Live())))
	mw.single("portico_owned_gateways", "gauge", "Gateways this server owns.", float64(len(srv.Membership.Owned())))
	mw.histograms("portico_pipeline_step_seconds", "Duration of one pipeline step.", m.Latency())
	mw.process()
}

// metricWriter writes metric families; values are plain floats.
type metricWriter struct{ w io.Writer }

func (m metricWriter) header(name, typ, help string) {
	fmt.Fprintf(m.w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
}

func (m metricWriter) single(name, typ, help string, v float64) {
	m.header(name, typ, help)
	fmt.Fprintf(m.w, "%s %s\n", name, num(v))
}

func (m metricWriter) labelled(name, typ, help, label string, values map[string]int) {
	m.header(name, typ, help)
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(m.w, "%s{%s=%q} %d\n", name, label, escapeLabel(k), values[k])
	}
}

func (m metricWriter) histograms(name, help string, hs map[string]pipelines.Histogram) {
	m.header(name, "histogram", help)
	keys := make([]string, 0, len(hs))
	for k := range hs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		h := hs[k]
		var cum int64
		for i, b := range h.Bounds {
			cum += h.Counts[i]
			fmt.Fprintf(m.w, "%s_bucket{pipeline=%q,le=%q} %d\n", name, k, num(b), cum)
		}
		fmt.Fprintf(m.w, "%s_bucket{pipeline=%q,le=\"+Inf\"} %d\n", name, k, h.Count)
		fmt.Fprintf(m.w, "%s_sum{pipeline=%q} %s\n%s_count{pipeline=%q} %d\n", name, k, num(h.Sum), name, k, h.Count)
	}
}

// process writes the standard process_* and go_* figures from /proc and
// the runtime.
func (m metricWriter) process() {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m.single("go_goroutines", "gauge", "Number of goroutines that currently exist.", float64(runtime.NumGoroutine()))
	m.single("go_memstats_heap_alloc_bytes", "gauge", "Heap bytes allocated and still in use.", float64(ms.HeapAlloc))
	if status, err := os.ReadFile("/proc/self/status"); err == nil {
		for line := range strings.Lines(string(status)) {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
				m.single("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", kb*1024)
			}
		}
	}
	if stat, err := os.ReadFile("/proc/self/stat"); err == nil {
		if i := bytes.LastIndexByte(stat, ')'); i > 0 {
			f := strings.Fields(string(stat[i+2:]))
			if len(f) > 12 {
				ut, _ := strconv.ParseFloat(f[11], 64)
				stt, _ := strconv.ParseFloat(f[12], 64)
				m.single("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.", (ut+stt)/100)
			}
		}
	}
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		m.single("process_open_fds", "gauge", "Number of open file descriptors.", float64(len(fds)))
	}
}

func num(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

func escapeLabel(s string) string { return strings.ReplaceAll(s, "\n", " ") }
