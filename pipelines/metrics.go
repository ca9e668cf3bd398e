package pipelines

import (
	"sync"
	"sync/atomic"
	"time"
)

// Metrics counts what the pipelines do, for `portico server`'s /metrics.
type Metrics struct {
	BackendCalls  atomic.Int64
	BackendErrors atomic.Int64
	Launches      atomic.Int64
	LeasesLost    atomic.Int64
	StaleWrites   atomic.Int64
	Replacements  atomic.Int64

	mu      sync.Mutex
	latency map[string]*Histogram
}

// Histogram is a cumulative latency histogram in seconds.
type Histogram struct {
	Bounds []float64
	Counts []int64 // one per bound, plus +Inf
	Sum    float64
	Count  int64
}

var latencyBounds = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

func (m *Metrics) observe(pipeline string, d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.latency == nil {
		m.latency = map[string]*Histogram{}
	}
	h := m.latency[pipeline]
	if h == nil {
		h = &Histogram{Bounds: latencyBounds, Counts: make([]int64, len(latencyBounds)+1)}
		m.latency[pipeline] = h
	}
	s := d.Seconds()
	i := 0
	for i < len(h.Bounds) && s > h.Bounds[i] {
		i++
	}
	h.Counts[i]++
	h.Sum += s
	h.Count++
}

// Latency returns a copy of the per-pipeline step latency histograms.
func (m *Metrics) Latency() map[string]Histogram {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]Histogram{}
	for k, h := range m.latency {
		c := *h
		c.Counts = append([]int64(nil), h.Counts...)
		out[k] = c
	}
	return out
}
