package local

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/backends"
)

func testRequest(token string) backends.LaunchRequest {
	return backends.LaunchRequest{Token: token, Install: "0badc0de", Gateway: "edge", ReplicaNum: 1,
		Region: "local", Domain: "example.com", HealthPath: "/healthz"}
}

// deadPID returns the pid of a process that has exited and been reaped.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	require.NoError(t, cmd.Run())
	return cmd.Process.Pid
}

func TestLaunchReplacesStaleState(t *testing.T) {
	b, _ := newTestBackend(t)
	ctx := context.Background()
	const token = "stale-1"
	stale := agentState{PID: deadPID(t), Port: 1, Token: token, Install: "0badc0de", Gateway: "edge",
		Region: "local", StartedAt: time.Now().Add(-time.Hour)}
	require.NoError(t, writeState(b.path(token, ".json"), stale))

	got, err := b.Describe(ctx, backends.InstanceRef{ID: token})
	require.NoError(t, err)
	assert.Equal(t, backends.StateTerminated, got[0].State, "a dead pid is not running")

	in, err := b.Launch(ctx, testRequest(token))
	require.NoError(t, err)
	assert.Equal(t, backends.StateRunning, in.State)
	assert.NotEqual(t, strconv.Itoa(stale.PID), in.Data["pid"])
	assert.NotEqual(t, "127.0.0.1:1", in.Hostname)
	s, ok, err := readState(b.path(token, ".json"))
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, in.Data["pid"], strconv.Itoa(s.PID), "the state file names the new agent")
}

func TestForeignPIDIsNotTrusted(t *testing.T) {
	b, _ := newTestBackend(t)
	ctx := context.Background()
	const token = "foreign-1"
	// Our own pid is alive, but its command line does not carry the token.
	foreign := agentState{PID: os.Getpid(), Port: 1, Token: token, Install: "0badc0de", Gateway: "edge",
		Region: "local", StartedAt: time.Now()}
	require.NoError(t, writeState(b.path(token, ".json"), foreign))

	got, err := b.Describe(ctx, backends.InstanceRef{ID: token})
	require.NoError(t, err)
	assert.Equal(t, backends.StateTerminated, got[0].State)
	listed, err := b.List(ctx, backends.ListFilter{Install: "0badc0de"})
	require.NoError(t, err)
	assert.Empty(t, listed)
	// Terminate must not signal the stranger (that would end this test run).
	require.NoError(t, b.Terminate(ctx, backends.InstanceRef{ID: token}))
	_, err = os.Stat(b.path(token, ".json"))
	assert.ErrorIs(t, err, os.ErrNotExist, "terminate removes the state file")

	require.NoError(t, writeState(b.path(token, ".json"), foreign))
	in, err := b.Launch(ctx, testRequest(token))
	require.NoError(t, err)
	assert.NotEqual(t, strconv.Itoa(os.Getpid()), in.Data["pid"], "launch starts a real agent")
}

func TestInvalidRequestWritesNothing(t *testing.T) {
	b, _ := newTestBackend(t)
	for name, mutate := range map[string]func(*backends.LaunchRequest){
		"empty token":        func(r *backends.LaunchRequest) { r.Token = "" },
		"traversal token":    func(r *backends.LaunchRequest) { r.Token = "../escape" },
		"uppercase token":    func(r *backends.LaunchRequest) { r.Token = "Token" },
		"long token":         func(r *backends.LaunchRequest) { r.Token = strings.Repeat("a", 65) },
		"slash in domain":    func(r *backends.LaunchRequest) { r.Domain = "example.com/x" },
		"dotdot domain":      func(r *backends.LaunchRequest) { r.Domain = "a..b" },
		"flag-like domain":   func(r *backends.LaunchRequest) { r.Domain = "-x" },
		"bad gateway":        func(r *backends.LaunchRequest) { r.Gateway = "Edge_1" },
		"no install":         func(r *backends.LaunchRequest) { r.Install = "" },
		"bad region":         func(r *backends.LaunchRequest) { r.Region = "EU/1" },
		"traversal health":   func(r *backends.LaunchRequest) { r.HealthPath = "/../x" },
		"relative health":    func(r *backends.LaunchRequest) { r.HealthPath = "healthz" },
		"negative replica":   func(r *backends.LaunchRequest) { r.ReplicaNum = -1 },
		"newline in gateway": func(r *backends.LaunchRequest) { r.Gateway = "edge\n" },
	} {
		t.Run(name, func(t *testing.T) {
			req := testRequest("valid-1")
			mutate(&req)
			_, err := b.Launch(context.Background(), req)
			require.Error(t, err)
			assert.Equal(t, backends.Permanent, backends.KindOf(err))
			entries, err := os.ReadDir(b.agentsDir)
			require.NoError(t, err)
			assert.Empty(t, entries, "nothing may be written for an invalid request")
		})
	}
}

