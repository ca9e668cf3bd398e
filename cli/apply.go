package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/portico-dev/portico/gateways"
	"github.com/portico-dev/portico/gateways/store"
)

type applyOptions struct {
	F       *Factory
	File    string
	Yes     bool
	Detach  bool
	Force   bool
	JSON    bool
	Timeout time.Duration
	// CreateOnly refuses to touch an existing gateway (`gateway create`).
	CreateOnly bool
}

func newApplyCmd(f *Factory, run func(context.Context, *applyOptions) error) *cobra.Command {
	opts := &applyOptions{F: f}
	if run == nil {
		run = applyRun
	}
	cmd := &cobra.Command{
		Use:   "apply -f FILE",
		Short: "Create or update a gateway from a spec, and wait until it runs",
		Long: `Read a gateway spec, show what would change (create, scale in place, re-create,
retry, or nothing), ask for confirmation, write the desired state in one
transaction, and wait until every replica runs.

Changing replicas scales in place: replicas that stay are not touched. Changing
backend, regions, domain, certificate, instance_type, public_ip or tags
re-creates the replicas: new ones start first and the old ones stop once
their replacements run.

Without a running 'portico server' on the same database, apply provisions
in this process; with one, it hands the work over and follows it.`,
		Example: `  portico apply -f gateway.yml
  cat gateway.yml | portico apply -f - -y --timeout 10m`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return run(cmd.Context(), opts) },
	}
	bindApplyFlags(cmd, opts)
	return cmd
}

func bindApplyFlags(cmd *cobra.Command, opts *applyOptions) {
	fl := cmd.Flags()
	fl.StringVarP(&opts.File, "file", "f", "", "gateway spec to apply; - reads standard input")
	fl.BoolVarP(&opts.Yes, "yes", "y", false, "apply without asking for confirmation")
	fl.BoolVar(&opts.Detach, "detach", false, "return once the desired state is written, without waiting")
	fl.BoolVar(&opts.Force, "force", false, "re-create every replica even if nothing changed")
	fl.BoolVar(&opts.JSON, "json", false, "print the plan and the final gateway as JSON")
	fl.DurationVar(&opts.Timeout, "timeout", 30*time.Minute, "give up waiting after this long (exit 1); 0 waits forever")
}

func applyRun(ctx context.Context, o *applyOptions) error {
	f := o.F
	spec, _, err := f.loadSpec(ctx, o.File)
	if err != nil {
		return err
	}
	svc, err := f.Service(ctx)
	if err != nil {
		return err
	}
	plan, existing, err := svc.Plan(ctx, *spec, o.Force)
	if err != nil {
		return err
	}
	if o.CreateOnly && existing != nil {
		return fmt.Errorf("gateway %q already exists (revision %d); use `portico apply` to change it", spec.Name, existing.Revision)
	}
	if !o.JSON {
		printPlan(f.IO.Out, plan)
	}
	if plan.Action != gateways.ActionNoChange {
		if err := confirm(f.IO, o.Yes, "Apply this plan?"); err != nil {
			return err
		}
	}
	g, done, err := svc.Apply(ctx, *spec, plan)
	var conflict *store.ConflictError
	if o.CreateOnly && (errors.Is(err, gateways.ErrUnchanged) || errors.As(err, &conflict)) {
		return fmt.Errorf("gateway %q already exists (created by another command just now); use `portico apply` to change it", spec.Name)
	}
	switch {
	case errors.Is(err, gateways.ErrUnchanged):
		fmt.Fprintf(f.IO.ErrOut, "Gateway %q was just written with this very spec by another apply; following it.\n", spec.Name)
	case err != nil:
		return err
	}
	if g == nil {
		g = existing
	}
	if done.Action == gateways.ActionNoChange && converged(g) {
		return o.finish(ctx, svc, plan, g.Name)
	}
	if o.Detach {
		fmt.Fprintf(f.IO.ErrOut, "Desired state written (revision %d). Provisioning happens in a running `portico server`, or the next time apply runs without --detach.\n", g.Revision)
		return o.finish(ctx, svc, plan, g.Name)
	}
	start := time.Now()
	if err := f.follow(ctx, svc, followOptions{Gateway: g.Name, ID: g.ID, Timeout: o.Timeout}); err != nil {
		return err
	}
	fmt.Fprintf(f.IO.ErrOut, "Gateway %q is running with %d replica(s) (%s).\n", g.Name, spec.Replicas, time.Since(start).Round(10*time.Millisecond))
	return o.finish(ctx, svc, plan, g.Name)
}

// finish prints the gateway as it ends up: the tree, or JSON.
func (o *applyOptions) finish(ctx context.Context, svc *gateways.Service, plan gateways.Plan, name string) error {
	g, err := svc.Get(ctx, name)
	if err != nil {
		return err
	}
	now := time.Now()
	if o.JSON {
		return o.F.IO.writeJSON(o.F.IO.Out, struct {
			Plan    gateways.Plan `json:"plan"`
			Gateway gatewayJSON   `json:"gateway"`
		}{plan, toJSON(g, false, now)})
	}
	io := o.F.IO
	fmt.Fprintln(io.Out)
	return writeTree(io.Out, treeOf(g), treeOptions{TTY: io.IsStdoutTTY(), Color: io.Color(), Now: now})
}

// confirm asks a yes/no question on the terminal. Without a terminal (or in
// CI) it refuses rather than guess: scripts pass -y.
func confirm(s *IOStreams, yes bool, question string) error {
	if yes {
		return nil
	}
	if !s.CanPrompt() {
		return usageErrorf("refusing to continue without confirmation: no terminal to ask on; pass -y to confirm")
	}
	fmt.Fprintf(s.ErrOut, "%s [y/N] ", question)
	var answer string
	if _, err := fmt.Fscanln(s.In, &answer); err != nil && !errors.Is(err, io.EOF) && err.Error() != "unexpected newline" {
		return err
	}
	switch strings.ToLower(strings.TrimSpace(answer)) {
	case "y", "yes":
		return nil
	}
	fmt.Fprintln(s.ErrOut, "Cancelled; nothing was changed.")
	return &silentError{code: ExitFailure}
}

// printPlan shows what an apply will do, Terraform style.
func printPlan(w io.Writer, p gateways.Plan) {
	fmt.Fprintf(w, "Plan: %s\n", p.Summary())
	for _, c := range p.Changes {
		how := "re-creates replicas"
		if c.InPlace {
			how = "in place"
		}
		fmt.Fprintf(w, "  ~ %s: %s → %s (%s)\n", c.Field, c.From, c.To, how)
	}
	if p.Forced && len(p.Changes) == 0 {
		fmt.Fprintln(w, "  ~ --force: every replica is re-created")
	}
	for _, a := range p.Add {
		fmt.Fprintf(w, "  + replica=%d in %s (attempt %d: %s)\n", a.Num, a.Region, a.Attempt, a.Reason)
	}
	for _, s := range p.Stop {
		fmt.Fprintf(w, "  - replica=%d (%s)\n", s.Num, s.Reason)
	}
}

func newGatewayCreateCmd(f *Factory) *cobra.Command {
	opts := &applyOptions{F: f, CreateOnly: true}
	cmd := &cobra.Command{
		Use:   "create -f FILE",
		Short: "Create a gateway from a spec; fail if it already exists",
		Long: `Like apply, but only ever creates: if a gateway of that name exists, nothing is
changed and the command fails. For scripts that must not modify what is there.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return applyRun(cmd.Context(), opts) },
	}
	bindApplyFlags(cmd, opts)
	return cmd
}
