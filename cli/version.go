package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

func newVersionCmd(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print Portico's version",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			commit := ""
			if bi, ok := debug.ReadBuildInfo(); ok {
				for _, s := range bi.Settings {
					if s.Key == "vcs.revision" && len(s.Value) >= 12 {
						commit = " (" + s.Value[:12] + ")"
					}
				}
			}
			_, err := fmt.Fprintf(f.IO.Out, "portico %s%s %s/%s %s\n", f.Version, commit, runtime.GOOS, runtime.GOARCH, runtime.Version())
			return err
		},
	}
}
