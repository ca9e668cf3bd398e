package local

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/portico-dev/portico/backends"
)

// agentState is agents/<token>.json. The agent writes it once it listens,
// so a state file always names a real pid and port, never a guess.
type agentState struct {
	PID        int       `json:"pid"`
	Host       string    `json:"host"`
	Port       int       `json:"port"`
	Token      string    `json:"token"`
	Install    string    `json:"install"`
	Gateway    string    `json:"gateway"`
	ReplicaNum int       `json:"replica_num"`
	Region     string    `json:"region"`
	Domain     string    `json:"domain,omitempty"`
	HealthPath string    `json:"health_path,omitempty"`
	StartedAt  time.Time `json:"started_at"`
}

func (s agentState) hostname() string {
	host := s.Host
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, strconv.Itoa(s.Port))
}

// instance describes the agent of this state in the given state.
func (s agentState) instance(b *backend, state backends.InstanceState) backends.Instance {
	in := backends.Instance{
		ID:         s.Token,
		Region:     s.Region,
		Zone:       zoneOf(s.Region),
		State:      state,
		Token:      s.Token,
		Install:    s.Install,
		Gateway:    s.Gateway,
		ReplicaNum: s.ReplicaNum,
		LaunchedAt: s.StartedAt,
		Data: map[string]string{
			"pid": strconv.Itoa(s.PID),
			"log": b.path(s.Token, ".log"),
		},
	}
	if state == backends.StateRunning {
		in.Hostname = s.hostname()
	}
	return in
}

// readState reads a token's state file; ok is false when there is none or
// it is not an agent's JSON (agents write it atomically, so such a file was
// put there by something else and names no agent of ours).
func readState(path string) (s agentState, ok bool, err error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return s, false, nil
	}
	if err != nil {
		return s, false, err
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return agentState{}, false, nil
	}
	return s, true, nil
}

// writeState replaces path atomically (temp file, then rename) so readers
// never see half a file. The temp name starts with a dot, which List skips.
func writeState(path string, s agentState) error {
	data, err := json.Marshal(s)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp") // mode 0600
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		_ = os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		_ = os.Remove(f.Name())
		return err
	}
	return nil
}

// liveAndOurs reports whether the state's pid is a running agent for the
// state's token. Pids are reused, so a live pid alone proves nothing: the
// process's command line must carry --token=<token>. A zombie's command line
// is empty, so an agent that exited but was not yet reaped counts as gone.
// Only where /proc cannot be read do we ask the agent itself over HTTP.
func liveAndOurs(ctx context.Context, s agentState) bool {
	if s.PID <= 1 { // kill(0) and kill(-1) address groups, never a single agent
		return false
	}
	if err := syscall.Kill(s.PID, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(s.PID) + "/cmdline")
	if errors.Is(err, os.ErrNotExist) {
		return false
	}
	if err == nil {
		want := []byte(tokenFlag + "=" + s.Token)
		for _, arg := range bytes.Split(cmdline, []byte{0}) {
			if bytes.Equal(arg, want) {
				return true
			}
		}
		return false
	}
	return answersAs(ctx, s)
}

// answersAs asks the state's port whether the agent there serves the
// state's token. The body names the token even when a fault makes the
// status 503, so only a hang or a stranger fails the check.
func answersAs(ctx context.Context, s agentState) bool {
	ctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.hostname()+"/healthz", nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var body healthBody
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return false
	}
	return body.Token == s.Token
}
