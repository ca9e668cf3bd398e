package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/portico-dev/portico/backends"
)

// stopGrace is how long an agent gets to shut down after SIGTERM.
const stopGrace = 5 * time.Second

// Describe reads each ref's state file directly (the id is the file name),
// so a call costs one small read per ref and no directory listing.
func (b *backend) Describe(ctx context.Context, refs ...backends.InstanceRef) ([]backends.Instance, error) {
	out := make([]backends.Instance, 0, len(refs))
	for _, ref := range refs {
		gone := backends.Instance{ID: ref.ID, Region: ref.Region, Zone: ref.Zone, State: backends.StateTerminated}
		if !tokenRE.MatchString(ref.ID) { // not an id we could have issued
			out = append(out, gone)
			continue
		}
		s, ok, err := readState(b.path(ref.ID, ".json"))
		if err != nil {
			return nil, fmt.Errorf("describe agent %s: %w", ref.ID, err)
		}
		if !ok || s.Token != ref.ID {
			out = append(out, gone)
			continue
		}
		state := backends.StateTerminated
		if liveAndOurs(ctx, s) {
			state = backends.StateRunning
		}
		out = append(out, s.instance(b, state))
	}
	return out, nil
}

// Terminate stops the agent gracefully, then forcefully, and removes the
// token's files except its log, which stays for post-mortems. It holds the
// token's lock so it cannot interleave with a Launch of the same token.
func (b *backend) Terminate(ctx context.Context, ref backends.InstanceRef) error {
	if !tokenRE.MatchString(ref.ID) {
		return nil // no file can name it, so nothing of ours runs under it
	}
	lk, err := b.locks.lock(ctx, ref.ID, b.path(ref.ID, ".lock"))
	if err != nil {
		return fmt.Errorf("terminate agent %s: %w", ref.ID, err)
	}
	removeLock := false
	defer func() { lk.release(removeLock) }()

	s, ok, err := readState(b.path(ref.ID, ".json"))
	if err != nil {
		return fmt.Errorf("terminate agent %s: %w", ref.ID, err)
	}
	if !ok && runLockHeld(b.path(ref.ID, ".run")) {
		// Still starting: wait for it to say who it is, then stop it.
		if s, err = b.awaitState(ctx, ref.ID, 0, nil); err != nil {
			return fmt.Errorf("terminate agent %s: wait for starting agent: %w", ref.ID, err)
		}
		ok = true
	}
	if ok && s.Token == ref.ID {
		if err := stop(ctx, s); err != nil {
			return fmt.Errorf("terminate agent %s: %w", ref.ID, err)
		}
	}
	for _, suffix := range []string{".json", ".fault", ".run"} {
		if err := os.Remove(b.path(ref.ID, suffix)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("terminate agent %s: %w", ref.ID, err)
		}
	}
	removeLock = true
	return nil
}

// stop sends SIGTERM, waits up to stopGrace, then SIGKILL. os.FindProcess
// holds a pidfd on Linux and the identity check comes after it, so the
// signals reach the process that was checked, never a stranger that
// inherited its pid.
func stop(ctx context.Context, s agentState) error {
	p, err := os.FindProcess(s.PID)
	if err != nil {
		return nil
	}
	defer func() { _ = p.Release() }()
	if !liveAndOurs(ctx, s) {
		return nil
	}
	for _, step := range []struct {
		sig  syscall.Signal
		wait time.Duration
	}{{syscall.SIGTERM, stopGrace}, {syscall.SIGKILL, stopGrace}} {
		if err := p.Signal(step.sig); err != nil {
			if errors.Is(err, os.ErrProcessDone) || errors.Is(err, syscall.ESRCH) {
				return nil
			}
			return fmt.Errorf("signal pid %d: %w", s.PID, err)
		}
		deadline := time.Now().Add(step.wait)
		for liveAndOurs(ctx, s) {
			if time.Now().After(deadline) {
				break
			}
			if err := ctxSleep(ctx, 10*time.Millisecond); err != nil {
				return err
			}
		}
		if !liveAndOurs(ctx, s) {
			return nil
		}
	}
	return fmt.Errorf("pid %d survived SIGKILL for %s", s.PID, stopGrace)
}

// List reads every state file, so it finds agents whose records were lost.
func (b *backend) List(ctx context.Context, filter backends.ListFilter) ([]backends.Instance, error) {
	if filter.Install == "" {
		return nil, &backends.Error{Kind: backends.Permanent, Code: "InvalidParameter",
			Message: "list agents: install is required"}
	}
	entries, err := os.ReadDir(b.agentsDir)
	if err != nil {
		return nil, fmt.Errorf("list agents: %w", err)
	}
	var out []backends.Instance
	for _, e := range entries {
		token, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || !tokenRE.MatchString(token) {
			continue // temp files, logs, locks
		}
		if filter.Token != "" && token != filter.Token {
			continue
		}
		s, ok, err := readState(b.path(token, ".json"))
		if err != nil {
			return nil, fmt.Errorf("list agents: %w", err)
		}
		if !ok || s.Token != token || s.Install != filter.Install ||
			(filter.Gateway != "" && s.Gateway != filter.Gateway) ||
			(filter.Regions != nil && !slices.Contains(filter.Regions, s.Region)) {
			continue
		}
		if liveAndOurs(ctx, s) {
			out = append(out, s.instance(b, backends.StateRunning))
		}
	}
	return out, nil
}
