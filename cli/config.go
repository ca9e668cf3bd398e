package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"go.yaml.in/yaml/v3"
)

// Config is Portico's optional settings file (~/.portico/config.yml,
// --config, PORTICO_CONFIG): backend settings that are not per gateway.
// Credentials never go here; each provider's standard chain supplies them.
type Config struct {
	// DB is the default database when neither --db nor PORTICO_DB is set.
	DB string `yaml:"db"`
	// MaxReplicas raises (or lowers) the replicas limit of a spec.
	MaxReplicas   int `yaml:"max_replicas"`
	backendConfig `yaml:",inline"`

	path string
}

// home is Portico's state directory: PORTICO_HOME or ~/.portico.
func home() (string, error) {
	if h := os.Getenv("PORTICO_HOME"); h != "" {
		return h, nil
	}
	u, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find home directory (set PORTICO_HOME): %w", err)
	}
	return filepath.Join(u, ".portico"), nil
}

// loadConfig reads the config file. An explicitly named file must exist; the
// default one is optional. Unknown keys are errors, like in specs.
func loadConfig(explicit string) (*Config, error) {
	path, required := explicit, true
	if path == "" {
		path, required = os.Getenv("PORTICO_CONFIG"), true
	}
	if path == "" {
		h, err := home()
		if err != nil {
			return nil, err
		}
		path, required = filepath.Join(h, "config.yml"), false
	}
	cfg := &Config{path: path}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && !required {
		return cfg, nil
	}
	if err != nil {
		return nil, &UsageError{Err: fmt.Errorf("read config: %w", err)}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return nil, &UsageError{Err: fmt.Errorf("%s: %w", path, err)}
	}
	return cfg, nil
}
