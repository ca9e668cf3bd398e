package cli

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/models"
)

var update = flag.Bool("update", false, "rewrite golden files")

// golden compares got with testdata/golden/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("..", "testdata", "golden", name)
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./cli -update to create %s", path)
	assert.Equal(t, string(want), string(got))
}

var now = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func fixtureGateways() []*models.Gateway {
	at := func(d time.Duration) *time.Time { t := now.Add(-d); return &t }
	edge := &models.Gateway{
		Name: "example-gateway", Status: models.GatewayRunning, Revision: 2, CreatedAt: now.Add(-2 * time.Hour),
		Spec: models.Spec{Name: "example-gateway", Backend: "aws", Regions: []string{"eu-west-1", "us-east-1"}, Domain: "example.com", Replicas: 3},
		Replicas: []models.Replica{
			{Num: 0, Attempt: 1, Backend: "aws", Region: "eu-west-1", Zone: "eu-west-1a", Hostname: "127.0.10.1", Status: models.ReplicaRunning, CreatedAt: now.Add(-2 * time.Hour)},
			{Num: 1, Attempt: 1, Backend: "aws", Region: "us-east-1", Zone: "us-east-1a", Hostname: "127.0.10.2", Status: models.ReplicaFailed,
				StopRequested: true, StatusMessage: "instance i-2 terminated outside Portico", CreatedAt: now.Add(-2 * time.Hour), FinishedAt: at(5 * time.Minute)},
			{Num: 1, Attempt: 2, Backend: "aws", Region: "us-east-1", Zone: "us-east-1b", Hostname: "127.0.10.3", Status: models.ReplicaRunning, CreatedAt: now.Add(-5 * time.Minute)},
			{Num: 2, Attempt: 1, Backend: "aws", Region: "eu-west-1", Zone: "eu-west-1b", Hostname: "127.0.10.4", Status: models.ReplicaUnhealthy,
				StatusMessage: "3 health probes failed in a row: GET /healthz answered 503", CreatedAt: now.Add(-2 * time.Hour)},
			{Num: 3, Attempt: 1, Backend: "aws", Region: "eu-west-1", Zone: "eu-west-1c", Status: models.ReplicaTerminated,
				StopRequested: true, CreatedAt: now.Add(-3 * time.Hour), FinishedAt: at(time.Hour)},
		},
	}
	lab := &models.Gateway{
		Name: "lab", Status: models.GatewayProvisioning, CreatedAt: now.Add(-10 * time.Second),
		Spec: models.Spec{Name: "lab", Backend: "local", Region: "local", Replicas: 1},
		Replicas: []models.Replica{
			{Num: 0, Attempt: 1, Backend: "local", Region: "local", Status: models.ReplicaPending, CreatedAt: now.Add(-10 * time.Second)},
		},
	}
	return []*models.Gateway{edge, lab}
}

func TestWriteTreeGolden(t *testing.T) {
	tests := []struct {
		file string
		opts treeOptions
	}{
		{"list-tty.txt", treeOptions{TTY: true, Now: now}},
		{"list-tty-long.txt", treeOptions{TTY: true, Verbose: true, Now: now}},
		{"list-tty-color.txt", treeOptions{TTY: true, Color: true, Now: now}},
		{"list-piped.txt", treeOptions{Now: now}},
		{"list-piped-all.txt", treeOptions{All: true, Now: now}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			var buf bytes.Buffer
			require.NoError(t, writeTree(&buf, fixtureGateways(), tt.opts))
			golden(t, tt.file, buf.Bytes())
		})
	}
}

func TestVisibleReplicas(t *testing.T) {
	g := fixtureGateways()[0]
	got := visibleReplicas(g, false, now)
	var labels []string
	for _, r := range got {
		labels = append(labels, string(rune('0'+r.Num))+"/"+string(rune('0'+r.Attempt)))
	}
	assert.Equal(t, []string{"0/1", "1/1", "1/2", "2/1"}, labels,
		"the replaced attempt ended 5 minutes ago and shows; the one removed an hour ago does not")
	assert.Len(t, visibleReplicas(g, true, now), 5)
}

func TestJSONShape(t *testing.T) {
	var buf bytes.Buffer
	out := []gatewayJSON{toJSON(fixtureGateways()[1], false, now)}
	require.NoError(t, (&IOStreams{stdoutTTY: true}).writeJSON(&buf, out), "indented for a person")
	var compact bytes.Buffer
	require.NoError(t, (&IOStreams{}).writeJSON(&compact, out))
	assert.Equal(t, 1, bytes.Count(compact.Bytes(), []byte("\n")), "one line for a program")
	golden(t, "list.json", buf.Bytes())
}
