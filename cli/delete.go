package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/portico-dev/portico/gateways"
)

type deleteOptions struct {
	F       *Factory
	Name    string
	File    string
	Yes     bool
	Detach  bool
	Timeout time.Duration
}

func bindDeleteFlags(cmd *cobra.Command, o *deleteOptions) {
	cmd.Flags().BoolVarP(&o.Yes, "yes", "y", false, "delete without asking for confirmation")
	cmd.Flags().BoolVar(&o.Detach, "detach", false, "return once deletion is requested, without waiting")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", 30*time.Minute, "give up waiting after this long (exit 1); 0 waits forever")
}

func newGatewayDeleteCmd(f *Factory, run func(context.Context, *deleteOptions) error) *cobra.Command {
	o := &deleteOptions{F: f}
	if run == nil {
		run = deleteRun
	}
	cmd := &cobra.Command{
		Use:     "delete NAME",
		Aliases: []string{"rm"},
		Short:   "Delete a gateway and terminate its replicas",
		Long: `Delete a gateway in any state, including while it is being provisioned: replicas
still launching are terminated as soon as their launch returns. Waits until
every replica is terminated and the gateway is removed, unless --detach.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Name = args[0]
			return run(cmd.Context(), o)
		},
	}
	bindDeleteFlags(cmd, o)
	return cmd
}

func newDeleteCmd(f *Factory, run func(context.Context, *deleteOptions) error) *cobra.Command {
	o := &deleteOptions{F: f}
	if run == nil {
		run = deleteRun
	}
	cmd := &cobra.Command{
		Use:   "delete -f FILE",
		Short: "Delete the gateway a spec describes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			name, data, err := readSpec(o.File, f.IO.In)
			if err != nil {
				return err
			}
			opts, err := f.SpecOptions()
			if err != nil {
				return err
			}
			spec, err := gateways.ParseSpec(name, data, opts)
			if err != nil {
				return err
			}
			o.Name = spec.Name
			return run(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVarP(&o.File, "file", "f", "", "gateway spec; - reads standard input")
	bindDeleteFlags(cmd, o)
	return cmd
}

func deleteRun(ctx context.Context, o *deleteOptions) error {
	f := o.F
	svc, g, err := loadGateway(ctx, f.Service, o.Name)
	if err != nil {
		return err
	}
	live := 0
	for _, r := range g.Replicas {
		if !r.Status.Finished() {
			live++
		}
	}
	fmt.Fprintf(f.IO.Out, "Plan: delete gateway %q and terminate its %d live replica(s)\n", g.Name, live)
	if err := confirm(f.IO, o.Yes, "Delete this gateway?"); err != nil {
		return err
	}
	g, removed, err := svc.Delete(ctx, o.Name)
	if err != nil {
		return notFoundHint(err, o.Name)
	}
	switch {
	case removed:
		fmt.Fprintf(f.IO.Out, "Gateway %q deleted.\n", g.Name)
		return nil
	case o.Detach:
		fmt.Fprintf(f.IO.Out, "Deletion of gateway %q requested; its replicas are terminated by a running `portico server`, or when you run this command again without --detach.\n", g.Name)
		return nil
	}
	if err := f.follow(ctx, svc, followOptions{Gateway: g.Name, ID: g.ID, Timeout: o.Timeout, Deleting: true}); err != nil {
		return err
	}
	fmt.Fprintf(f.IO.Out, "Gateway %q deleted: every replica terminated.\n", g.Name)
	return nil
}
