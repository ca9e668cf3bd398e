package local

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAgentFlagsRoundTrip(t *testing.T) {
	cfg := AgentConfig{StateDir: "/tmp/x y", Token: "t-1", Install: "0badc0de", Gateway: "edge",
		Domain: "example.com", HealthPath: "/ready", ReplicaNum: 3, Region: "eu-west-1", Listen: "[::1]:0"}
	got, err := ParseAgentFlags(AgentFlags(cfg))
	require.NoError(t, err)
	assert.Equal(t, cfg, got)

	_, err = ParseAgentFlags([]string{"--token=t", "extra"})
	assert.Error(t, err)
	_, err = ParseAgentFlags([]string{"--bogus=1"})
	assert.Error(t, err)
}

func TestRunAgentRefusesNonLoopback(t *testing.T) {
	for _, listen := range []string{"0.0.0.0:0", "[::]:0", "192.0.2.1:0", "localhost:0", ":0", "nonsense"} {
		t.Run(listen, func(t *testing.T) {
			dir := t.TempDir()
			err := RunAgent(context.Background(), AgentConfig{StateDir: dir, Token: "t-1",
				Install: "0badc0de", Gateway: "edge", Listen: listen})
			require.Error(t, err)
			_, err = os.Stat(filepath.Join(dir, "agents"))
			assert.ErrorIs(t, err, os.ErrNotExist, "nothing is written before the address is accepted")
		})
	}
}

// startAgent runs an agent in this process and returns its state.
func startAgent(t *testing.T, cfg AgentConfig) agentState {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	go func() { done <- RunAgent(ctx, cfg) }()
	statePath := filepath.Join(cfg.StateDir, "agents", cfg.Token+".json")
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Error("agent did not stop")
		}
		_, err := os.Stat(statePath)
		assert.ErrorIs(t, err, os.ErrNotExist, "a stopping agent removes its state file")
	})
	require.Eventually(t, func() bool {
		_, err := os.Stat(statePath)
		return err == nil
	}, 5*time.Second, 5*time.Millisecond)
	s, ok, err := readState(statePath)
	require.NoError(t, err)
	require.True(t, ok)
	return s
}

func get(t *testing.T, url string, timeout time.Duration) (*http.Response, []byte, error) {
	t.Helper()
	c := &http.Client{Timeout: timeout}
	resp, err := c.Get(url)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

func TestAgentServesHealthAndFaults(t *testing.T) {
	dir := t.TempDir()
	s := startAgent(t, AgentConfig{StateDir: dir, Token: "agent-1", Install: "0badc0de", Gateway: "edge",
		Domain: "example.com", HealthPath: "/ready", ReplicaNum: 2, Region: "local"})
	assert.Equal(t, os.Getpid(), s.PID)
	assert.Equal(t, "127.0.0.1", s.Host)
	assert.NotZero(t, s.Port)
	assert.Equal(t, 2, s.ReplicaNum)
	fi, err := os.Stat(filepath.Join(dir, "agents", "agent-1.json"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	base := "http://" + s.hostname()
	for _, path := range []string{"/healthz", "/ready"} {
		resp, body, err := get(t, base+path, 2*time.Second)
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, resp.StatusCode, path)
		var h healthBody
		require.NoError(t, json.Unmarshal(body, &h))
		assert.Equal(t, healthBody{Status: "ok", Gateway: "edge", Replica: 2, Domain: "example.com", Token: "agent-1"}, h)
	}
	resp, body, err := get(t, base+"/", 2*time.Second)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(body), "gateway edge replica 2")
	resp, _, err = get(t, base+"/nope", 2*time.Second)
	require.NoError(t, err)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)

	fault := filepath.Join(dir, "agents", "agent-1.fault")
	require.NoError(t, os.WriteFile(fault, []byte("503\n"), 0o600))
	resp, body, err = get(t, base+"/healthz", 2*time.Second)
	require.NoError(t, err)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Contains(t, string(body), `"token":"agent-1"`, "a failing agent still says who it is")

	require.NoError(t, os.WriteFile(fault, []byte("hang"), 0o600))
	start := time.Now()
	_, _, err = get(t, base+"/healthz", 300*time.Millisecond)
	require.Error(t, err, "a hanging probe times out")
	assert.Less(t, time.Since(start), 5*time.Second)

	require.NoError(t, os.Remove(fault))
	resp, _, err = get(t, base+"/healthz", 2*time.Second)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}

func TestAgentStopsPromptlyWhileAProbeHangs(t *testing.T) {
	// A long grace, so that waiting it out (instead of ending the hanging
	// probe) cannot pass for prompt on a loaded machine.
	defer func(g time.Duration) { shutdownGrace = g }(shutdownGrace)
	shutdownGrace = time.Minute
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- RunAgent(ctx, AgentConfig{StateDir: dir, Token: "hang-1", Install: "0badc0de", Gateway: "edge",
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	}()
	statePath := filepath.Join(dir, "agents", "hang-1.json")
	require.Eventually(t, func() bool { _, err := os.Stat(statePath); return err == nil }, 5*time.Second, 5*time.Millisecond)
	s, _, err := readState(statePath)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "agents", "hang-1.fault"), []byte("hang"), 0o600))
	go func() {
		c := &http.Client{Timeout: 20 * time.Second}
		if resp, err := c.Get("http://" + s.hostname() + "/healthz"); err == nil {
			_ = resp.Body.Close()
		}
	}()
	time.Sleep(100 * time.Millisecond) // let the probe reach the handler

	start := time.Now()
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("agent did not stop")
	}
	assert.Less(t, time.Since(start), 15*time.Second, "a hanging handler must not hold up shutdown")
}

// Where /proc is unreadable, identity falls back to asking the port.
func TestAnswersAsIdentifiesTheAgent(t *testing.T) {
	dir := t.TempDir()
	s := startAgent(t, AgentConfig{StateDir: dir, Token: "ident-1", Install: "0badc0de", Gateway: "edge"})
	ctx := context.Background()
	assert.True(t, answersAs(ctx, s))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "agents", "ident-1.fault"), []byte("503"), 0o600))
	assert.True(t, answersAs(ctx, s), "a failing agent is still ours")

	other := s
	other.Token = "ident-2"
	assert.False(t, answersAs(ctx, other), "another token's agent is not ours")
	closed := s
	closed.Port = 1
	assert.False(t, answersAs(ctx, closed))
}
