package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/portico-dev/portico/backends"
	"github.com/portico-dev/portico/gateways"
	"github.com/portico-dev/portico/models"
)

// maxSpecSize bounds what Portico reads as a spec.
const maxSpecSize = 1 << 20

// readSpec reads a spec file, or standard input for "-". It returns the
// name to show in messages.
func readSpec(file string, in io.Reader) (name string, data []byte, err error) {
	if file == "" {
		return "", nil, usageErrorf("no spec given: pass -f gateway.yml (or -f - to read standard input)")
	}
	name = file
	var r io.Reader
	if file == "-" {
		name, r = "<stdin>", in
	} else {
		fh, err := os.Open(file)
		if err != nil {
			return "", nil, &UsageError{Err: fmt.Errorf("read spec: %w", err)}
		}
		defer fh.Close()
		r = fh
	}
	data, err = io.ReadAll(io.LimitReader(r, maxSpecSize+1))
	if err != nil {
		return "", nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(data) > maxSpecSize {
		return "", nil, usageErrorf("%s: larger than %d bytes; a gateway spec is a few lines", name, maxSpecSize)
	}
	return name, data, nil
}

// loadSpec reads, parses and validates a spec, fills in backend defaults,
// and checks the backend is configured, all before anything is written.
func (f *Factory) loadSpec(ctx context.Context, file string) (*models.Spec, backends.Backend, error) {
	name, data, err := readSpec(file, f.IO.In)
	if err != nil {
		return nil, nil, err
	}
	opts, err := f.SpecOptions()
	if err != nil {
		return nil, nil, err
	}
	spec, err := gateways.ParseSpec(name, data, opts)
	if err != nil {
		return nil, nil, err
	}
	reg, err := f.Backends()
	if err != nil {
		return nil, nil, err
	}
	b, err := reg.Get(ctx, spec.Backend)
	if err != nil {
		var nc *backends.NotConfiguredError
		if errors.As(err, &nc) {
			return nil, nil, &UsageError{Err: fmt.Errorf("%s: %w", name, err)}
		}
		return nil, nil, fmt.Errorf("set up backend %q: %w", spec.Backend, err)
	}
	if len(spec.RegionList()) == 0 {
		spec.Region = b.Capabilities().DefaultRegion
	}
	return spec, b, nil
}
