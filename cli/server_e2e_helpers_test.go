package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/portico-dev/portico/backends/awstest"
	"github.com/portico-dev/portico/gateways"
	"github.com/portico-dev/portico/gateways/store"
	"github.com/portico-dev/portico/gateways/store/storetest"
	"github.com/portico-dev/portico/internal/testsupport"
)

// Server-mode end-to-end tests: real `portico server` processes, each
// reaching the database through a proxy of its own; the fake EC2 in-process.

const (
	haRegion    = "eu-west-1"
	haHeartbeat = 500 * time.Millisecond
	haLeaseTTL  = 3 * time.Second
)

// haCluster is one installation: a database and the test's own connection
// to it, the fake cloud, and a PORTICO_HOME for the CLI.
type haCluster struct {
	*e2e
	fake *awstest.Server
	dsn  string
	st   *store.Store
}

func newHA(t *testing.T, dsn string, fo awstest.Options) *haCluster {
	e := newE2E(t)
	if dsn == "" {
		dsn = storetest.Postgres(t)
	}
	fake := awstest.NewServer(fo)
	t.Cleanup(fake.Close)
	c := &haCluster{e2e: e, fake: fake, dsn: dsn, st: storetest.Open(t, dsn)}
	e.env = append(e.env, "AWS_ENDPOINT_URL_EC2="+fake.URL(), "AWS_ACCESS_KEY_ID=fake", "AWS_SECRET_ACCESS_KEY=fake",
		"AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_REGION=", "AWS_PROFILE=", "PORTICO_DB="+dsn, "PORTICO_CONFIG="+c.config("200ms"))
	return c
}

// config writes a config file (this cap on SDK retry backoff); returns its path.
func (c *haCluster) config(retryBackoff string) string {
	path := filepath.Join(c.home, "config-"+retryBackoff+".yml")
	body := "aws:\n  poll_interval: 200ms\n  retry_max_backoff: " + retryBackoff + "\n"
	require.NoError(c.t, os.WriteFile(path, []byte(body), 0o600))
	return path
}

type haServer struct {
	id, log string
	cmd     *exec.Cmd
	db      *tcpProxy     // nil on SQLite
	done    chan struct{} // closed once the process has exited
	exited  atomic.Bool
	code    int
}

// start runs a server with short heartbeat and lease settings (extra args
// override them), stopped when the test ends, and waits until it registers.
func (c *haCluster) start(id string, extra ...string) *haServer {
	t, dsn := c.t, c.dsn
	s := &haServer{id: id, log: filepath.Join(c.home, id+".log"), done: make(chan struct{})}
	if store.IsPostgres(dsn) {
		u, err := url.Parse(dsn)
		require.NoError(t, err)
		s.db = newTCPProxy(t, u.Host)
		u.Host = s.db.ln.Addr().String()
		dsn = u.String()
	}
	logf, err := os.Create(s.log)
	require.NoError(t, err)
	s.cmd = exec.Command(c.bin, append([]string{"server", "-v", "--id", id, "--listen", "127.0.0.1:0", "--heartbeat",
		haHeartbeat.String(), "--lease-ttl", haLeaseTTL.String(), "--sweep-interval", "0"}, extra...)...)
	s.cmd.Env = append(slices.Clone(c.env), "PORTICO_DB="+dsn)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	require.NoError(t, s.cmd.Start())
	go func() {
		_ = s.cmd.Wait()
		s.code = s.cmd.ProcessState.ExitCode()
		s.exited.Store(true)
		logf.Close()
		close(s.done)
	}()
	t.Cleanup(func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(15 * time.Second):
			t.Errorf("server %s did not stop within 15 s of SIGTERM", id)
			s.kill9()
		}
		if b, _ := os.ReadFile(s.log); t.Failed() {
			t.Logf("server %s log (tail):\n%s", id, b[max(0, len(b)-3000):])
		}
	})
	waitFor(t, 20*time.Second, "server "+id+" registered", func() bool { return c.member(id) })
	return s
}

func (s *haServer) kill9() { _ = s.cmd.Process.Kill(); <-s.done }

// waitFor polls cond on the test's goroutine and returns how long it took
// to hold; it fails the test after within.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > within {
			t.Fatalf("still waiting after %v: %s", within, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start)
}

func (c *haCluster) member(id string) bool {
	ms, err := c.st.Members(context.Background())
	return err == nil && slices.ContainsFunc(ms, func(m store.Member) bool { return m.ID == id })
}

// count runs a query returning one integer.
func (c *haCluster) count(query string, args ...any) (n int) {
	err := c.st.DB().QueryRow(query, args...).Scan(&n)
	for try := 0; err != nil && try < 5; try++ { // after a database restart, each pooled connection fails once
		time.Sleep(200 * time.Millisecond)
		err = c.st.DB().QueryRow(query, args...).Scan(&n)
	}
	require.NoError(c.t, err, query)
	return n
}

