package backends

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
)

// Factory builds a backend on first use, from settings it closed over.
type Factory func(ctx context.Context) (Backend, error)

// Registry maps backend names to factories and keeps each backend once built.
// The CLI fills it explicitly; nothing registers itself.
type Registry struct {
	mu        sync.Mutex
	factories map[string]Factory
	built     map[string]Backend
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{factories: map[string]Factory{}, built: map[string]Backend{}}
}

// Register adds a backend under name, replacing any earlier one.
func (r *Registry) Register(name string, f Factory) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.factories[name] = f
	delete(r.built, name)
}

// Names lists the registered backends, sorted.
func (r *Registry) Names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	names := make([]string, 0, len(r.factories))
	for n := range r.factories {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Has reports whether name is registered.
func (r *Registry) Has(name string) bool {
	return slices.Contains(r.Names(), name)
}

// Get returns the backend called name, building it on first use.
func (r *Registry) Get(ctx context.Context, name string) (Backend, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if b, ok := r.built[name]; ok {
		return b, nil
	}
	f, ok := r.factories[name]
	if !ok {
		return nil, fmt.Errorf("unknown backend %q", name)
	}
	b, err := f(ctx)
	if err != nil {
		return nil, err
	}
	r.built[name] = b
	return b, nil
}
