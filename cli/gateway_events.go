package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/portico-dev/portico/gateways"
)

type gatewayEventsOptions struct {
	IO      *IOStreams
	Service func(context.Context) (*gateways.Service, error)
	Name    string
	JSON    bool
	Limit   int
}

func newGatewayEventsCmd(f *Factory, run func(context.Context, *gatewayEventsOptions) error) *cobra.Command {
	opts := &gatewayEventsOptions{IO: f.IO, Service: f.Service}
	if run == nil {
		run = gatewayEventsRun
	}
	cmd := &cobra.Command{
		Use:   "events NAME",
		Short: "Show a gateway's history: every state change, oldest first",
		Long: `Show a gateway's history: applies, launches, health changes, replacements,
retries and deletion, oldest first. The history outlives the gateway.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			return run(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print events as JSON")
	cmd.Flags().IntVarP(&opts.Limit, "tail", "n", 0, "show only the last N events")
	return cmd
}

func gatewayEventsRun(ctx context.Context, o *gatewayEventsOptions) error {
	svc, err := o.Service(ctx)
	if err != nil {
		return err
	}
	evs, err := svc.Events(ctx, o.Name, o.Limit)
	if err != nil {
		return err
	}
	if o.JSON {
		return o.IO.writeJSON(o.IO.Out, evs)
	}
	if len(evs) == 0 {
		return fmt.Errorf("no events for gateway %q; `portico gateway list` shows the gateways there are", o.Name)
	}
	for _, e := range evs {
		fmt.Fprintf(o.IO.Out, "%s  %-8s %s\n", e.At.Local().Format("2006-01-02 15:04:05.000"), e.Kind, e.Message)
	}
	return nil
}
