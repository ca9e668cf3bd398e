package faults_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/internal/testsupport"
)

// The CLI scenarios build the real binary once and drive it as a user
// would: its own PORTICO_HOME, a config file, the AWS SDK's standard chain
// pointed at the in-process fake through AWS_ENDPOINT_URL_EC2.

// cli is one user's machine, sharing the world's database and fake cloud.
type cli struct {
	w    *world
	bin  string
	home string
	env  []string
}

// cli returns a machine whose config says extra (YAML under the aws
// poll_interval default), using the world's database.
func (w *world) cli(extraConfig string) *cli {
	c := &cli{w: w, bin: testsupport.Binary(w.t), home: w.t.TempDir()}
	cfg := filepath.Join(c.home, "config.yml")
	require.NoError(w.t, os.WriteFile(cfg, []byte("aws:\n  poll_interval: 100ms\n"+extraConfig), 0o600))
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "AWS_") || strings.HasPrefix(k, "PORTICO_") || strings.HasPrefix(k, "GOOGLE_") ||
			k == "CLOUDSDK_CORE_PROJECT" || k == "CI" || k == "NO_COLOR" {
			continue
		}
		c.env = append(c.env, kv)
	}
	c.env = append(c.env, "PORTICO_HOME="+c.home, "PORTICO_CONFIG="+cfg, "PORTICO_DB="+w.dsn, "NO_COLOR=1", "CI=1")
	c.env = append(c.env, testsupport.AWSEnv(w.fake.URL())...)
	return c
}

// file writes a spec (or any file) into the machine's home.
func (c *cli) file(name, text string) string {
	p := filepath.Join(c.home, name)
	require.NoError(c.w.t, os.WriteFile(p, []byte(text), 0o600))
	return p
}

type result struct {
	stdout, stderr string
	code           int
}

// run runs portico to completion (bounded by a minute).
func (c *cli) run(args ...string) result {
	c.w.t.Helper()
	p := c.start(args...)
	return p.wait()
}

// proc is a running portico process; the test's cleanup kills it.
type proc struct {
	t        *testing.T
	cmd      *exec.Cmd
	out, err *testsupport.SyncBuffer
	done     chan struct{}
	waitErr  error
}

func (c *cli) start(args ...string) *proc {
	c.w.t.Helper()
	cmd := exec.Command(c.bin, args...)
	cmd.Env = c.env
	cmd.Dir = c.home
	p := &proc{t: c.w.t, cmd: cmd, out: &testsupport.SyncBuffer{}, err: &testsupport.SyncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.err
	require.NoError(c.w.t, cmd.Start())
	go func() { p.waitErr = cmd.Wait(); close(p.done) }()
	c.w.t.Cleanup(func() {
		p.kill()
		<-p.done
	})
	return p
}

// kill sends SIGKILL: no deferred function, no lease release, nothing.
func (p *proc) kill() { _ = p.cmd.Process.Signal(syscall.SIGKILL) }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) wait() result {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(time.Minute):
		p.kill()
		<-p.done
		p.t.Fatalf("portico %s did not finish within a minute\nstdout:\n%s\nstderr:\n%s",
			strings.Join(p.cmd.Args[1:], " "), p.out, p.err)
	}
	code := 0
	var exit *exec.ExitError
	if errors.As(p.waitErr, &exit) {
		code = exit.ExitCode()
	} else {
		require.NoError(p.t, p.waitErr)
	}
	return result{p.out.String(), p.err.String(), code}
}

// mustRun runs portico and fails the test unless it exits 0.
func (c *cli) mustRun(args ...string) result {
	c.w.t.Helper()
	r := c.run(args...)
	require.Equal(c.w.t, 0, r.code, "portico %s\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.stdout, r.stderr)
	return r
}

// specYAML is the YAML of an AWS gateway of n replicas in eu-west-1.
func specYAML(name string, n int) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "type: gateway\nname: %s\nbackend: aws\nregion: %s\ndomain: example.com\nreplicas: %d\ninstance_type: t3.micro\n", name, region, n)
	return b.String()
}
