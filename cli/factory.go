package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/portico-dev/portico/backends"
	"github.com/portico-dev/portico/gateways"
	"github.com/portico-dev/portico/gateways/store"
)

// Factory hands commands their dependencies, built on first use: a command
// that only prints its help opens no database.
type Factory struct {
	IO      *IOStreams
	Version string
	Logger  *slog.Logger

	// Flag values shared by all commands.
	DBFlag     string
	ConfigFlag string
	Verbose    int

	ran bool // a command started running (errors before that are usage errors)

	mu       sync.Mutex
	config   *Config
	store    *store.Store
	registry *backends.Registry
}

// Config returns the loaded config file.
func (f *Factory) Config() (*Config, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.config != nil {
		return f.config, nil
	}
	c, err := loadConfig(f.ConfigFlag)
	if err != nil {
		return nil, err
	}
	f.config = c
	return c, nil
}

// DSN says which database to use: --db, PORTICO_DB, the config file, or the
// SQLite file in Portico's home.
func (f *Factory) DSN() (string, error) {
	if f.DBFlag != "" {
		return f.DBFlag, nil
	}
	if v := os.Getenv("PORTICO_DB"); v != "" {
		return v, nil
	}
	cfg, err := f.Config()
	if err != nil {
		return "", err
	}
	if cfg.DB != "" {
		return cfg.DB, nil
	}
	h, err := home()
	if err != nil {
		return "", err
	}
	return filepath.Join(h, "portico.db"), nil
}

// Store opens the database once.
func (f *Factory) Store(ctx context.Context) (*store.Store, error) {
	dsn, err := f.DSN()
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.store != nil {
		return f.store, nil
	}
	st, err := store.Open(ctx, dsn)
	if err != nil {
		return nil, err
	}
	f.store = st
	return st, nil
}

// Service returns the gateway service over the store.
func (f *Factory) Service(ctx context.Context) (*gateways.Service, error) {
	st, err := f.Store(ctx)
	if err != nil {
		return nil, err
	}
	return gateways.NewService(st), nil
}

// Backends returns the registry of every backend Portico knows, each built
// on first use from the config file.
func (f *Factory) Backends() (*backends.Registry, error) {
	cfg, err := f.Config()
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.registry == nil {
		h, err := home()
		if err != nil {
			return nil, err
		}
		f.registry = newRegistry(cfg, h)
	}
	return f.registry, nil
}

// SpecOptions are the facts spec validation needs from this installation.
func (f *Factory) SpecOptions() (gateways.SpecOptions, error) {
	cfg, err := f.Config()
	if err != nil {
		return gateways.SpecOptions{}, err
	}
	return gateways.SpecOptions{MaxReplicas: cfg.MaxReplicas, Backends: backendNames, Regions: staticRegions}, nil
}

// Close releases what the factory opened.
func (f *Factory) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.store != nil {
		if err := f.store.Close(); err != nil {
			fmt.Fprintln(f.IO.ErrOut, "warning: close database:", err)
		}
		f.store = nil
	}
}
