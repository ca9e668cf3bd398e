package faults_test

import (
	"fmt"
	"net/http"
	"regexp"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/backends/awstest"
	"github.com/portico-dev/portico/gateways"
	"github.com/portico-dev/portico/models"
)

var readyzRE = regexp.MustCompile(`http://(127\.0\.0\.1:\d+) \(/healthz`)

// startServer starts `portico server` and waits until its /readyz says it
// is registered and working.
func (c *cli) startServer() *proc {
	c.w.t.Helper()
	p := c.start("server", "--listen", "127.0.0.1:0", "--heartbeat", "200ms", "--sweep-interval", "0")
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: nil}}
	require.Eventually(c.w.t, func() bool {
		m := readyzRE.FindStringSubmatch(p.err.String())
		if m == nil {
			return p.exited()
		}
		resp, err := hc.Get("http://" + m[1] + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, converge, 10*time.Millisecond)
	require.False(c.w.t, p.exited(), "the server runs\nstderr:\n%s", p.err)
	return p
}

// stop ends a server with SIGTERM, as a supervisor would, and waits.
func (p *proc) stop() result {
	p.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	return p.wait()
}

// TestSQLiteSecondServerRefused: a second server on the same SQLite file
// fails at once with the clear message; the first keeps running, and once
// it stops a new one may start.
func TestSQLiteSecondServerRefused(t *testing.T) {
	t.Parallel()
	w := newSQLiteWorld(t, awstest.Options{})
	c := w.cli("")
	first := c.startServer()

	r := c.run("server", "--listen", "127.0.0.1:0", "--sweep-interval", "0")
	assert.NotEqual(t, 0, r.code)
	assert.Contains(t, r.stderr, "another portico server is already running on this SQLite database")
	assert.Contains(t, r.stderr, "use PostgreSQL", "the message says what to do instead")
	assert.False(t, first.exited(), "the first server is unaffected")

	assert.Equal(t, 0, first.stop().code, "the first server stops cleanly")
	again := c.startServer()
	assert.Equal(t, 0, again.stop().code)
	checkInvariants(w)
}

// TestSQLiteApplyNextToServer: `portico apply` runs (three at once) while a
// server process works on the same SQLite file; nobody ever sees
// "database is locked", and every gateway converges.
func TestSQLiteApplyNextToServer(t *testing.T) {
	t.Parallel()
	w := newSQLiteWorld(t, awstest.Options{ServeHealth: true})
	c := w.cli("")
	server := c.startServer()
	var procs []*proc
	for i := range 3 {
		yaml := specYAML(fmt.Sprintf("gw-%d", i), 2) + fmt.Sprintf("health:\n  port: %d\n", w.fake.HealthPort())
		procs = append(procs, c.start("apply", "-f", c.file(fmt.Sprintf("gw-%d.yml", i), yaml), "-y"))
	}
	var lists sync.WaitGroup
	stopListing := make(chan struct{})
	lists.Go(func() {
		for {
			select {
			case <-stopListing:
				return
			default:
			}
			r := c.run("gateway", "list")
			assert.Equal(t, 0, r.code, r.stderr)
			assert.NotContains(t, r.stderr, "database is locked")
		}
	})
	for i, p := range procs {
		r := p.wait()
		assert.Equal(t, 0, r.code, "apply %d\nstdout:\n%s\nstderr:\n%s", i, r.stdout, r.stderr)
		assert.NotContains(t, r.stderr, "database is locked")
		assert.Contains(t, r.stderr, "server(s) are working on this database", "apply %d followed the server", i)
	}
	close(stopListing)
	lists.Wait()
	for i := range 3 {
		w.waitFor(fmt.Sprintf("gw-%d", i), allRunning(2), "the server provisioned the gateway")
	}
	r := server.stop()
	assert.Equal(t, 0, r.code, r.stderr)
	assert.NotContains(t, r.stderr, "database is locked")
	checkInvariants(w)
}

// TestSQLiteScaleInRemovesPendingFirst: 3 → 1 while replica rows are
// pending (launch in flight), provisioning (instance starting) and running:
// the pending and provisioning rows go, the running one stays untouched.
func TestSQLiteScaleInRemovesPendingFirst(t *testing.T) {
	t.Parallel()
	w := newSQLiteWorld(t, awstest.Options{RunningAfter: time.Hour})
	hold := w.newGate()
	var runs atomic.Int32
	w.fake.Hook("RunInstances", awstest.BeforeAction, func() {
		if runs.Add(1) == 3 {
			hold.wait()
		}
	})
	w.apply(spec("edge", 3))
	w.start(w.engine("a"))
	byStatus := func(g *models.Gateway) map[models.ReplicaStatus][]models.Replica {
		out := map[models.ReplicaStatus][]models.Replica{}
		for _, r := range g.Replicas {
			out[r.Status] = append(out[r.Status], r)
		}
		return out
	}
	w.waitFor("edge", func(g *models.Gateway) bool {
		return len(byStatus(g)[models.ReplicaProvisioning]) == 2 && runs.Load() == 3
	}, "two instances start, the third launch is in flight")
	starting := byStatus(w.gateway("edge"))[models.ReplicaProvisioning]
	require.NoError(t, w.fake.SetState(region, starting[0].InstanceID, "running"))
	w.waitFor("edge", func(g *models.Gateway) bool {
		s := byStatus(g)
		return len(s[models.ReplicaRunning]) == 1 && len(s[models.ReplicaProvisioning]) == 1 && len(s[models.ReplicaPending]) == 1
	}, "one running, one provisioning, one pending")
	s := byStatus(w.gateway("edge"))
	keep, provisioning, pending := s[models.ReplicaRunning][0], s[models.ReplicaProvisioning][0], s[models.ReplicaPending][0]

	plan, _, err := w.svc.Plan(bg, spec("edge", 1), false)
	require.NoError(t, err)
	require.Equal(t, gateways.ActionUpdate, plan.Action)
	var stopped []int
	for _, st := range plan.Stop {
		stopped = append(stopped, st.Num)
	}
	assert.ElementsMatch(t, []int{pending.Num, provisioning.Num}, stopped, "pending and provisioning go first")
	w.apply(spec("edge", 1))
	hold.open()

	w.waitFor("edge", allRunning(1), "one replica is left")
	g := w.gateway("edge")
	survivor := current(g)
	require.Len(t, survivor, 1)
	assert.Equal(t, keep.ID, survivor[keep.Num].ID, "the running replica stays")
	assert.Equal(t, keep.InstanceID, survivor[keep.Num].InstanceID, "untouched: same instance")
	assert.Equal(t, keep.RunningAt, survivor[keep.Num].RunningAt)
	for _, r := range g.Replicas {
		if r.ID != keep.ID {
			assert.Equal(t, models.ReplicaTerminated, r.Status, "replica %d", r.Num)
		}
	}
	assert.Equal(t, []string{keep.InstanceID}, instanceIDs(w.live(ofGateway("edge"))))
	checkInvariants(w)
}

func instanceIDs(insts []awstest.Instance) []string {
	var out []string
	for _, in := range insts {
		out = append(out, in.ID)
	}
	return out
}
