// Package local is the backend that needs no account: each replica is a real
// `portico agent` process, detached from the CLI, listening on a loopback port.
// It lets people try Portico, and lets tests exercise the pipelines against
// real processes that start, answer probes, crash and get killed.
//
// The state directory is the backend's whole memory: agents/<token>.json is
// written by the agent itself once it listens (so it names a real pid and
// port), <token>.lock serialises launches of one token across processes,
// <token>.log receives the agent's output and <token>.fault injects health
// failures for tests.
package local

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/portico-dev/portico/backends"
)

// Name is the backend's name in specs.
const Name = "local"

// DefaultRegion names the local machine when a spec names no region.
const DefaultRegion = "local"

// pollInterval is short: an agent is running within a few tens of milliseconds.
const pollInterval = 100 * time.Millisecond

// Config is the local backend's settings.
type Config struct {
	// StateDir holds agents/<token>.json state files and agents/<token>.log
	// logs; created 0700. It must outlive the CLI, because agents do.
	StateDir string
	// Command re-executes Portico as an agent: the argv prefix to which the
	// backend appends AgentFlags. Default: os.Executable() followed by
	// "agent". Tests point it at their own test binary.
	Command []string
	// Env is added to the agent's environment (after the caller's own), so a
	// test binary can tell that it should run as an agent.
	Env []string
}

var (
	tokenRE   = regexp.MustCompile(`^[a-z0-9-]{1,64}$`)
	regionRE  = regexp.MustCompile(`^[a-z][a-z0-9-]{1,62}$`)
	gatewayRE = regexp.MustCompile(`^[a-z][a-z0-9-]{1,40}$`)
	installRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	domainRE  = regexp.MustCompile(`^[A-Za-z0-9*][A-Za-z0-9.*-]{0,252}$`)
	pathRE    = regexp.MustCompile(`^/[A-Za-z0-9._~/-]{0,255}$`)
)

type backend struct {
	stateDir  string
	agentsDir string
	command   []string
	env       []string
	locks     *tokenLocks
}

// New returns the local backend. Several backends (even in several
// processes) may share one StateDir: the files and their locks are the
// coordination.
func New(cfg Config) (backends.Backend, error) {
	if cfg.StateDir == "" {
		return nil, fmt.Errorf("local backend: state directory not set")
	}
	dir, err := filepath.Abs(cfg.StateDir)
	if err != nil {
		return nil, fmt.Errorf("local backend: state directory: %w", err)
	}
	command := cfg.Command
	if len(command) == 0 {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("local backend: find portico executable: %w", err)
		}
		command = []string{exe, "agent"}
	}
	agents := filepath.Join(dir, "agents")
	if err := os.MkdirAll(agents, 0o700); err != nil {
		return nil, fmt.Errorf("local backend: create state directory: %w", err)
	}
	// MkdirAll keeps the mode of a directory that already exists; the agents
	// directory is ours alone, so tighten it.
	if err := os.Chmod(agents, 0o700); err != nil {
		return nil, fmt.Errorf("local backend: secure state directory: %w", err)
	}
	return &backend{
		stateDir:  dir,
		agentsDir: agents,
		command:   append([]string(nil), command...),
		env:       append([]string(nil), cfg.Env...),
		locks:     newTokenLocks(),
	}, nil
}

func (b *backend) Name() string { return Name }

// Capabilities: any well-formed region is accepted because every region is
// the same machine; instance types mean nothing here.
func (b *backend) Capabilities() backends.Capabilities {
	return backends.Capabilities{
		Regions:       nil,
		DefaultRegion: DefaultRegion,
		PollInterval:  pollInterval,
	}
}

// zoneOf returns the only zone of a region: the local machine is a single
// failure domain, so spreading replicas over zones has no meaning here and
// every replica of a region lands in region + "-a".
func zoneOf(region string) string { return region + "-a" }

// path returns the file of a token with the given suffix. Callers validate
// the token first; it is the only input that ever reaches a path.
func (b *backend) path(token, suffix string) string {
	return filepath.Join(b.agentsDir, token+suffix)
}

// validateRequest rejects anything that could escape the state directory,
// smuggle an extra argument, or record an instance no List could find.
func validateRequest(req backends.LaunchRequest) error {
	var problems []string
	if !tokenRE.MatchString(req.Token) {
		problems = append(problems, fmt.Sprintf("token %q must match %s", req.Token, tokenRE))
	}
	if !installRE.MatchString(req.Install) {
		problems = append(problems, fmt.Sprintf("install %q must match %s", req.Install, installRE))
	}
	if !gatewayRE.MatchString(req.Gateway) {
		problems = append(problems, fmt.Sprintf("gateway %q must match %s", req.Gateway, gatewayRE))
	}
	if req.Region != "" && !regionRE.MatchString(req.Region) {
		problems = append(problems, fmt.Sprintf("region %q must match %s", req.Region, regionRE))
	}
	if req.Domain != "" && (!domainRE.MatchString(req.Domain) || strings.Contains(req.Domain, "..")) {
		problems = append(problems, fmt.Sprintf("domain %q is not a DNS name", req.Domain))
	}
	if req.HealthPath != "" && (!pathRE.MatchString(req.HealthPath) || strings.Contains(req.HealthPath, "..")) {
		problems = append(problems, fmt.Sprintf("health path %q must match %s", req.HealthPath, pathRE))
	}
	if req.ReplicaNum < 0 {
		problems = append(problems, fmt.Sprintf("replica number %d is negative", req.ReplicaNum))
	}
	if len(problems) == 0 {
		return nil
	}
	return &backends.Error{
		Kind:    backends.Permanent,
		Code:    "InvalidParameter",
		Message: strings.Join(problems, "; "),
	}
}

// ctxSleep waits d or until ctx ends, whichever is first.
func ctxSleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
