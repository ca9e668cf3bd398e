package local

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/portico-dev/portico/backends"
)

// AgentConfig is what `portico agent` runs with. The CLI's hidden command
// and the backend agree on it through AgentFlags and ParseAgentFlags.
type AgentConfig struct {
	StateDir, Token, Install, Gateway, Domain, HealthPath string
	ReplicaNum                                            int
	// Region is recorded in the state file so Describe and List can report it.
	Region string
	// Listen defaults to "127.0.0.1:0"; anything but a loopback IP is refused,
	// because an agent has no authentication and no business on a network.
	Listen string
	// Logger receives one line per request; nil logs text to stderr, which
	// for a launched agent is its log file.
	Logger *slog.Logger

	// startDelay widens the window between taking the run lock and writing
	// the state file, for tests of that window.
	startDelay time.Duration
}

// shutdownGrace bounds a graceful shutdown; in-flight probes are cut short
// sooner, since their context ends when shutdown begins.
var shutdownGrace = 3 * time.Second

// tokenFlag carries the token on the agent's command line, where
// liveAndOurs looks for it in /proc/PID/cmdline.
const tokenFlag = "--token"

// AgentFlags returns the arguments the backend appends to Config.Command.
// Every flag is one "--name=value" word, so no value can pose as a flag.
func AgentFlags(cfg AgentConfig) []string {
	args := []string{
		"--state-dir=" + cfg.StateDir,
		tokenFlag + "=" + cfg.Token,
		"--install=" + cfg.Install,
		"--gateway=" + cfg.Gateway,
		"--replica=" + strconv.Itoa(cfg.ReplicaNum),
		"--region=" + cfg.Region,
	}
	if cfg.Domain != "" {
		args = append(args, "--domain="+cfg.Domain)
	}
	if cfg.HealthPath != "" {
		args = append(args, "--health-path="+cfg.HealthPath)
	}
	if cfg.Listen != "" {
		args = append(args, "--listen="+cfg.Listen)
	}
	return args
}

// ParseAgentFlags reads what AgentFlags wrote. A CLI command that hands it
// its raw arguments cannot drift from the backend.
func ParseAgentFlags(args []string) (AgentConfig, error) {
	var cfg AgentConfig
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&cfg.StateDir, "state-dir", "", "state directory")
	fs.StringVar(&cfg.Token, tokenFlag[2:], "", "replica token")
	fs.StringVar(&cfg.Install, "install", "", "installation id")
	fs.StringVar(&cfg.Gateway, "gateway", "", "gateway name")
	fs.IntVar(&cfg.ReplicaNum, "replica", 0, "replica number")
	fs.StringVar(&cfg.Region, "region", DefaultRegion, "region")
	fs.StringVar(&cfg.Domain, "domain", "", "domain served")
	fs.StringVar(&cfg.HealthPath, "health-path", "", "health check path")
	fs.StringVar(&cfg.Listen, "listen", "", "loopback address")
	if err := fs.Parse(args); err != nil {
		return AgentConfig{}, fmt.Errorf("parse agent flags: %w", err)
	}
	if fs.NArg() > 0 {
		return AgentConfig{}, fmt.Errorf("parse agent flags: unexpected argument %q", fs.Arg(0))
	}
	return cfg, nil
}

// RunAgent serves until ctx is cancelled or SIGTERM/SIGINT arrives, then
// shuts down gracefully and removes its state file if that still names it.
// SIGHUP is ignored: a closing terminal must not stop a gateway. The state
// file is written only once the agent listens, so whoever reads it can
// connect at once.
func RunAgent(ctx context.Context, cfg AgentConfig) error {
	if err := cfg.validate(); err != nil {
		return fmt.Errorf("run agent %s: %w", cfg.Token, err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	log = log.With("token", cfg.Token, "gateway", cfg.Gateway, "replica", cfg.ReplicaNum)
	signal.Ignore(syscall.SIGHUP)
	ctx, stopSignals := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stopSignals()

	agents := filepath.Join(cfg.StateDir, "agents")
	if err := os.MkdirAll(agents, 0o700); err != nil {
		return fmt.Errorf("run agent %s: %w", cfg.Token, err)
	}
	runLock, err := acquireRunLock(filepath.Join(agents, cfg.Token+".run"))
	if errors.Is(err, errAgentRunning) {
		log.Info("an agent of this token already runs; leaving it be")
		return nil
	}
	if err != nil {
		return fmt.Errorf("run agent %s: run lock: %w", cfg.Token, err)
	}
	defer runLock.Close()
	time.Sleep(cfg.startDelay)
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("run agent %s: listen: %w", cfg.Token, err)
	}
	addr := ln.Addr().(*net.TCPAddr)
	statePath := filepath.Join(agents, cfg.Token+".json")
	a := &agent{cfg: cfg, log: log, faultPath: filepath.Join(agents, cfg.Token+".fault")}
	// Handlers that hang on an injected fault end when shutdown begins.
	baseCtx, cancelBase := context.WithCancel(context.Background())
	defer cancelBase()
	srv := &http.Server{
		Handler:           a.routes(),
		ReadHeaderTimeout: 5 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return baseCtx },
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	st := agentState{
		PID: os.Getpid(), Host: addr.IP.String(), Port: addr.Port, Token: cfg.Token,
		Install: cfg.Install, Gateway: cfg.Gateway, ReplicaNum: cfg.ReplicaNum, Region: cfg.Region,
		Domain: cfg.Domain, HealthPath: cfg.HealthPath, StartedAt: time.Now().UTC(),
	}
	if err := writeState(statePath, st); err != nil {
		_ = srv.Close()
		return fmt.Errorf("run agent %s: write state: %w", cfg.Token, err)
	}
	log.Info("agent listening", "addr", addr.String(), "pid", st.PID)

	select {
	case <-ctx.Done():
	case err = <-served:
	}
	log.Info("agent stopping")
	cancelBase()
	shutCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	_ = srv.Shutdown(shutCtx)
	if cur, ok, _ := readState(statePath); ok && cur.PID == st.PID {
		_ = os.Remove(statePath)
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("run agent %s: serve: %w", cfg.Token, err)
	}
	return nil
}

// validate applies the backend's rules again: the agent may be started by
// hand, and its flags reach file names.
func (cfg *AgentConfig) validate() error {
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	host, _, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen address %q: %w", cfg.Listen, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("listen address %q is not a loopback IP", cfg.Listen)
	}
	if cfg.StateDir == "" {
		return errors.New("state directory not set")
	}
	return validateRequest(backends.LaunchRequest{
		Token: cfg.Token, Install: cfg.Install, Gateway: cfg.Gateway, Region: cfg.Region,
		Domain: cfg.Domain, HealthPath: cfg.HealthPath, ReplicaNum: cfg.ReplicaNum,
	})
}
