package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/portico-dev/portico/pipelines"
)

type sweepOptions struct {
	F      *Factory
	DryRun bool
	Grace  time.Duration
	JSON   bool
}

func newSweepCmd(f *Factory, run func(context.Context, *sweepOptions) error) *cobra.Command {
	o := &sweepOptions{F: f}
	if run == nil {
		run = sweepRun
	}
	cmd := &cobra.Command{
		Use:   "sweep",
		Short: "Terminate instances of this installation that no record claims",
		Long: `List every instance tagged by this installation, compare with the records, and
terminate those with no live record that are older than the grace period
(instances left behind by a crash between a launch and its record). Untagged
instances and other installations' are never touched. A running server does
this periodically; this command runs it once.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return run(cmd.Context(), o) },
	}
	cmd.Flags().BoolVar(&o.DryRun, "dry-run", false, "print what would be terminated, terminate nothing")
	cmd.Flags().DurationVar(&o.Grace, "grace", pipelines.DefaultSweepGrace, "leave unrecorded instances younger than this alone")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print the findings as JSON")
	return cmd
}

func sweepRun(ctx context.Context, o *sweepOptions) error {
	st, err := o.F.Store(ctx)
	if err != nil {
		return err
	}
	reg, err := o.F.Backends()
	if err != nil {
		return err
	}
	rep, err := pipelines.Sweep(ctx, st, reg, pipelines.SweepOptions{Grace: o.Grace, DryRun: o.DryRun})
	if o.JSON {
		if jerr := o.F.IO.writeJSON(o.F.IO.Out, rep); jerr != nil {
			return jerr
		}
		return err
	}
	w := o.F.IO.Out
	if rep.Skipped {
		fmt.Fprintln(w, "Another server is sweeping right now; nothing done.")
		return err
	}
	rows := [][]string{}
	for _, f := range rep.Findings {
		rows = append(rows, []string{f.Backend, f.Instance.Region, f.Instance.ID, f.Instance.Gateway, f.Action, f.Reason})
	}
	if len(rows) > 0 {
		if terr := writeTable(w, []string{"BACKEND", "REGION", "INSTANCE", "GATEWAY", "ACTION", "REASON"}, rows); terr != nil {
			return terr
		}
	}
	verb := "terminated"
	if o.DryRun {
		verb = "would terminate"
	}
	fmt.Fprintf(w, "%d instance(s) checked; %s %d orphan(s)\n", len(rep.Findings), verb, len(rep.Orphans()))
	return err
}
