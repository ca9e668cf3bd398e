// Command portico provisions highly available gateways. See the README.
package main

import (
	"os"

	"github.com/portico-dev/portico/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], cli.System()))
}
