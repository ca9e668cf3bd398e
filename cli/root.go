// Package cli is Portico's command line: one file per command, each with an
// options struct, a constructor that binds flags and a run function, so that
// parsing and behaviour are tested apart. Output knows whether a person or a
// script reads it. Commands return errors; Main prints them and picks the
// exit code.
package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/portico-dev/portico/gateways"
)

// Version is set at build time with -ldflags "-X github.com/portico-dev/portico/cli.Version=…".
var Version = "dev"

// Main runs Portico with args and returns the process exit code.
func Main(args []string, streams *IOStreams) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	f := &Factory{IO: streams, Version: Version}
	root := NewRootCmd(f)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	f.Close()
	if err != nil && !f.ran {
		// cobra failed before any command ran: unknown command, bad args.
		var usage *UsageError
		if !errors.As(err, &usage) {
			err = &UsageError{Err: err}
		}
	}
	return exitCode(streams, err, ctx.Err() != nil)
}

// exitCode prints err (once, in one place) and maps it to an exit code.
func exitCode(s *IOStreams, err error, interrupted bool) int {
	if err == nil {
		return ExitOK
	}
	var silent *silentError
	if errors.As(err, &silent) {
		return silent.code
	}
	if errors.Is(err, errInterrupted) || (interrupted && errors.Is(err, context.Canceled)) {
		return ExitInterrupted
	}
	var spec *gateways.SpecError
	if errors.As(err, &spec) {
		for _, p := range spec.Problems {
			fmt.Fprintln(s.ErrOut, "error:", p.String())
		}
		fmt.Fprintf(s.ErrOut, "%d problem(s) found; nothing was changed\n", len(spec.Problems))
		return ExitUsage
	}
	fmt.Fprintln(s.ErrOut, "error:", err)
	var usage *UsageError
	if errors.As(err, &usage) {
		return ExitUsage
	}
	return ExitFailure
}

// NewRootCmd builds the command tree.
func NewRootCmd(f *Factory) *cobra.Command {
	root := &cobra.Command{
		Use:   "portico",
		Short: "Provision highly available gateways on cloud compute",
		Long: `Portico provisions highly available gateways: N replica instances of one
gateway, spread over zones and regions, health-checked and replaced when they
fail. Describe a gateway in gateway.yml, then:

  portico apply -f gateway.yml      show the plan, confirm, provision, wait
  portico gateway list              every gateway and its replicas, as a tree`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			f.ran = true
			if !longRunning(cmd) {
				// A command lives for milliseconds: collecting garbage four
				// times less often is faster, and the memory is freed at exit.
				debug.SetGCPercent(400)
			}
			f.Logger = newLogger(f)
			slog.SetDefault(f.Logger)
			return nil
		},
	}
	root.SetIn(f.IO.In)
	root.SetOut(f.IO.Out)
	root.SetErr(f.IO.ErrOut)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &UsageError{Err: err} })
	pf := root.PersistentFlags()
	pf.StringVar(&f.DBFlag, "db", "", "database: a SQLite file or a postgres:// URL (env PORTICO_DB; default ~/.portico/portico.db)")
	pf.StringVar(&f.ConfigFlag, "config", "", "config file (env PORTICO_CONFIG; default ~/.portico/config.yml)")
	pf.CountVarP(&f.Verbose, "verbose", "v", "log more to stderr (-v info, -vv debug)")

	root.AddCommand(
		newApplyCmd(f, nil),
		newDeleteCmd(f, nil),
		newGatewayCmd(f),
		newSweepCmd(f, nil),
		newServerCmd(f),
		newVersionCmd(f),
		newAgentCmd(f),
		newExitCodesTopic(),
	)
	wrapArgs(root)
	return root
}

func wrapArgs(c *cobra.Command) {
	if c.Args != nil {
		args := c.Args
		c.Args = func(cmd *cobra.Command, a []string) error {
			if err := args(cmd, a); err != nil {
				return &UsageError{Err: fmt.Errorf("%w\nSee '%s --help'", err, cmd.CommandPath())}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		wrapArgs(sub)
	}
}

// longRunning reports whether cmd runs for days (a server, an agent), and
// so keeps Go's default garbage collection.
func longRunning(cmd *cobra.Command) bool {
	for c := cmd; c != nil; c = c.Parent() {
		if c.Name() == "server" && c.Parent() != nil && c.Parent().Parent() == nil {
			return cmd.Name() == "server"
		}
		if c.Name() == "agent" {
			return true
		}
	}
	return false
}

func newLogger(f *Factory) *slog.Logger {
	level := slog.LevelWarn
	switch {
	case f.Verbose >= 2:
		level = slog.LevelDebug
	case f.Verbose == 1:
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(f.IO.ErrOut, &slog.HandlerOptions{Level: level}))
}

func newExitCodesTopic() *cobra.Command {
	return &cobra.Command{
		Use:   "exit-codes",
		Short: "What Portico's exit codes mean",
		Long:  exitCodesHelp,
	}
}