func TestTerminateRemovesFilesButKeepsLog(t *testing.T) {
	b, dir := newTestBackend(t)
	ctx := context.Background()
	in, err := b.Launch(ctx, testRequest("term-1"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(b.path("term-1", ".fault"), []byte("503"), 0o600))
	require.Len(t, processesUnder(t, dir), 1)

	require.NoError(t, b.Terminate(ctx, in.Ref()))
	for _, suffix := range []string{".json", ".lock", ".fault"} {
		_, err := os.Stat(b.path("term-1", suffix))
		assert.ErrorIs(t, err, os.ErrNotExist, suffix)
	}
	log, err := os.ReadFile(in.Data["log"])
	require.NoError(t, err)
	assert.Contains(t, string(log), "agent stopping", "the agent shut down gracefully")
	assert.Empty(t, processesUnder(t, dir))
	fi, err := os.Stat(in.Data["log"])
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
}

func TestLaunchReportsAgentThatExits(t *testing.T) {
	cfg := agentConfig(t.TempDir())
	// The agent refuses to listen beyond loopback and exits.
	cfg.Command = append(cfg.Command, "--listen=0.0.0.0:0")
	b, err := New(cfg)
	require.NoError(t, err)
	start := time.Now()
	_, err = b.Launch(context.Background(), testRequest("exits-1"))
	require.Error(t, err)
	assert.Equal(t, backends.Permanent, backends.KindOf(err))
	assert.Contains(t, err.Error(), "launch agent exits-1")
	assert.Contains(t, err.Error(), "not a loopback IP", "the error carries the log's tail")
	assert.Less(t, time.Since(start), readyTimeout, "an exit is noticed before the ready timeout")
}

func TestLaunchAcrossProcessesStartsOneAgent(t *testing.T) {
	b, dir := newTestBackend(t)
	const token = "cross-1"
	var wg sync.WaitGroup
	outs := make([][]byte, 2)
	errs := make([]error, 2)
	for i := range outs {
		wg.Go(func() {
			cmd := exec.Command(os.Args[0])
			cmd.Env = append(os.Environ(), helperEnv+"="+dir+" "+token, "GORACE=atexit_sleep_ms=0")
			cmd.Stderr = os.Stderr
			outs[i], errs[i] = cmd.Output()
		})
	}
	wg.Wait()
	var pids []string
	for i := range outs {
		require.NoError(t, errs[i], "helper %d", i)
		var in backends.Instance
		require.NoError(t, json.Unmarshal(outs[i], &in))
		assert.Equal(t, token, in.ID)
		pids = append(pids, in.Data["pid"])
	}
	assert.Equal(t, pids[0], pids[1], "both processes must get the same agent")
	assert.Len(t, processesUnder(t, dir), 1, "one agent for one token")

	listed, err := b.List(context.Background(), backends.ListFilter{Install: "cafe0001"})
	require.NoError(t, err)
	assert.Len(t, listed, 1)
	_, err = os.Stat(filepath.Join(dir, "agents", token+".log"))
	assert.NoError(t, err)
}

// A server launches agents for weeks; each one that exits must be reaped,
// not left as a zombie of ours.
func TestExitedAgentsAreReaped(t *testing.T) {
	b, _ := newTestBackend(t)
	in, err := b.Launch(context.Background(), testRequest("reap-1"))
	require.NoError(t, err)
	killAgent(t, b, in.Ref())
	require.Eventually(t, func() bool {
		_, err := os.Stat("/proc/" + in.Data["pid"])
		return os.IsNotExist(err)
	}, 5*time.Second, 10*time.Millisecond, "the killed agent stays a zombie")
}

// The agent must outlive the CLI's terminal and process group.
func TestAgentIsDetached(t *testing.T) {
	b, _ := newTestBackend(t)
	ctx := context.Background()
	in, err := b.Launch(ctx, testRequest("detach-1"))
	require.NoError(t, err)
	pid := in.Data["pid"]

	stat, err := os.ReadFile("/proc/" + pid + "/stat")
	require.NoError(t, err)
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	assert.Equal(t, pid, fields[3], "the agent leads its own session") // state ppid pgrp session
	for fd, want := range map[string]string{"0": "/dev/null", "1": in.Data["log"], "2": in.Data["log"]} {
		got, err := os.Readlink("/proc/" + pid + "/fd/" + fd)
		require.NoError(t, err)
		assert.Equal(t, want, got, "fd %s", fd)
	}

	n, err := strconv.Atoi(pid)
	require.NoError(t, err)
	require.NoError(t, syscall.Kill(n, syscall.SIGHUP))
	time.Sleep(200 * time.Millisecond)
	got, err := b.Describe(ctx, in.Ref())
	require.NoError(t, err)
	assert.Equal(t, backends.StateRunning, got[0].State, "SIGHUP must not stop an agent")
}
