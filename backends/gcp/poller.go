package gcp

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"sync"
	"time"

	"cloud.google.com/go/compute/apiv1/computepb"

	"github.com/portico-dev/portico/backends"
)

// Every instance insert and delete returns a zonal operation that Launch
// and Terminate must see finish, and whose error field they must read
// themselves. Waiting on each with zoneOperations.wait costs a call per
// replica. The poller instead follows all the operations the process is
// waiting for at once: each round is one globalOperations.aggregatedList
// filtered on their names, and each caller is handed its operation once it
// is DONE. An operation that would be alone in a round is long-polled with
// zoneOperations.wait instead: one call that returns when the operation
// finishes is never dearer than a series of list rounds, so a lone launch
// costs what it always did.
const (
	// opFirstPoll is the wait before an operation is first looked at. It is
	// also the window in which a burst of launches gathers into one round.
	opFirstPoll = 100 * time.Millisecond
	// opMaxInterval caps the wait between two looks at an operation. Inserts
	// take 5 to 30 s on Compute Engine; a longer cap saves list rounds, a
	// shorter one notices the end sooner.
	opMaxInterval = 2 * time.Second
	// opTimeout bounds one caller's wait for an operation.
	opTimeout = 15 * time.Minute
	// opBatch caps the names in one list filter, as describeBatch does.
	opBatch = 100
	// opMaxMisses is how many list rounds may miss an operation (not listed
	// yet, or expired already) before it is long-polled on its own.
	opMaxMisses = 2
	// opCallTimeout bounds one list round, retries included, or one long
	// poll (the API holds a wait for up to two minutes).
	opCallTimeout = 3 * time.Minute
)

// opNameRE is what an operation name must look like to go into a filter.
var opNameRE = regexp.MustCompile(`^[a-z0-9][-a-z0-9]{0,127}$`)

type opKey struct{ zone, name string }

type opResult struct {
	op  *computepb.Operation
	err error
}

// pendingOp is an operation someone waits for. Guarded by opPoller.mu.
type pendingOp struct {
	key     opKey
	waiters map[chan opResult]struct{}
	due     time.Time // when a list round should next look at it
	polls   int       // looks so far
	misses  int       // list rounds in a row that did not show it
	// cancel ends its long poll; nil when none is in flight.
	cancel context.CancelFunc
}

// opPoller follows the operations callers wait for. Its loop goroutine runs
// only while some are pending, and each long poll runs in its own.
type opPoller struct {
	b      *backend
	ctx    context.Context // ends when the backend is closed
	cancel context.CancelFunc
	wake   chan struct{}
	wg     sync.WaitGroup

	mu        sync.Mutex
	pending   map[opKey]*pendingOp
	looping   bool
	longPolls int
	noList    bool // the list was refused: every operation is long-polled
	closed    bool
}

func newOpPoller(b *backend) *opPoller {
	ctx, cancel := context.WithCancel(context.Background())
	return &opPoller{b: b, ctx: ctx, cancel: cancel, wake: make(chan struct{}, 1), pending: map[opKey]*pendingOp{}}
}

// await returns the zonal operation op once it is DONE, as last read (its
// error field is the caller's to check). It fails when ctx ends, after
// opTimeout, or when the operation cannot be followed; other callers'
// operations are not affected. An operation already DONE returns at once.
func (p *opPoller) await(ctx context.Context, zone string, op *computepb.Operation) (*computepb.Operation, error) {
	if op.GetStatus() == computepb.Operation_DONE {
		return op, nil
	}
	key := opKey{zone, op.GetName()}
	ch := make(chan opResult, 1)
	if err := p.register(key, ch); err != nil {
		return nil, err
	}
	timeout := time.NewTimer(opTimeout)
	defer timeout.Stop()
	select {
	case r := <-ch:
		return r.op, r.err
	case <-ctx.Done():
		p.unregister(key, ch)
		return nil, fmt.Errorf("wait for operation %s: %w", key.name, ctx.Err())
	case <-timeout.C:
		p.unregister(key, ch)
		return nil, &backends.Error{Kind: backends.Transient, Code: "OPERATION_TIMEOUT",
			Message: fmt.Sprintf("operation %s in %s did not finish within %s", key.name, zone, opTimeout)}
	}
}

func (p *opPoller) register(key opKey, ch chan opResult) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return &backends.Error{Kind: backends.Transient, Code: "CLOSED", Message: "wait for operation " + key.name + ": the backend is closed"}
	}
	po := p.pending[key]
	if po == nil {
		po = &pendingOp{key: key, waiters: map[chan opResult]struct{}{}, due: time.Now().Add(jitter(opFirstPoll))}
		p.pending[key] = po
	}
	po.waiters[ch] = struct{}{}
	if !p.looping {
		p.looping = true
		p.wg.Add(1)
		go p.loop()
	}
	p.poke()
	return nil
}

// unregister removes a waiter that stopped waiting; an operation nobody
// waits for is no longer followed.
func (p *opPoller) unregister(key opKey, ch chan opResult) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if po := p.pending[key]; po != nil {
		delete(po.waiters, ch)
		if len(po.waiters) == 0 {
			p.drop(po)
		}
	}
}

// drop forgets po and ends its long poll. Caller holds p.mu.
func (p *opPoller) drop(po *pendingOp) {
	delete(p.pending, po.key)
	if po.cancel != nil {
		po.cancel()
	}
	p.poke()
}

// finish hands r to po's waiters (each has room for one) and forgets po.
// Each waiter gets its own copy of a *backends.Error, which callers amend
// (ZonesTried, Message); the operation itself is only ever read. Caller
// holds p.mu.
func (p *opPoller) finish(po *pendingOp, r opResult) {
	for ch := range po.waiters {
		if be, ok := r.err.(*backends.Error); ok {
			own := *be
			own.ZonesTried = slices.Clone(be.ZonesTried)
			r.err = &own
		}
		ch <- r
	}
	p.drop(po)
}

// poke makes the loop look at the pending operations again.
func (p *opPoller) poke() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// close fails every wait and stops the poller's goroutines.
func (p *opPoller) close() {
	p.mu.Lock()
	p.closed = true
	for _, po := range p.pending {
		p.finish(po, opResult{err: &backends.Error{Kind: backends.Transient, Code: "CLOSED",
			Message: "wait for operation " + po.key.name + ": the backend is closed"}})
	}
	p.mu.Unlock()
	p.cancel()
	p.wg.Wait()
}

// idle reports whether none of the poller's goroutines is running.
func (p *opPoller) idle() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.looping && p.longPolls == 0
}
