package cli

import (
	"github.com/spf13/cobra"

	"github.com/portico-dev/portico/backends/local"
)

// newAgentCmd is the hidden command the local backend starts once per
// replica: a detached process that serves the gateway on a loopback port.
// Its flags belong to the local backend (AgentFlags/ParseAgentFlags), so
// the two cannot drift apart.
func newAgentCmd(_ *Factory) *cobra.Command {
	return &cobra.Command{
		Use:                "agent",
		Short:              "Run one local gateway replica (started by the local backend)",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := local.ParseAgentFlags(args)
			if err != nil {
				return &UsageError{Err: err}
			}
			return local.RunAgent(cmd.Context(), cfg)
		},
	}
}
