package cli_test

import (
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// replicas: 2 → 5 → 1 on a live local gateway keeps the surviving
// replicas' processes, and ends with exactly one.
func TestE2EScaleInPlaceKeepsSurvivors(t *testing.T) {
	e := newE2E(t)
	body := "type: gateway\nname: scaly\nbackend: local\nreplicas: %s\n"
	apply := func(n string) {
		e.mustRun("apply", "-f", e.spec(strings.Replace(body, "%s", n, 1)), "-y")
	}
	apply("2")
	two := e.agents()
	require.Len(t, two, 2)

	apply("5")
	five := e.agents()
	require.Len(t, five, 5)
	for _, pid := range two {
		assert.Contains(t, five, pid, "scale-out does not touch the replicas that stay")
	}

	r := e.mustRun("apply", "-f", e.spec(strings.Replace(body, "%s", "1", 1)), "-y")
	assert.Contains(t, r.stdout, "~ replicas: 5 → 1 (in place)")
	assert.Equal(t, 4, strings.Count(r.stdout, "(scale in)"))
	one := e.agents()
	require.Len(t, one, 1, "exactly one agent after scaling in")
	assert.True(t, slices.Contains(five, one[0]), "the survivor is one of the running agents, not a new one")
	assert.Len(t, running(e.list()[0]), 1)
}

// startServer runs `portico server` for the e2e home until the test ends.
func (e *e2e) startServer(args ...string) *exec.Cmd {
	e.t.Helper()
	cmd := e.command("", append([]string{"server", "--listen", "127.0.0.1:0"}, args...)...)
	require.NoError(e.t, cmd.Start())
	e.t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
	require.Eventually(e.t, func() bool {
		r := e.run("server", "members", "--json")
		var members []struct{ Live bool }
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &members) != nil {
			return false
		}
		return len(members) == 1 && members[0].Live
	}, 10*time.Second, 50*time.Millisecond, "the server registers")
	return cmd
}

// Killing one local agent with SIGKILL: a server notices within its health
// period and replaces the replica with a new attempt and token; the list
// shows it running again and the events tell the story.
func TestE2EKilledAgentIsReplaced(t *testing.T) {
	e := newE2E(t)
	e.startServer("--heartbeat", "500ms")
	spec := e.spec(`type: gateway
name: healer
backend: local
replicas: 2
health:
  period: 500ms
  timeout: 200ms
  failure_threshold: 3
  replace_after: 1s
`)
	e.mustRun("apply", "-f", spec, "-y")
	before := e.list()[0]
	require.Len(t, running(before), 2)
	victim := running(before)[0]

	var pid int
	for _, p := range e.agents() {
		if strings.Contains(cmdline(p), "--replica="+itoa(victim.ReplicaNum)+"\x00") {
			pid = p
		}
	}
	require.NotZero(t, pid, "found the victim's agent")
	killed := time.Now()
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))

	// Bound: probe period × threshold + launch time, with slack for a busy
	// machine; the instance check notices a dead agent on the first period.
	require.Eventually(t, func() bool {
		for _, r := range running(e.list()[0]) {
			if r.ReplicaNum == victim.ReplicaNum && r.Attempt == 2 {
				return true
			}
		}
		return false
	}, 1500*time.Millisecond+10*time.Second, 50*time.Millisecond, "replica %d replaced", victim.ReplicaNum)
	t.Logf("replaced %s after the kill", time.Since(killed).Round(10*time.Millisecond))

	after := e.list()[0]
	assert.Len(t, running(after), 2)
	for _, r := range after.Replicas {
		if r.ReplicaNum == victim.ReplicaNum && r.Attempt == 1 {
			assert.Equal(t, "failed", r.Status)
			assert.Contains(t, r.Message, "terminated outside Portico")
		}
	}
	assert.Len(t, e.agents(), 2)
	ev := e.mustRun("gateway", "events", "healer")
	assert.Contains(t, ev.stdout, "running → failed: instance")
	assert.Regexp(t, `replica \d attempt 2 pending`, ev.stdout)
	assert.Regexp(t, `replica \d attempt 2: pending → running`, ev.stdout)
}
