package cli_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/internal/testsupport"
)

// The end-to-end tests build the real binary and drive it as a user would,
// against a temporary PORTICO_HOME, with real agent processes.

func TestMain(m *testing.M) { os.Exit(testsupport.Run(m)) }

// e2e is one user's machine: a PORTICO_HOME and the environment.
type e2e struct {
	t    *testing.T
	bin  string
	home string
	env  []string
}

func newE2E(t *testing.T) *e2e {
	e := &e2e{t: t, bin: testsupport.Binary(t), home: t.TempDir()}
	e.env = append(os.Environ(), "PORTICO_HOME="+e.home, "PORTICO_DB=", "PORTICO_CONFIG=", "NO_COLOR=", "CI=")
	t.Cleanup(e.killAgents)
	return e
}

type result struct {
	stdout, stderr string
	code           int
}

func (e *e2e) command(stdin string, args ...string) *exec.Cmd {
	cmd := exec.Command(e.bin, args...)
	cmd.Env = e.env
	cmd.Stdin = strings.NewReader(stdin)
	return cmd
}

// run runs portico to completion.
func (e *e2e) run(args ...string) result { return e.runStdin("", args...) }

func (e *e2e) runStdin(stdin string, args ...string) result {
	e.t.Helper()
	cmd := e.command(stdin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else {
		require.NoError(e.t, err)
	}
	return result{out.String(), errb.String(), code}
}

// mustRun runs portico and fails the test unless it exits 0.
func (e *e2e) mustRun(args ...string) result {
	e.t.Helper()
	r := e.run(args...)
	require.Equal(e.t, 0, r.code, "portico %s\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.stdout, r.stderr)
	return r
}

type listedReplica struct {
	ReplicaNum int    `json:"replica_num"`
	Attempt    int    `json:"attempt"`
	Hostname   string `json:"hostname"`
	Status     string `json:"status"`
	Region     string `json:"region"`
	Zone       string `json:"zone"`
	Message    string `json:"status_message"`
}

type listedGateway struct {
	Name     string          `json:"name"`
	Status   string          `json:"status"`
	Message  string          `json:"status_message"`
	Replicas []listedReplica `json:"replicas"`
}

func (e *e2e) list() []listedGateway {
	e.t.Helper()
	r := e.mustRun("gateway", "list", "--json")
	var out []listedGateway
	require.NoError(e.t, json.Unmarshal([]byte(r.stdout), &out), r.stdout)
	return out
}

func running(g listedGateway) []listedReplica {
	var out []listedReplica
	for _, r := range g.Replicas {
		if r.Status == "running" {
			out = append(out, r)
		}
	}
	return out
}

// agents returns the pids of live agent processes of this home.
func (e *e2e) agents() []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	marker := []byte("--state-dir=" + e.home)
	for _, d := range entries {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		if err != nil || !bytes.Contains(cmdline, marker) || !bytes.Contains(cmdline, []byte("agent")) {
			continue
		}
		stat, _ := os.ReadFile(filepath.Join("/proc", d.Name(), "stat"))
		if fields := strings.Fields(string(stat)); len(fields) > 2 && fields[2] == "Z" {
			continue // a zombie is not a running agent
		}
		pids = append(pids, pid)
	}
	return pids
}

func (e *e2e) killAgents() {
	for _, pid := range e.agents() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// healthz fetches a replica's health endpoint.
func healthz(t *testing.T, hostname string) map[string]any {
	t.Helper()
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil}}
	resp, err := c.Get("http://" + hostname + "/healthz")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	require.NoError(t, json.Unmarshal(b, &out), string(b))
	return out
}

func cmdline(pid int) string {
	b, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	return string(b) + "\x00"
}

func itoa(i int) string { return strconv.Itoa(i) }
