package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/portico-dev/portico/backends"
)

// readyTimeout bounds how long a new agent may take to write its state file.
const readyTimeout = 10 * time.Second

// Launch returns the live agent of req.Token or starts one. Resume changes
// nothing here: the state file is always consulted before starting. Fields
// with no local meaning are ignored: InstanceType, PublicIP, ZoneIndex (one
// zone), Tags, and HealthPort (the agent picks a free port, and Hostname
// carries it, so probes must use Hostname's port).
func (b *backend) Launch(ctx context.Context, req backends.LaunchRequest) (backends.Instance, error) {
	if err := validateRequest(req); err != nil {
		return backends.Instance{}, fmt.Errorf("launch agent %s: %w", req.Token, err)
	}
	if req.Region == "" {
		req.Region = DefaultRegion
	}
	lk, err := b.locks.lock(ctx, req.Token, b.path(req.Token, ".lock"))
	if err != nil {
		return backends.Instance{}, fmt.Errorf("launch agent %s: %w", req.Token, err)
	}
	defer lk.release(false)

	statePath := b.path(req.Token, ".json")
	s, ok, err := readState(statePath)
	if err != nil {
		return backends.Instance{}, fmt.Errorf("launch agent %s: %w", req.Token, err)
	}
	if ok && s.Token == req.Token && liveAndOurs(ctx, s) {
		return s.instance(b, backends.StateRunning), nil
	}
	if runLockHeld(b.path(req.Token, ".run")) {
		// An agent of this token is starting (its launcher may have died
		// before it wrote its state): adopt it rather than start a twin.
		s, err := b.awaitState(ctx, req.Token, 0, nil)
		if err != nil {
			return backends.Instance{}, fmt.Errorf("launch agent %s: adopt starting agent: %w", req.Token, err)
		}
		return s.instance(b, backends.StateRunning), nil
	}
	// A dead agent's file (or a corrupt or foreign one) must go before a new
	// agent starts, or the wait below could mistake it for the new one.
	if err := os.Remove(statePath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return backends.Instance{}, fmt.Errorf("launch agent %s: remove stale state: %w", req.Token, err)
	}
	s, err = b.start(ctx, req)
	if err != nil {
		return backends.Instance{}, fmt.Errorf("launch agent %s: %w", req.Token, err)
	}
	return s.instance(b, backends.StateRunning), nil
}

// start runs a new agent and waits for its state file.
//
// The agent gets its own session (Setsid), so neither the terminal's SIGHUP
// nor a Ctrl-C sent to the CLI's process group reaches it, and stdin from
// /dev/null with output appended to its log, so it holds nothing of the CLI.
//
// It is not Release()d. Release only drops Go's handle: the kernel still
// keeps the exited child as a zombie until its parent waits, and the parent
// stays us for as long as we live. A CLI exits soon and init adopts and reaps
// its agents, but `portico server` lives for weeks and would pile up one
// zombie per agent that ever stopped. So a goroutine Waits for each child
// instead: it reaps the agent the moment it exits, costs a few KB while the
// agent runs, and ends with it. If we exit first, init adopts the agent as
// it would after Release.
func (b *backend) start(ctx context.Context, req backends.LaunchRequest) (agentState, error) {
	logPath := b.path(req.Token, ".log")
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return agentState{}, fmt.Errorf("open log: %w", err)
	}
	args := append(append([]string(nil), b.command[1:]...), AgentFlags(AgentConfig{
		StateDir:   b.stateDir,
		Token:      req.Token,
		Install:    req.Install,
		Gateway:    req.Gateway,
		Domain:     req.Domain,
		HealthPath: req.HealthPath,
		ReplicaNum: req.ReplicaNum,
		Region:     req.Region,
	})...)
	// Not CommandContext: the agent must outlive the ctx of this call.
	cmd := exec.Command(b.command[0], args...)
	cmd.Env = append(os.Environ(), b.env...)
	cmd.Stdin = nil // /dev/null
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	_ = logFile.Close() // the agent has its own descriptor now
	if err != nil {
		return agentState{}, &backends.Error{Kind: backends.Permanent, Code: "AgentStartFailed",
			Message: fmt.Sprintf("start %s: %v", b.command[0], err), Err: err}
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	s, err := b.awaitState(ctx, req.Token, cmd.Process.Pid, exited)
	if err != nil {
		if !errors.Is(err, errExited) && ctx.Err() == nil {
			// Timed out: it may be wedged; do not leave it half-started.
			_ = cmd.Process.Kill()
		}
		return agentState{}, err
	}
	return s, nil
}

var errExited = errors.New("agent exited before it was ready")

// awaitState polls for the state file naming pid (any live agent of ours
// when pid is 0). If our child exits because another agent of the token
// won the run lock, that agent is the one to wait for. A ctx that ends
// leaves the agent running: the next Launch with the token adopts it.
func (b *backend) awaitState(ctx context.Context, token string, pid int, exited <-chan error) (agentState, error) {
	deadline := time.Now().Add(readyTimeout)
	path := b.path(token, ".json")
	for {
		if s, ok, err := readState(path); err == nil && ok && (s.PID == pid || (pid == 0 && liveAndOurs(ctx, s))) {
			return s, nil
		}
		select {
		case werr := <-exited:
			if runLockHeld(b.path(token, ".run")) {
				pid, exited = 0, nil
				continue
			}
			return agentState{}, &backends.Error{Kind: backends.Permanent, Code: "AgentExited",
				Message: fmt.Sprintf("%v (%v); log tail: %s", errExited, werr, logTail(b.path(token, ".log"))),
				Err:     errExited}
		default:
		}
		if time.Now().After(deadline) {
			return agentState{}, &backends.Error{Kind: backends.Transient, Code: "AgentNotReady",
				Message: fmt.Sprintf("agent pid %d wrote no state within %s", pid, readyTimeout)}
		}
		if err := ctxSleep(ctx, 10*time.Millisecond); err != nil {
			return agentState{}, err
		}
	}
}

// logTail returns the last lines of a log, for an error a person can act on.
func logTail(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "(no log)"
	}
	lines := bytes.Split(bytes.TrimSpace(data), []byte("\n"))
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return string(bytes.Join(lines, []byte(" | ")))
}