func haSpec(name string, replicas int) string {
	return fmt.Sprintf("type: gateway\nname: %s\nbackend: aws\nregion: %s\nreplicas: %d\nhealth: {period: 1h}\n", name, haRegion, replicas)
}

func haNames(n int) (out []string) {
	for i := range n {
		out = append(out, fmt.Sprintf("gw-%02d", i))
	}
	return out
}

// applyAll runs `portico apply -f - -y args...` per gateway, eight at a
// time, and returns how each run ended.
func (c *haCluster) applyAll(names []string, replicas int, args ...string) []result {
	out := make([]result, len(names))
	var g errgroup.Group
	g.SetLimit(8)
	for i, name := range names {
		g.Go(func() error {
			out[i] = c.runStdin(haSpec(name, replicas), append([]string{"apply", "-f", "-", "-y"}, args...)...)
			return nil
		})
	}
	_ = g.Wait()
	return out
}

func (c *haCluster) applyCLI(names []string, replicas int) {
	for i, r := range c.applyAll(names, replicas, "--detach") {
		require.Zero(c.t, r.code, "apply %s: %s", names[i], r.stderr)
	}
}

// applyDirect writes the desired state in-process, through the service the
// CLI uses: faster than a process per gateway, for timing.
func (c *haCluster) applyDirect(names []string, replicas int) {
	svc := gateways.NewService(c.st)
	for _, name := range names {
		spec, err := gateways.ParseSpec(name+".yml", []byte(haSpec(name, replicas)), gateways.SpecOptions{})
		require.NoError(c.t, err)
		testsupport.Apply(c.t, svc, *spec)
	}
}

const runningGateways = `SELECT COUNT(*) FROM gateways WHERE status = 'running'`

func (c *haCluster) waitRunning(gws, reps int, within time.Duration) time.Duration {
	return waitFor(c.t, within, fmt.Sprintf("%d gateways and %d replicas running", gws, reps), func() bool {
		return c.count(runningGateways) == gws && c.count(`SELECT COUNT(*) FROM replicas WHERE status = 'running'`) == reps
	})
}

// assertLaunchedOnce checks that every replica was launched exactly once:
// n live instances, no two with one portico-token, and every RunInstances
// the cloud received carried the ClientToken of one of them (so no token
// was ever sent with a second ClientToken, in another zone or attempt).
func (c *haCluster) assertLaunchedOnce(n int) {
	insts := c.fake.Instances(haRegion)
	assert.Len(c.t, insts, n, "instances in the cloud")
	tokenOf := map[string]string{} // ClientToken → portico-token
	for _, in := range insts {
		assert.Contains(c.t, []string{"pending", "running"}, in.State, in.ID)
		tokenOf[in.ClientToken] = in.Tags["portico-token"]
	}
	assert.Len(c.t, slices.Compact(slices.Sorted(maps.Values(tokenOf))), n, "distinct portico-token tags")
	for _, call := range c.fake.CallLog() {
		_, ok := tokenOf[call.ClientToken]
		assert.True(c.t, call.Action != "RunInstances" || ok, "RunInstances with ClientToken %q launched nothing", call.ClientToken)
	}
}

type haMember struct {
	ID       string `json:"id"`
	Live     bool   `json:"live"`
	Gateways int    `json:"gateways"`
}

// members runs `portico server members --json`.
func (c *haCluster) members() map[string]haMember {
	r := c.mustRun("server", "members", "--json")
	var ms []haMember
	require.NoError(c.t, json.Unmarshal([]byte(r.stdout), &ms), r.stdout)
	out := map[string]haMember{}
	for _, m := range ms {
		out[m.ID] = m
	}
	return out
}

// tcpProxy forwards connections to a database. frozen holds every byte
// both ways (a partition); muteListen holds what the database sends on
// connections that issued LISTEN: notifications are lost, silently.
type tcpProxy struct {
	ln                 net.Listener
	frozen, muteListen atomic.Bool
	held               atomic.Int64 // sends held back by muteListen
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &tcpProxy{ln: ln}
	go func() {
		for client, err := ln.Accept(); err == nil; client, err = ln.Accept() {
			upstream, err := net.Dial("tcp", target)
			if err != nil {
				client.Close()
				continue
			}
			listening := new(atomic.Bool)
			go p.pipe(upstream, client, listening, false)
			go p.pipe(client, upstream, listening, true)
		}
	}()
	t.Cleanup(func() { p.frozen.Store(false); p.muteListen.Store(false); ln.Close() })
	return p
}

func (p *tcpProxy) pipe(dst, src net.Conn, listening *atomic.Bool, toClient bool) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if !toClient && bytes.Contains(buf[:n], []byte("LISTEN ")) {
			listening.Store(true)
		}
		muted := func() bool { return toClient && listening.Load() && p.muteListen.Load() }
		if n > 0 && muted() {
			p.held.Add(1)
		}
		for n > 0 && (p.frozen.Load() || muted()) {
			time.Sleep(10 * time.Millisecond)
		}
		if _, werr := dst.Write(buf[:n]); werr != nil || err != nil {
			return
		}
	}
}
