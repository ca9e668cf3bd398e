package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// harness runs the real portico binary as subprocesses and makes sure that
// every process it starts (CLIs, servers, and the local agents they spawn)
// is gone when the benchmark ends, however it ends.
type harness struct {
	bin  string // the portico binary
	root string // temp dir holding homes, logs and the binary
	pg   string // TEST_PG_DSN, "" when no PostgreSQL is available

	mu    sync.Mutex
	procs map[int]*exec.Cmd // running process groups by pid
	homes []string          // PORTICO_HOME dirs whose agents must be stopped
	seq   int
}

// newHarness builds portico into a fresh temp dir.
func newHarness(ctx context.Context, pg string) (*harness, error) {
	root, err := os.MkdirTemp("", "portico-bench-")
	if err != nil {
		return nil, err
	}
	// Agents find their binary through /proc/self/exe, a resolved path;
	// resolve ours too so that isOurs can compare them.
	if r, err := filepath.EvalSymlinks(root); err == nil {
		root = r
	}
	h := &harness{bin: filepath.Join(root, "bin", "portico"), root: root, pg: pg, procs: map[int]*exec.Cmd{}}
	build := exec.CommandContext(ctx, "go", "build", "-o", h.bin, "./cmd/portico")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		_ = os.RemoveAll(root)
		return nil, fmt.Errorf("build portico: %w", err)
	}
	return h, nil
}

// home is an isolated Portico installation: its own PORTICO_HOME, config
// file and environment.
type home struct {
	h   *harness
	dir string
	env []string
}

// newHome makes a PORTICO_HOME with a config file; extraEnv adds or
// overrides variables (PORTICO_DB, AWS_ENDPOINT_URL_EC2, ...).
func (h *harness) newHome(name, config string, extraEnv ...string) (*home, error) {
	h.mu.Lock()
	h.seq++
	dir := filepath.Join(h.root, fmt.Sprintf("%02d-%s", h.seq, name))
	h.homes = append(h.homes, dir)
	h.mu.Unlock()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		return nil, err
	}
	env := []string{"PORTICO_HOME=" + dir, "PORTICO_CONFIG=" + cfg}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "PORTICO_") || strings.HasPrefix(k, "AWS_") || strings.HasPrefix(k, "GOOGLE_") ||
			strings.HasPrefix(k, "CLOUDSDK_") || k == "HTTP_PROXY" || k == "HTTPS_PROXY" || k == "http_proxy" || k == "https_proxy" {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "AWS_ACCESS_KEY_ID=fake", "AWS_SECRET_ACCESS_KEY=fake", "AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "NO_PROXY=*")
	env = append(env, extraEnv...)
	return &home{h: h, dir: dir, env: env}, nil
}

// command prepares portico args in its own process group.
func (o *home) command(stdin string, args ...string) *exec.Cmd {
	c := exec.Command(o.h.bin, args...)
	c.Env = o.env
	c.Dir = o.dir
	if stdin != "" {
		c.Stdin = strings.NewReader(stdin)
	}
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return c
}

// runResult is one finished process.
type runResult struct {
	Wall time.Duration
	Out  []byte
}

// run runs portico to completion and times it from start to exit. Output
// goes to a pipe, as in a script; stderr is kept for error messages.
func (o *home) run(ctx context.Context, stdin string, args ...string) (runResult, error) {
	c := o.command(stdin, args...)
	var out, errb strings.Builder
	c.Stdout, c.Stderr = &out, &errb
	start := time.Now()
	if err := o.h.start(c); err != nil {
		return runResult{}, err
	}
	stop := context.AfterFunc(ctx, func() { _ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL) })
	err := c.Wait()
	wall := time.Since(start)
	stop()
	o.h.forget(c)
	res := runResult{Wall: wall, Out: []byte(out.String())}
	if err != nil {
		msg := strings.TrimSpace(errb.String())
		if len(msg) > 600 {
			msg = "…" + msg[len(msg)-600:]
		}
		return res, fmt.Errorf("portico %s: %w: %s", strings.Join(args, " "), err, msg)
	}
	return res, nil
}

func (h *harness) start(c *exec.Cmd) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := c.Start(); err != nil {
		return err
	}
	h.procs[c.Process.Pid] = c
	return nil
}

func (h *harness) forget(c *exec.Cmd) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.procs, c.Process.Pid)
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	s := strings.TrimSpace(string(b))
	if len(s) > 800 {
		s = "…" + s[len(s)-800:]
	}
	return s
}

// close kills every process still running, stops the local agents of every
// home, and removes the temp dir (kept with keep, for post-mortems).
func (h *harness) close(keep bool) {
	h.mu.Lock()
	procs := make([]*exec.Cmd, 0, len(h.procs))
	for _, c := range h.procs {
		procs = append(procs, c)
	}
	homes := append([]string(nil), h.homes...)
	h.mu.Unlock()
	for _, c := range procs {
		_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
	}
	for _, dir := range homes {
		killAgents(dir, h.bin)
	}
	if keep {
		fmt.Fprintln(os.Stderr, "bench: kept", h.root)
		return
	}
	_ = os.RemoveAll(h.root)
}
