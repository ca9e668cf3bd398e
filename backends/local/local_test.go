package local

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/backends"
	"github.com/portico-dev/portico/backends/backendtest"
)

// Environment switches that turn this test binary into something else, so
// the tests start real processes without a portico binary being built.
const (
	agentEnv  = "PORTICO_LOCAL_AGENT"  // run as an agent from AgentFlags
	helperEnv = "PORTICO_LOCAL_LAUNCH" // run one Launch and print it (cross-process test)
)

func TestMain(m *testing.M) {
	switch {
	case os.Getenv(agentEnv) == "1":
		cfg, err := ParseAgentFlags(os.Args[1:])
		cfg.startDelay, _ = time.ParseDuration(os.Getenv("PORTICO_LOCAL_AGENT_DELAY"))
		if err == nil {
			err = RunAgent(context.Background(), cfg)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	case os.Getenv(helperEnv) != "":
		os.Exit(launchHelper(os.Getenv(helperEnv)))
	}
	os.Exit(m.Run())
}

// launchHelper launches the token described by spec ("STATEDIR TOKEN") and
// prints the instance as JSON.
func launchHelper(spec string) int {
	dir, token, _ := strings.Cut(spec, " ")
	b, err := New(agentConfig(dir))
	if err == nil {
		var in backends.Instance
		in, err = b.Launch(context.Background(), backends.LaunchRequest{
			Token: token, Install: "cafe0001", Gateway: "cross", Region: "local",
		})
		if err == nil {
			err = json.NewEncoder(os.Stdout).Encode(in)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// agentConfig makes this test binary the agent command. Under -race an
// exiting binary sleeps a second (atexit_sleep_ms) before it ends, which
// would make every Terminate wait; agents need no such grace.
func agentConfig(stateDir string) Config {
	return Config{StateDir: stateDir, Command: []string{os.Args[0]},
		Env: []string{agentEnv + "=1", "GORACE=atexit_sleep_ms=0"}}
}

// newTestBackend returns a backend over a fresh state directory, and stops
// every agent of that directory when the test ends, then checks that no
// process of it is left.
func newTestBackend(t *testing.T) (*backend, string) {
	t.Helper()
	dir := t.TempDir()
	b, err := New(agentConfig(dir))
	require.NoError(t, err)
	t.Cleanup(func() { stopAll(t, b.(*backend), dir) })
	return b.(*backend), dir
}

func stopAll(t *testing.T, b *backend, dir string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	entries, _ := os.ReadDir(b.agentsDir)
	for _, e := range entries {
		if token, ok := strings.CutSuffix(e.Name(), ".json"); ok && tokenRE.MatchString(token) {
			assert.NoError(t, b.Terminate(ctx, backends.InstanceRef{ID: token}))
		}
	}
	assert.Empty(t, processesUnder(t, dir), "agents left running")
}

// processesUnder lists the pids whose command line names the state dir.
func processesUnder(t *testing.T, dir string) []int {
	t.Helper()
	procs, err := os.ReadDir("/proc")
	require.NoError(t, err)
	var pids []int
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", p.Name(), "cmdline"))
		if err == nil && strings.Contains(string(cmdline), "--state-dir="+dir+"\x00") {
			pids = append(pids, pid)
		}
	}
	return pids
}

// killAgent SIGKILLs the agent of ref, as a crash or the OOM killer would.
func killAgent(t *testing.T, b *backend, ref backends.InstanceRef) {
	t.Helper()
	s, ok, err := readState(b.path(ref.ID, ".json"))
	require.NoError(t, err)
	require.True(t, ok, "no state file for %s", ref.ID)
	require.Greater(t, s.PID, 1)
	require.NoError(t, syscall.Kill(s.PID, syscall.SIGKILL))
}

func TestConformance(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backendtest.Env {
		b, _ := newTestBackend(t)
		return backendtest.Env{
			Backend: b,
			Region:  "local",
			Kill:    func(t *testing.T, ref backends.InstanceRef) { killAgent(t, b, ref) },
			Timeout: 20 * time.Second,
		}
	})
}

func TestConformanceOtherRegion(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backendtest.Env {
		b, _ := newTestBackend(t)
		return backendtest.Env{
			Backend: b,
			Region:  "eu-west-1",
			Kill:    func(t *testing.T, ref backends.InstanceRef) { killAgent(t, b, ref) },
		}
	})
}

func TestNewDefaultsAndCapabilities(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	b, err := New(Config{StateDir: dir})
	require.NoError(t, err)
	exe, err := os.Executable()
	require.NoError(t, err)
	assert.Equal(t, []string{exe, "agent"}, b.(*backend).command)
	assert.Equal(t, "local", b.Name())
	c := b.Capabilities()
	assert.Nil(t, c.Regions)
	assert.Equal(t, "local", c.DefaultRegion)
	assert.Empty(t, c.DefaultInstanceType)
	assert.Equal(t, 100*time.Millisecond, c.PollInterval)

	fi, err := os.Stat(filepath.Join(dir, "agents"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm())

	_, err = New(Config{})
	assert.Error(t, err)
}

// BenchmarkLaunchToRunning measures a launch of a fresh token until its
// agent serves, and its termination.
func BenchmarkLaunchToRunning(b *testing.B) {
	dir := b.TempDir()
	be, err := New(agentConfig(dir))
	require.NoError(b, err)
	ctx := context.Background()
	var stop time.Duration
	for i := 0; b.Loop(); i++ {
		in, err := be.Launch(ctx, testRequest("bench-"+strconv.Itoa(i)))
		require.NoError(b, err)
		start := time.Now()
		require.NoError(b, be.Terminate(ctx, in.Ref()))
		stop += time.Since(start)
	}
	b.ReportMetric(float64(stop.Microseconds())/float64(b.N)/1000, "ms-terminate/op")
}
