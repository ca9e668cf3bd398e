package cli

import "github.com/spf13/cobra"

func newGatewayCmd(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "gateway",
		Aliases: []string{"gateways", "gw"},
		Short:   "List, inspect and delete gateways",
	}
	cmd.AddCommand(
		newGatewayListCmd(f, nil),
		newGatewayCreateCmd(f),
		newGatewayGetCmd(f, nil),
		newGatewayDeleteCmd(f, nil),
		newGatewayEventsCmd(f, nil),
		newGatewayCheckCmd(f, nil),
		newGatewayDNSCmd(f, nil),
	)
	return cmd
}
