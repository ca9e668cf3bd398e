package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// agentState is the part of a local agent's agents/<token>.json the
// benchmark reads (the local backend writes it once the agent listens).
type agentState struct {
	PID        int       `json:"pid"`
	Host       string    `json:"host"`
	Port       int       `json:"port"`
	Token      string    `json:"token"`
	Gateway    string    `json:"gateway"`
	ReplicaNum int       `json:"replica_num"`
	StartedAt  time.Time `json:"started_at"`
}

func (a agentState) addr() string {
	host := a.Host
	if host == "" {
		host = "127.0.0.1"
	}
	return fmt.Sprintf("%s:%d", host, a.Port)
}

// agents lists the state files under home/agents.
func agents(home string) []agentState {
	paths, _ := filepath.Glob(filepath.Join(home, "agents", "*.json"))
	var out []agentState
	for _, p := range paths {
		if strings.HasPrefix(filepath.Base(p), ".") {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		var a agentState
		if json.Unmarshal(b, &a) == nil && a.Token != "" {
			out = append(out, a)
		}
	}
	return out
}

// isOurs reports whether pid runs the benchmark's own portico binary, so
// that only processes this run started are ever signalled.
func isOurs(pid int, bin string) bool {
	if pid <= 1 {
		return false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	first, _, _ := bytes.Cut(cmdline, []byte{0})
	return string(first) == bin
}

// killAgents SIGKILLs every agent recorded under home that still runs our
// binary (agents run in their own session, outside any process group the
// harness started).
func killAgents(home, bin string) {
	for _, a := range agents(home) {
		if isOurs(a.PID, bin) {
			_ = syscall.Kill(a.PID, syscall.SIGKILL)
		}
	}
}

// healthy reports whether addr answers GET /healthz with a 2xx.
func healthy(ctx context.Context, addr string) bool {
	ctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/healthz", nil)
	if err != nil {
		return false
	}
	resp, err := loopbackClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode/100 == 2
}

// loopbackClient never uses a proxy and keeps no connections.
var loopbackClient = &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
