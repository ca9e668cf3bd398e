package faults_test

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/backends/awstest"
	"github.com/portico-dev/portico/backends/gcptest"
	"github.com/portico-dev/portico/gateways"
	"github.com/portico-dev/portico/gateways/store/storetest"
)

// badInput is a spec the CLI must refuse before any request: the problem's
// line and column, and what stderr must say there.
type badInput struct {
	name      string
	yaml      string
	line, col int
	want      []string
}

// refuses runs `portico apply` on each input and checks the usage-error
// contract: exit 2, file:line:col with the reason, "nothing was changed",
// zero requests to the fake cloud and nothing written to the store.
func refuses(t *testing.T, w *world, c *cli, inputs []badInput) {
	t.Helper()
	for _, in := range inputs {
		t.Run(in.name, func(t *testing.T) {
			file := c.file("gateway.yml", in.yaml)
			r := c.run("apply", "-f", file, "-y")
			assert.Equal(t, 2, r.code, "usage error\nstdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
			loc := fmt.Sprintf("%s:%d:%d: ", file, in.line, in.col)
			assert.Contains(t, r.stderr, loc, "the message points at the problem")
			for _, want := range in.want {
				assert.Contains(t, r.stderr, want)
			}
			assert.Regexp(t, regexp.MustCompile(`(?m)^\d+ problem\(s\) found; nothing was changed$`), r.stderr)
			assert.Empty(t, w.fake.CallLog(), "no request reached the cloud")
			gws, err := w.st.ListGateways(bg)
			require.NoError(t, err)
			assert.Empty(t, gws, "nothing was written")
		})
	}
}

// newSQLiteWorld is a world on a SQLite file only: the input checks run
// before any database access, so one dialect is enough.
func newSQLiteWorld(t *testing.T, opts awstest.Options) *world {
	dsn := storetest.SQLite(t)
	return newWorld(t, dsn, storetest.Open(t, dsn), opts)
}

const head = "type: gateway\nname: edge\nbackend: aws\nregion: eu-west-1\n"

// TestMalformedYAML is scenario 21 through the binary.
func TestMalformedYAML(t *testing.T) {
	t.Parallel()
	w := newSQLiteWorld(t, awstest.Options{})
	c := w.cli("")
	refuses(t, w, c, []badInput{
		{"tab indentation", head + "replicas: 2\ntags:\n\tteam: infra\n", 7, 1, []string{"invalid YAML", "tab"}},
		{"unclosed quote", "type: gateway\nname: \"edge\nbackend: aws\n", 2, 7, []string{"invalid YAML"}},
		{"duplicate key", head + "replicas: 2\nreplicas: 3\n", 6, 1, []string{"replicas", "already"}},
	})
	checkInvariants(w)
}

// TestBadReplicas is scenario 22: every bad value names the field, its line
// and the allowed range, through ParseSpec and through the binary; a
// missing value is the documented default, 1.
func TestBadReplicas(t *testing.T) {
	t.Parallel()
	cases := []struct {
		value string
		want  string
	}{
		{"0", "must be a whole number from 1 to 100, got 0"},
		{"-1", "must be a whole number from 1 to 100, got -1"},
		{"10000", "10000 is more than the maximum of 100 replicas"},
		{`"two"`, "must be a whole number from 1 to 100"},
		{"2.5", "must be a whole number from 1 to 100, got 2.5"},
	}
	opts := gateways.SpecOptions{Backends: []string{"aws", "gcp", "local"}}
	var inputs []badInput
	for _, tc := range cases {
		data := head + "replicas: " + tc.value + "\n"
		_, err := gateways.ParseSpec("gateway.yml", []byte(data), opts)
		var se *gateways.SpecError
		require.True(t, errors.As(err, &se), "replicas: %s is refused: %v", tc.value, err)
		require.Len(t, se.Problems, 1, "replicas: %s", tc.value)
		p := se.Problems[0]
		assert.Equal(t, "replicas", p.Field)
		assert.Equal(t, 5, p.Line, "replicas: %s", tc.value)
		assert.Equal(t, 11, p.Col, "replicas: %s", tc.value)
		assert.Contains(t, p.Message, tc.want)
		inputs = append(inputs, badInput{"replicas " + tc.value, data, 5, 11, []string{"replicas: " + tc.want}})
	}
	spec, err := gateways.ParseSpec("gateway.yml", []byte(head), opts)
	require.NoError(t, err)
	assert.Equal(t, 1, spec.Replicas, "a missing replicas is the documented default")

	w := newSQLiteWorld(t, awstest.Options{})
	c := w.cli("")
	refuses(t, w, c, inputs)

	c.mustRun("apply", "-f", c.file("gateway.yml", head), "-y")
	w.waitFor("edge", allRunning(1), "the default of one replica runs")
	checkInvariants(w)
}

// TestUnknownOrUnconfiguredBackend is scenario 23: a typo gets the valid
// names and a suggestion; a known backend without its settings is "not
// configured"; neither cloud sees a request.
func TestUnknownOrUnconfiguredBackend(t *testing.T) {
	t.Parallel()
	w := newSQLiteWorld(t, awstest.Options{})
	gcpFake := gcptest.NewServer(gcptest.Options{})
	t.Cleanup(gcpFake.Close)
	c := w.cli("gcp:\n  endpoint: " + gcpFake.URL() + "\n")
	refuses(t, w, c, []badInput{{"typo", "type: gateway\nname: edge\nbackend: awz\n", 3, 10,
		[]string{`backend: unknown backend "awz" (valid: aws, gcp, local)`, `did you mean "aws"?`}}})

	file := c.file("gcp.yml", "type: gateway\nname: edge\nbackend: gcp\nregion: us-central1\n")
	r := c.run("apply", "-f", file, "-y")
	assert.Equal(t, 2, r.code, r.stderr)
	assert.Contains(t, r.stderr, `backend "gcp" is not configured: no project`)
	assert.Contains(t, r.stderr, "gcp.project", "the message says how to configure it")
	assert.Empty(t, w.fake.CallLog())
	assert.Empty(t, gcpFake.CallLog(), "the unconfigured backend sent nothing")
	gws, err := w.st.ListGateways(bg)
	require.NoError(t, err)
	assert.Empty(t, gws)
	checkInvariants(w)
}

// TestUnknownFieldOrRegion is scenario 24: strict decoding names the
// unknown key with a suggestion; the region is checked against the
// backend's list before anything is created.
func TestUnknownFieldOrRegion(t *testing.T) {
	t.Parallel()
	w := newSQLiteWorld(t, awstest.Options{})
	c := w.cli("")
	refuses(t, w, c, []badInput{
		{"replica typo", head + "replica: 2\n", 5, 1, []string{`replica: unknown key`, `did you mean "replicas"?`}},
		{"region", "type: gateway\nname: edge\nbackend: aws\nregion: us-east-9\n", 4, 9,
			[]string{`region: unknown region "us-east-9" for backend aws`}},
	})
	r := c.run("apply", "-f", c.file("both.yml", strings.Replace(head, "eu-west-1", "us-east-9", 1)+"replica: 2\n"), "-y")
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.stderr, "2 problem(s) found", "every problem is reported at once")
	assert.Empty(t, w.fake.CallLog())
	checkInvariants(w)
}
