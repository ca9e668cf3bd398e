package cli

import (
	"context"

	"github.com/portico-dev/portico/backends"
	"github.com/portico-dev/portico/backends/aws"
	"github.com/portico-dev/portico/backends/gcp"
	"github.com/portico-dev/portico/backends/local"
)

// backendConfig is the per-backend part of the config file.
type backendConfig struct {
	AWS aws.Config `yaml:"aws"`
	GCP gcp.Config `yaml:"gcp"`
}

// backendNames are the values a spec's backend field accepts.
var backendNames = []string{"aws", "gcp", "local"}

// staticRegions lists the regions a backend accepts without asking it, so a
// spec is validated before anything is built or called.
func staticRegions(backend string) []string {
	switch backend {
	case "aws":
		return append([]string(nil), aws.Regions...)
	case "gcp":
		return gcp.Regions()
	}
	return nil
}

// newRegistry registers every backend explicitly; each is built on first use.
func newRegistry(cfg *Config, home string) *backends.Registry {
	r := backends.NewRegistry()
	r.Register("local", func(context.Context) (backends.Backend, error) {
		return local.New(local.Config{StateDir: home})
	})
	r.Register("aws", func(ctx context.Context) (backends.Backend, error) {
		return aws.New(ctx, cfg.AWS)
	})
	r.Register("gcp", func(ctx context.Context) (backends.Backend, error) {
		return gcp.New(ctx, cfg.GCP)
	})
	return r
}
