package cli

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/portico-dev/portico/gateways"
	"github.com/portico-dev/portico/models"
)

type gatewayListOptions struct {
	IO      *IOStreams
	Service func(context.Context) (*gateways.Service, error)
	JSON    bool
	Watch   bool
	Verbose bool
	All     bool
	// GlobalVerbose reads the global -v flag, which list treats like --long.
	GlobalVerbose func() bool
	// Interval between refreshes with --watch.
	Interval time.Duration
}

func newGatewayListCmd(f *Factory, run func(context.Context, *gatewayListOptions) error) *cobra.Command {
	opts := &gatewayListOptions{IO: f.IO, Service: f.Service, Interval: 2 * time.Second,
		GlobalVerbose: func() bool { return f.Verbose > 0 }}
	if run == nil {
		run = gatewayListRun
	}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List gateways and their replicas as a tree",
		Long: `List every gateway with one line per replica: its backend, region/zone,
hostname and status. Replicas replaced or removed in the last 15 minutes stay
visible; --all shows every attempt ever recorded.

On a terminal the output is an aligned tree; piped, it is tab-separated:
  gateway-name <TAB> <empty> <TAB> backend <TAB> regions <TAB> domain <TAB> status
  gateway-name <TAB> replica=N <TAB> backend <TAB> region/zone <TAB> hostname <TAB> status`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return run(cmd.Context(), opts) },
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print gateways as JSON (shape documented in the README)")
	cmd.Flags().BoolVarP(&opts.Watch, "watch", "w", false, "refresh every 2 seconds until interrupted")
	cmd.Flags().BoolVarP(&opts.Verbose, "long", "l", false, "also show created time and status messages (errors)")
	cmd.Flags().BoolVarP(&opts.All, "all", "a", false, "show every replica attempt, including old ones")
	return cmd
}

func gatewayListRun(ctx context.Context, o *gatewayListOptions) error {
	svc, err := o.Service(ctx)
	if err != nil {
		return err
	}
	if o.GlobalVerbose != nil && o.GlobalVerbose() {
		o.Verbose = true // `gateway list -v` shows the long form
	}
	if !o.Watch {
		return o.render(ctx, svc, o.IO.Out)
	}
	var last []byte
	t := time.NewTicker(o.Interval)
	defer t.Stop()
	for {
		var buf bytes.Buffer
		if err := o.render(ctx, svc, &buf); err != nil {
			return err
		}
		if !bytes.Equal(buf.Bytes(), last) || o.IO.IsStdoutTTY() {
			if o.IO.IsStdoutTTY() {
				fmt.Fprint(o.IO.Out, "\x1b[H\x1b[2J")
			} else if last != nil {
				fmt.Fprintln(o.IO.Out)
			}
			_, _ = o.IO.Out.Write(buf.Bytes())
			last = buf.Bytes()
		}
		select {
		case <-ctx.Done():
			return nil // the usual way to end a watch
		case <-t.C:
		}
	}
}

func (o *gatewayListOptions) render(ctx context.Context, svc *gateways.Service, w interface{ Write([]byte) (int, error) }) error {
	gws, err := svc.List(ctx)
	if err != nil {
		return err
	}
	now, err := svc.Store.Now(ctx)
	if err != nil {
		return err
	}
	if o.JSON {
		out := make([]gatewayJSON, 0, len(gws))
		for _, g := range gws {
			out = append(out, toJSON(g, o.All, now))
		}
		return o.IO.writeJSON(w, out)
	}
	if len(gws) == 0 && o.IO.IsStdoutTTY() {
		_, err := fmt.Fprintln(w, "No gateways. Create one with `portico apply -f gateway.yml`.")
		return err
	}
	return writeTree(w, gws, treeOptions{TTY: o.IO.IsStdoutTTY(), Color: o.IO.Color(), Verbose: o.Verbose, All: o.All, Now: now})
}

// one gateway as a one-element tree, for get/apply summaries.
func treeOf(g *models.Gateway) []*models.Gateway { return []*models.Gateway{g} }
