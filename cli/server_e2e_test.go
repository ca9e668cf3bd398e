package cli_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/backends/awstest"
	"github.com/portico-dev/portico/gateways/store/storetest"
	"github.com/portico-dev/portico/pipelines"
)

// 50 gateways x 3 replicas (written in-process, as fast as the database
// takes them) provisioned by one server and by three: each replica launched
// once, each server owning a share. Times logged, never asserted.
func TestServerFiftyGatewaysOneAndThreeServers(t *testing.T) {
	for _, n := range []int{1, 3} {
		t.Run(fmt.Sprintf("%d-servers", n), func(t *testing.T) {
			c := newHA(t, "", awstest.Options{APILatency: 10 * time.Millisecond, LaunchLatency: 200 * time.Millisecond, RunningAfter: time.Second})
			for i := range n {
				c.start(fmt.Sprintf("s%d", i+1))
			}
			start := time.Now()
			c.applyDirect(haNames(50), 3)
			written := time.Since(start)
			c.waitRunning(50, 150, 3*time.Minute)
			t.Logf("%d server(s): 50 gateways x 3 replicas written in %v, all running %v after the first write",
				n, written.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
			c.assertLaunchedOnce(150)
			ms, sum := c.members(), 0
			assert.Len(t, ms, n)
			for _, m := range ms {
				assert.True(t, m.Live && m.Gateways > 0, "%s: live %v, %d gateways", m.ID, m.Live, m.Gateways)
				sum += m.Gateways
			}
			assert.Equal(t, 50, sum, "every gateway has one owner")
			for _, g := range c.list() {
				assert.Len(t, running(g), 3, "%s is %s", g.Name, g.Status)
			}
		})
	}
}

// Scenario 19 and the issue's "kill one server mid-run and the rest
// finish", with 50 gateways applied by 50 CLI runs (--detach, 8 at a time).
func TestServerKill9OneOfThree(t *testing.T) {
	c := newHA(t, "", awstest.Options{LaunchLatency: 300 * time.Millisecond, RunningAfter: time.Second})
	ids, survivors := []string{"s1", "s2", "s3"}, []string{"s1", "s3"}
	victim := c.start("s2", "--workers", "4")
	c.start("s1", "--workers", "4")
	c.start("s3", "--workers", "4")
	names := haNames(50)
	c.applyCLI(names, 3)
	leased := `SELECT COUNT(*) FROM replicas WHERE lock_owner = 's2'`
	waitFor(t, time.Minute, "some gateways running and s2 holding leases", func() bool {
		return c.count(runningGateways) >= 5 && c.count(leased) > 0
	})
	key, err := c.st.ShardKey(context.Background())
	require.NoError(t, err)
	owners := func(members []string) map[string]string {
		out := map[string]string{}
		for _, n := range names {
			out[n] = pipelines.Owner(key, members, n)
		}
		return out
	}
	before := owners(ids)
	require.Less(t, c.count(runningGateways), 50, "the kill must land mid-run")

	victim.kill9()
	killed, held := time.Now(), c.count(leased) // nobody can claim them before they expire
	require.Positive(t, held, "s2 held no lease when it died")
	var dead, claimed time.Duration
	var ms map[string]haMember
	waitFor(t, time.Minute, "takeover", func() bool {
		if claimed == 0 && c.count(leased) == 0 {
			claimed = time.Since(killed)
		}
		if ms = c.members(); dead == 0 && !ms["s2"].Live && ms["s1"].Gateways+ms["s3"].Gateways == 50 {
			dead = time.Since(killed)
		}
		return dead > 0 && claimed > 0
	})
	t.Logf("takeover after SIGKILL: `server members` showed s2 dead and s1+s3 owning all 50 gateways after %v; "+
		"the %d replica rows s2 had leased were all claimed by survivors after %v (bound: 3 heartbeats + 1 lease = %v)",
		dead.Round(time.Millisecond), held, claimed.Round(time.Millisecond), 3*haHeartbeat+haLeaseTTL)
	assert.LessOrEqual(t, claimed, 3*haHeartbeat+haLeaseTTL+3*time.Second, "claimed within 3 heartbeats + 1 lease (+ slack)")
	assert.False(t, ms["s2"].Live)
	assert.Zero(t, ms["s2"].Gateways)

	// Rendezvous hashing: only s2's gateways change owner.
	after, owned := owners(survivors), map[string]int{}
	for _, n := range names {
		owned[after[n]]++
		if before[n] == "s2" {
			assert.Contains(t, survivors, after[n])
		} else {
			assert.Equal(t, before[n], after[n], "gateway %s moved although its owner survived", n)
		}
	}
	assert.Equal(t, map[string]int{"s1": ms["s1"].Gateways, "s3": ms["s3"].Gateways}, owned, "server members agrees with rendezvous hashing")
	c.waitRunning(50, 150, 2*time.Minute)
	c.assertLaunchedOnce(150)
}

// SIGTERM: exit 0, deregistered, leases released; nothing launched twice.
func TestServerSIGTERMReleasesLeases(t *testing.T) {
	c := newHA(t, "", awstest.Options{LaunchLatency: 500 * time.Millisecond, RunningAfter: time.Second})
	s1, _ := c.start("s1", "--workers", "4"), c.start("s2", "--workers", "4")
	c.applyDirect(haNames(8), 3)
	waitFor(t, time.Minute, "s1 holding leases", func() bool { return c.count(`SELECT COUNT(*) FROM replicas WHERE lock_owner = 's1'`) > 0 })
	require.NoError(t, s1.cmd.Process.Signal(syscall.SIGTERM))
	waitFor(t, 30*time.Second, "s1 stopped", s1.exited.Load)
	assert.Equal(t, 0, s1.code)
	log, _ := os.ReadFile(s1.log)
	assert.Contains(t, string(log), "leases released, membership withdrawn")
	assert.False(t, c.member("s1"), "the member row is removed")
	assert.Zero(t, c.count(`SELECT (SELECT COUNT(*) FROM replicas WHERE lock_owner = 's1') + (SELECT COUNT(*) FROM gateways WHERE lock_owner = 's1')`))
	c.waitRunning(8, 24, time.Minute)
	c.assertLaunchedOnce(24)
}

// Scenario 16: PostgreSQL restarts while applies are in flight. Each apply
// succeeds or fails retryably and a re-run converges; the servers live on and
// reconnect (pool and LISTEN); every gateway has all or none of its replicas.
func TestServerPostgresRestartMidApply(t *testing.T) {
	dsn, restart := privatePostgres(t)
	c := newHA(t, dsn, awstest.Options{LaunchLatency: 100 * time.Millisecond, RunningAfter: time.Second})
	servers := []*haServer{c.start("s1"), c.start("s2")}
	names, applied := haNames(8), make(chan []result)
	go func() { applied <- c.applyAll(names, 3, "--timeout", "1m") }()
	time.Sleep(300 * time.Millisecond) // the applies are connecting, writing or following progress
	restart()
	results := <-applied
	partial := `SELECT COUNT(*) FROM gateways g WHERE (SELECT COUNT(*) FROM replicas r WHERE r.gateway_id = g.id) <> 3`
	assert.Zero(t, c.count(partial), "a gateway with some but not all of its replica rows")
	failed := 0
	for i, name := range names {
		if results[i].code != 0 {
			failed++
			assert.Equal(t, 1, results[i].code, "a failed apply is a retryable failure, not a usage error:\n%s", results[i].stderr)
			t.Logf("apply %s failed across the restart: %s", name, strings.TrimSpace(results[i].stderr))
			r := c.runStdin(haSpec(name, 3), "apply", "-f", "-", "-y", "--timeout", "1m")
			assert.Equal(t, 0, r.code, "re-run of apply %s: %s", name, r.stderr)
		}
	}
	t.Logf("%d of %d applies failed across the restart and were re-run", failed, len(names))
	listeners := `SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'`
	waitFor(t, 30*time.Second, "both servers listening again", func() bool { return c.count(listeners) == 2 })
	c.applyCLI([]string{"after-restart"}, 3)
	c.waitRunning(9, 27, time.Minute)
	c.assertLaunchedOnce(27)
	assert.Zero(t, c.count(partial))
	assert.Zero(t, c.count(`SELECT COUNT(*) FROM (SELECT 1 FROM replicas GROUP BY gateway_id, replica_num, attempt HAVING COUNT(*) > 1) d`))
	assert.False(t, servers[0].exited.Load() || servers[1].exited.Load(), "a server exited")
}

// privatePostgres starts a PostgreSQL of the test's own, so restarting it disturbs no other test.
func privatePostgres(t *testing.T) (dsn string, restart func()) {
	storetest.Postgres(t) // skips without PostgreSQL (fails in CI), like every PostgreSQL test
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	root := filepath.Join(os.TempDir(), fmt.Sprintf("portico-pg-e2e-%d", port))
	script := func(arg string) *exec.Cmd {
		cmd := exec.Command("../scripts/postgres.sh", arg)
		cmd.Env = append(os.Environ(), fmt.Sprintf("PGPORT=%d", port), "PGROOT="+root)
		return cmd
	}
	out, err := script("start").CombinedOutput()
	require.NoError(t, err, "scripts/postgres.sh start: %s", out)
	_, dsn, _ = strings.Cut(string(out), "TEST_PG_DSN='")
	dsn, _, _ = strings.Cut(dsn, "'")
	t.Cleanup(func() { _ = script("stop").Run(); os.RemoveAll(root) })
	// No output pipes for restart: the postmaster it starts would inherit them.
	return dsn, func() { require.NoError(t, script("restart").Run(), "scripts/postgres.sh restart") }
}

// Scenario 17: the database is unreachable for twice the lease TTL while
// the servers hold leases and the SDK retries their throttled launches. No
// cloud side effect may start after its lease expired; afterwards there is
// one instance per replica.
func TestServerDatabaseDownLongerThanLease(t *testing.T) {
	c := newHA(t, "", awstest.Options{})
	slowRetries := c.config("2s") // the SDK retries a throttled launch for seconds
	servers := []*haServer{c.start("s1", "--config", slowRetries), c.start("s2", "--config", slowRetries)}
	var healed atomic.Bool
	c.fake.Hook("RunInstances", awstest.BeforeAction, func() {
		if !healed.Load() {
			c.fake.Throttle("RunInstances", 1)
		}
	})
	c.applyDirect(haNames(6), 2)
	waitFor(t, 30*time.Second, "launches under way", func() bool { return c.fake.Calls("RunInstances") >= 4 })
	for _, s := range servers {
		s.db.frozen.Store(true)
	}
	frozen := time.Now()
	time.Sleep(2 * haLeaseTTL)
	leases := map[string]time.Time{} // replica token → lease expiry, as the database has it
	rows, err := c.st.DB().Query(`SELECT token, lock_expires_at FROM replicas WHERE lock_expires_at IS NOT NULL`)
	require.NoError(t, err)
	for rows.Next() {
		var tok string
		var ms int64
		require.NoError(t, rows.Scan(&tok, &ms))
		leases[tok] = time.UnixMilli(ms)
	}
	require.NotEmpty(t, leases, "no lease was held when the database went away")
	var during, late []string
	for _, x := range c.fake.CallLog() {
		deadline := frozen
		for tok, exp := range leases {
			if strings.HasPrefix(x.ClientToken, tok+"-") {
				deadline = exp
			}
		}
		if !strings.HasPrefix(x.Action, "Describe") && x.Time.After(deadline) {
			late = append(late, fmt.Sprintf("%s %s %v after its lease expired", x.Action, x.ClientToken, x.Time.Sub(deadline).Round(time.Millisecond)))
		} else if x.Time.After(frozen) {
			during = append(during, x.Action)
		}
	}
	healed.Store(true)
	for _, s := range servers {
		s.db.frozen.Store(false)
	}
	t.Logf("database unreachable for %v: %d leases held, %d cloud calls before they expired, %d after",
		2*haLeaseTTL, len(leases), len(during), len(late))
	assert.Empty(t, late, "cloud side effects started after the lease expired")
	c.waitRunning(6, 12, time.Minute)
	c.assertLaunchedOnce(12)
	assert.False(t, servers[0].exited.Load() || servers[1].exited.Load(), "a server exited")
}

// Scenario 18: the servers' LISTEN connections are killed (they
// reconnect), then notifications are silently lost: a detached apply still
// runs, found by the servers' polling.
func TestServerLostNotificationsFallBackToPolling(t *testing.T) {
	c := newHA(t, "", awstest.Options{})
	servers := []*haServer{c.start("s1"), c.start("s2")}
	pids := func() []string {
		var list string
		require.NoError(t, c.st.DB().QueryRow(`SELECT COALESCE(string_agg(pid::text, ',' ORDER BY pid), '') FROM pg_stat_activity
			WHERE datname = current_database() AND query LIKE 'LISTEN%'`).Scan(&list))
		return strings.FieldsFunc(list, func(r rune) bool { return r == ',' })
	}
	waitFor(t, 20*time.Second, "both servers listening", func() bool { return len(pids()) == 2 })
	old := pids()
	assert.Equal(t, 2, c.count(`SELECT COUNT(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND query LIKE 'LISTEN%') k`))
	took := waitFor(t, 30*time.Second, "LISTEN re-established", func() bool {
		now := pids()
		return len(now) == 2 && !slices.ContainsFunc(now, func(p string) bool { return slices.Contains(old, p) })
	})
	t.Logf("both LISTEN connections re-established %v after pg_terminate_backend", took.Round(time.Millisecond))

	for _, s := range servers {
		s.db.muteListen.Store(true)
	}
	c.applyCLI([]string{"unnotified"}, 2)
	took = c.waitRunning(1, 2, 20*time.Second) // the backstop: membership refresh and the claim loop's poll
	t.Logf("with every notification lost, the detached apply was running %v after it returned", took.Round(time.Millisecond))
	for _, s := range servers {
		assert.Positive(t, s.db.held.Load(), "no notification to %s was held back: the test lost nothing", s.id)
	}
	c.assertLaunchedOnce(2)
}

// SQLite supports a single server: a second one on the same file refuses
// to start, at once and saying why.
func TestServerSQLiteRefusesSecondServer(t *testing.T) {
	c := newHA(t, filepath.Join(t.TempDir(), "portico.db"), awstest.Options{})
	c.start("one")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, "server", "--id", "two", "--listen", "127.0.0.1:0")
	cmd.Env = c.env
	out, err := cmd.CombinedOutput()
	require.NoError(t, ctx.Err(), "a second server on the same SQLite file kept running")
	assert.Error(t, err, "a second server exits non-zero")
	assert.Contains(t, string(out), "SQLite supports a single server")
	assert.False(t, c.member("two"))
}
