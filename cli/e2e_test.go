package cli_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const localSpec = "../testdata/gateways/local.yml"

func TestE2ELocalGatewayLifecycle(t *testing.T) {
	e := newE2E(t)
	r := e.mustRun("apply", "-f", localSpec, "-y")
	assert.Contains(t, r.stdout, `Plan: create gateway "example-gateway" with 3 replicas`)

	gws := e.list()
	require.Len(t, gws, 1)
	assert.Equal(t, "running", gws[0].Status)
	reps := running(gws[0])
	require.Len(t, reps, 3)
	for _, rep := range reps {
		assert.Regexp(t, `^127\.0\.0\.1:\d+$`, rep.Hostname)
		h := healthz(t, rep.Hostname)
		assert.Equal(t, "example-gateway", h["gateway"])
		assert.Equal(t, float64(rep.ReplicaNum), h["replica"])
		assert.Equal(t, "example.com", h["domain"])
	}
	pids := e.agents()
	assert.Len(t, pids, 3)

	// Re-applying the same spec changes nothing and says so.
	r = e.mustRun("apply", "-f", localSpec, "-y")
	assert.Contains(t, r.stdout, "up to date; nothing to do")
	assert.ElementsMatch(t, pids, e.agents(), "no agent was restarted")

	// The piped tree is stable, tab-separated text.
	r = e.mustRun("gateway", "list")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, 4)
	assert.Equal(t, "example-gateway\t\tlocal\tlocal\texample.com\trunning", lines[0])
	assert.Regexp(t, `^example-gateway\treplica=0\tlocal\tlocal/local-a\t127\.0\.0\.1:\d+\trunning$`, lines[1])

	r = e.mustRun("gateway", "delete", "example-gateway", "-y")
	assert.Contains(t, r.stdout, "every replica terminated")
	assert.Empty(t, e.agents(), "delete stops every agent")
	assert.Empty(t, e.list())

	r = e.mustRun("gateway", "events", "example-gateway")
	assert.Contains(t, r.stdout, "gateway removed", "the history outlives the gateway")
}

func TestE2EInvalidSpecsExit2AndWriteNothing(t *testing.T) {
	files, err := filepath.Glob("../testdata/gateways/invalid-*.yml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	e := newE2E(t)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := e.run("apply", "-f", f, "-y")
			assert.Equal(t, 2, r.code, r.stderr)
			assert.Contains(t, r.stderr, f+":", "the message names the file")
			assert.Regexp(t, regexp.MustCompile(`:\d+(:\d+)?: `), r.stderr, "and the line")
			assert.Contains(t, r.stderr, "nothing was changed")
			_, err := os.Stat(filepath.Join(e.home, "portico.db"))
			assert.True(t, os.IsNotExist(err), "an invalid spec does not even create the store")
		})
	}
}

func TestE2EStdinSpecAndConfirmation(t *testing.T) {
	e := newE2E(t)
	spec, err := os.ReadFile(localSpec)
	require.NoError(t, err)

	r := e.runStdin(string(spec), "apply", "-f", "-")
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.stderr, "pass -y")
	assert.Empty(t, e.list(), "nothing is written without confirmation")

	spec2 := strings.Replace(string(spec), "replicas: 3", "replicas: 1", 1)
	r = e.runStdin(spec2, "apply", "-f", "-", "-y")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Len(t, running(e.list()[0]), 1)

	bad := strings.Replace(string(spec), "replicas: 3", "replica: 3", 1)
	r = e.runStdin(bad, "apply", "-f", "-", "-y")
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.stderr, "<stdin>:7:1: replica:")
	assert.Contains(t, r.stderr, `did you mean "replicas"?`)
}

func TestE2EExitCodes(t *testing.T) {
	e := newE2E(t)
	for _, tt := range []struct {
		args []string
		code int
		text string
	}{
		{[]string{"frobnicate"}, 2, "unknown command"},
		{[]string{"gateway", "list", "--bogus"}, 2, "unknown flag"},
		{[]string{"gateway", "get"}, 2, "accepts 1 arg"},
		{[]string{"apply"}, 2, "no spec given"},
		{[]string{"apply", "-f", "/nonexistent/gw.yml"}, 2, "no such file"},
		{[]string{"gateway", "get", "missing"}, 1, `gateway "missing" not found`},
		{[]string{"gateway", "delete", "missing", "-y"}, 1, `gateway "missing" not found`},
	} {
		r := e.run(tt.args...)
		assert.Equal(t, tt.code, r.code, "portico %v: %s", tt.args, r.stderr)
		assert.Contains(t, r.stderr, tt.text, "portico %v", tt.args)
	}
	r := e.mustRun("help", "exit-codes")
	assert.Contains(t, r.stdout, "130  interrupted")
	r = e.mustRun("version")
	assert.Regexp(t, `^portico \S+`, r.stdout)
}

// Killing apply with SIGKILL at any moment and running it again converges
// to exactly N agents, never N+1: the token is written before each launch
// and the local backend adopts the agent its token names.
func TestE2EKillDuringApplyConvergesToN(t *testing.T) {
	const n = 6
	spec := filepath.Join(t.TempDir(), "gw.yml")
	require.NoError(t, os.WriteFile(spec, []byte("type: gateway\nname: crashy\nbackend: local\nreplicas: 6\n"), 0o600))
	for _, delay := range []time.Duration{0, 5 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond, 80 * time.Millisecond, 150 * time.Millisecond} {
		t.Run(delay.String(), func(t *testing.T) {
			e := newE2E(t)
			cmd := e.command("", "apply", "-f", spec, "-y")
			require.NoError(t, cmd.Start())
			time.Sleep(delay)
			_ = cmd.Process.Signal(syscall.SIGKILL)
			_ = cmd.Wait()

			r := e.mustRun("apply", "-f", spec, "-y")
			assert.NotContains(t, r.stderr, "error")
			// An agent the killed apply started may still be exiting after
			// losing its token's run lock to the one that serves: wait for
			// it, then there must be exactly N. A real twin never goes away.
			assert.Eventually(t, func() bool { return len(e.agents()) == n }, 3*time.Second, 20*time.Millisecond,
				"exactly N agents after the crash and re-run")
			gws := e.list()
			require.Len(t, gws, 1)
			reps := running(gws[0])
			require.Len(t, reps, n)
			seen := map[string]bool{}
			for _, rep := range reps {
				assert.False(t, seen[rep.Hostname], "two replicas share %s", rep.Hostname)
				seen[rep.Hostname] = true
				assert.Equal(t, 1, rep.Attempt, "no replica needed a second attempt")
			}
		})
	}
}
