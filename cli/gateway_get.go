package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/portico-dev/portico/gateways"
	"github.com/portico-dev/portico/gateways/store"
	"github.com/portico-dev/portico/models"
)

type gatewayGetOptions struct {
	IO      *IOStreams
	Service func(context.Context) (*gateways.Service, error)
	Name    string
	JSON    bool
	All     bool
}

func newGatewayGetCmd(f *Factory, run func(context.Context, *gatewayGetOptions) error) *cobra.Command {
	opts := &gatewayGetOptions{IO: f.IO, Service: f.Service}
	if run == nil {
		run = gatewayGetRun
	}
	cmd := &cobra.Command{
		Use:   "get NAME",
		Short: "Show one gateway, its spec and its replicas",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			return run(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the gateway as JSON")
	cmd.Flags().BoolVarP(&opts.All, "all", "a", false, "show every replica attempt")
	return cmd
}

func gatewayGetRun(ctx context.Context, o *gatewayGetOptions) error {
	svc, g, err := loadGateway(ctx, o.Service, o.Name)
	if err != nil {
		return err
	}
	now, err := svc.Store.Now(ctx)
	if err != nil {
		return err
	}
	if o.JSON {
		return o.IO.writeJSON(o.IO.Out, struct {
			gatewayJSON
			Spec any `json:"spec"`
		}{toJSON(g, o.All, now), g.Spec})
	}
	w := o.IO.Out
	fmt.Fprintf(w, "Name:       %s\n", g.Name)
	fmt.Fprintf(w, "Status:     %s\n", paint(string(g.Status), o.IO.Color()))
	if g.StatusMessage != "" {
		fmt.Fprintf(w, "Message:    %s\n", g.StatusMessage)
	}
	fmt.Fprintf(w, "Backend:    %s\n", g.Spec.Backend)
	fmt.Fprintf(w, "Regions:    %v\n", g.Spec.RegionList())
	if g.Spec.Domain != "" {
		fmt.Fprintf(w, "Domain:     %s\n", g.Spec.Domain)
	}
	fmt.Fprintf(w, "Replicas:   %d wanted\n", g.Spec.Replicas)
	fmt.Fprintf(w, "Revision:   %d\n", g.Revision)
	fmt.Fprintf(w, "Created:    %s (%s)\n\n", g.CreatedAt.Format("2006-01-02 15:04:05 MST"), ago(g.CreatedAt, now))
	return writeTree(w, treeOf(g), treeOptions{TTY: o.IO.IsStdoutTTY(), Color: o.IO.Color(), Verbose: true, All: o.All, Now: now})
}

// loadGateway opens the service and reads one gateway, with a helpful
// error when there is no such gateway.
func loadGateway(ctx context.Context, service func(context.Context) (*gateways.Service, error), name string) (*gateways.Service, *models.Gateway, error) {
	svc, err := service(ctx)
	if err != nil {
		return nil, nil, err
	}
	g, err := svc.Get(ctx, name)
	if err != nil {
		return nil, nil, notFoundHint(err, name)
	}
	return svc, g, nil
}

// notFoundHint turns a missing gateway into an error that says what exists.
func notFoundHint(err error, name string) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("gateway %q not found; `portico gateway list` shows the gateways there are", name)
	}
	return err
}
