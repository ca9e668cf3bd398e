package cli

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/portico-dev/portico/pipelines"
)

func TestMetricWriterExpositionFormat(t *testing.T) {
	var buf bytes.Buffer
	mw := metricWriter{w: &buf}
	mw.labelled("portico_replicas", "gauge", "Replica attempts by status.", "status", map[string]int{"running": 3, "failed": 1})
	mw.histograms("portico_pipeline_step_seconds", "Duration of one pipeline step.", map[string]pipelines.Histogram{
		"replica": {Bounds: []float64{0.1, 1}, Counts: []int64{2, 1, 1}, Sum: 3.5, Count: 4},
	})
	assert.Equal(t, `# HELP portico_replicas Replica attempts by status.
# TYPE portico_replicas gauge
portico_replicas{status="failed"} 1
portico_replicas{status="running"} 3
# HELP portico_pipeline_step_seconds Duration of one pipeline step.
# TYPE portico_pipeline_step_seconds histogram
portico_pipeline_step_seconds_bucket{pipeline="replica",le="0.1"} 2
portico_pipeline_step_seconds_bucket{pipeline="replica",le="1"} 3
portico_pipeline_step_seconds_bucket{pipeline="replica",le="+Inf"} 4
portico_pipeline_step_seconds_sum{pipeline="replica"} 3.5
portico_pipeline_step_seconds_count{pipeline="replica"} 4
`, buf.String())

	buf.Reset()
	mw.process()
	assert.Contains(t, buf.String(), "process_resident_memory_bytes ")
	assert.Contains(t, buf.String(), "# TYPE process_cpu_seconds_total counter")
}
