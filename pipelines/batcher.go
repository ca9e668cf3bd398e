package pipelines

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/portico-dev/portico/backends"
)

// describeBatcher merges the Describe calls that replica steps make within a
// short window into one call per backend, so that waiting for 100 launches
// costs one DescribeInstances per polling round instead of 100. Each step
// still reads like it describes its own instance.
type describeBatcher struct {
	window time.Duration
	max    int
	mu     sync.Mutex
	open   map[backends.Backend]*describeBatch
}

type describeBatch struct {
	refs    []backends.InstanceRef
	waiters []chan describeResult
}

type describeResult struct {
	inst backends.Instance
	err  error
}

func newDescribeBatcher(window time.Duration) *describeBatcher {
	return &describeBatcher{window: window, max: 500, open: map[backends.Backend]*describeBatch{}}
}

// Describe describes one instance as part of the next batch for b.
func (d *describeBatcher) Describe(ctx context.Context, b backends.Backend, ref backends.InstanceRef, m *Metrics) (backends.Instance, error) {
	ch := make(chan describeResult, 1)
	d.mu.Lock()
	batch := d.open[b]
	if batch == nil {
		batch = &describeBatch{}
		d.open[b] = batch
		time.AfterFunc(d.window, func() { d.flush(b, batch, m) })
	}
	batch.refs = append(batch.refs, ref)
	batch.waiters = append(batch.waiters, ch)
	if len(batch.refs) >= d.max {
		delete(d.open, b)
		go d.run(b, batch, m)
	}
	d.mu.Unlock()
	select {
	case r := <-ch:
		return r.inst, r.err
	case <-ctx.Done():
		return backends.Instance{}, ctx.Err()
	}
}

func (d *describeBatcher) flush(b backends.Backend, batch *describeBatch, m *Metrics) {
	d.mu.Lock()
	if d.open[b] != batch {
		d.mu.Unlock()
		return // already sent because it filled up
	}
	delete(d.open, b)
	d.mu.Unlock()
	d.run(b, batch, m)
}

func (d *describeBatcher) run(b backends.Backend, batch *describeBatch, m *Metrics) {
	// The batch outlives any one step's context; bound it on its own.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	m.BackendCalls.Add(1)
	insts, err := b.Describe(ctx, batch.refs...)
	if err == nil && len(insts) != len(batch.refs) {
		err = fmt.Errorf("backend %s described %d instances for %d refs", b.Name(), len(insts), len(batch.refs))
	}
	if err != nil {
		m.BackendErrors.Add(1)
	}
	for i, w := range batch.waiters {
		if err != nil {
			w <- describeResult{err: err}
			continue
		}
		w <- describeResult{inst: insts[i]}
	}
}
