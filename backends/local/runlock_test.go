package local

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/backends"
)

// startOrphan starts an agent the way a launcher does, then "dies": it
// neither waits for the state file nor tells anyone. This is the window a
// SIGKILLed CLI leaves behind.
func startOrphan(t *testing.T, b *backend, token string) int {
	t.Helper()
	cfg := agentConfig(b.stateDir)
	req := testRequest(token)
	args := AgentFlags(AgentConfig{StateDir: b.stateDir, Token: token, Install: req.Install, Gateway: req.Gateway, Region: "local"})
	cmd := exec.Command(cfg.Command[0], args...)
	cmd.Env = append(append(os.Environ(), cfg.Env...), "PORTICO_LOCAL_AGENT_DELAY=300ms")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	require.NoError(t, cmd.Start())
	go func() { _ = cmd.Wait() }()
	require.Eventually(t, func() bool { return runLockHeld(filepath.Join(b.stateDir, "agents", token+".run")) },
		5*time.Second, 5*time.Millisecond, "the orphan takes its run lock")
	return cmd.Process.Pid
}

func TestLaunchAdoptsAgentWhoseLauncherDied(t *testing.T) {
	b, _ := newTestBackend(t)
	ctx := context.Background()
	for i := range 5 {
		token := "orphan-" + strconv.Itoa(i)
		pid := startOrphan(t, b, token)
		inst, err := b.Launch(ctx, testRequest(token))
		require.NoError(t, err)
		assert.Equal(t, strconv.Itoa(pid), inst.Data["pid"], "the orphan was adopted, not doubled")
		list, err := b.List(ctx, backends.ListFilter{Install: testRequest(token).Install, Token: token})
		require.NoError(t, err)
		assert.Len(t, list, 1)
	}
}

func TestTerminateStopsAgentStillStarting(t *testing.T) {
	b, _ := newTestBackend(t)
	ctx := context.Background()
	token := "starting-1"
	pid := startOrphan(t, b, token)
	require.NoError(t, b.Terminate(ctx, backends.InstanceRef{ID: token, Region: "local"}))
	// A dying process empties its cmdline before it becomes a zombie, so
	// Terminate may return a moment before the kernel is done with it.
	assert.Eventually(t, func() bool {
		_, err := os.Stat("/proc/" + strconv.Itoa(pid) + "/cmdline")
		return os.IsNotExist(err) || zombie(pid)
	}, 2*time.Second, 10*time.Millisecond, "an agent caught between exec and its state file is stopped too")
	_, err := os.Stat(filepath.Join(b.stateDir, "agents", token+".run"))
	assert.True(t, os.IsNotExist(err))
}

func TestSecondAgentOfATokenLeaves(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "agents"), 0o700))
	held, err := acquireRunLock(filepath.Join(dir, "agents", "tok.run"))
	require.NoError(t, err)
	defer held.Close()
	assert.True(t, runLockHeld(filepath.Join(dir, "agents", "tok.run")))
	err = RunAgent(context.Background(), AgentConfig{StateDir: dir, Token: "tok", Install: "cafe0001", Gateway: "gw", Region: "local"})
	require.NoError(t, err, "the second agent exits quietly")
	_, err = os.Stat(filepath.Join(dir, "agents", "tok.json"))
	assert.True(t, os.IsNotExist(err), "and writes no state")
}

func zombie(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	return err == nil && strings.Contains(string(stat), ") Z ")
}
