package gcp

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/compute/apiv1/computepb"

	"github.com/portico-dev/portico/backends"
)

// loop runs rounds when operations are due, and ends when none is pending.
func (p *opPoller) loop() {
	defer p.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		p.mu.Lock()
		if len(p.pending) == 0 || p.closed {
			p.looping = false
			p.mu.Unlock()
			return
		}
		next, ok := p.nextDue()
		p.mu.Unlock()
		var tick <-chan time.Time
		if ok {
			d := time.Until(next)
			if d <= 0 {
				p.round()
				continue
			}
			timer.Reset(d)
			tick = timer.C
		}
		select { // with no tick, every pending operation is long-polled
		case <-tick:
		case <-p.wake:
		case <-p.ctx.Done():
		}
		timer.Stop()
	}
}

// nextDue is the earliest due time of an operation that is not long-polled.
// Caller holds p.mu.
func (p *opPoller) nextDue() (time.Time, bool) {
	var next time.Time
	ok := false
	for _, po := range p.pending {
		if po.cancel == nil && (!ok || po.due.Before(next)) {
			next, ok = po.due, true
		}
	}
	return next, ok
}

// round looks at every pending operation that is not long-polled, due or
// not (one more name costs nothing): one list call per opBatch of them. An
// operation alone in the round, missing from lists, or with a name unfit
// for a filter is long-polled instead.
func (p *opPoller) round() {
	p.mu.Lock()
	var keys []opKey
	var lone *pendingOp
	for _, po := range p.pending {
		switch {
		case po.cancel != nil:
		case p.noList || po.misses >= opMaxMisses || !opNameRE.MatchString(po.key.name):
			p.longPoll(po)
		default:
			keys = append(keys, po.key)
			lone = po
		}
	}
	if len(keys) == 1 {
		p.longPoll(lone)
		keys = nil
	}
	p.mu.Unlock()
	slices.SortFunc(keys, func(a, b opKey) int { return strings.Compare(a.name, b.name) })
	for chunk := range slices.Chunk(keys, opBatch) {
		p.listRound(chunk)
	}
}

// listRound reads the operations named by keys with one aggregated list
// and settles each: DONE ones go to their waiters, the others wait longer.
func (p *opPoller) listRound(keys []opKey) {
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = k.name
	}
	ctx, cancel := context.WithTimeout(p.ctx, opCallTimeout)
	var ops []*computepb.Operation
	err := p.b.retry(ctx, "list operations", func(ctx context.Context) error {
		var err error
		ops, err = p.b.api.ListOperations(ctx, nameFilter(names))
		return err
	})
	cancel()
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil && backends.KindOf(err) == backends.Permanent {
		// Typically a role without compute.globalOperations.list: follow
		// each operation on its own from now on, as zoneOperations.get
		// permission suffices for that.
		if !p.noList {
			p.b.log.Warn("gcp: cannot list operations, waiting on each one instead", "error", err)
		}
		p.noList = true
		p.poke()
		return
	}
	found := make(map[opKey]*computepb.Operation, len(ops))
	for _, op := range ops {
		found[opKey{lastSegment(op.GetZone()), op.GetName()}] = op
	}
	for _, k := range keys {
		po := p.pending[k]
		if po == nil || po.cancel != nil {
			continue // nobody waits any more, or it is long-polled now
		}
		switch op := found[k]; {
		case err != nil:
			p.finish(po, opResult{err: err})
		case op == nil:
			po.misses++
			p.reschedule(po, now)
		case op.GetStatus() == computepb.Operation_DONE:
			p.finish(po, opResult{op: op})
		default:
			po.misses = 0
			p.reschedule(po, now)
		}
	}
}

// longPoll follows po with zoneOperations.wait in a goroutine of its own.
// Caller holds p.mu.
func (p *opPoller) longPoll(po *pendingOp) {
	ctx, cancel := context.WithTimeout(p.ctx, opCallTimeout)
	po.cancel = cancel
	p.longPolls++
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer cancel()
		var op *computepb.Operation
		err := p.b.retry(ctx, "wait for operation "+po.key.name, func(ctx context.Context) error {
			var err error
			op, err = p.b.api.WaitZoneOperation(ctx, po.key.zone, po.key.name)
			return err
		})
		p.mu.Lock()
		defer p.mu.Unlock()
		p.longPolls--
		if p.pending[po.key] != po {
			p.poke()
			return // nobody waits any more
		}
		po.cancel = nil
		switch {
		case isNotFound(err):
			p.finish(po, opResult{err: &backends.Error{Kind: backends.Transient, Code: "OPERATION_NOT_FOUND",
				Message: fmt.Sprintf("operation %s in %s is gone before it was seen to finish", po.key.name, po.key.zone), Err: err}})
		case err != nil:
			p.finish(po, opResult{err: err})
		case op.GetStatus() == computepb.Operation_DONE:
			p.finish(po, opResult{op: op})
		default: // the API may return before the operation is DONE
			p.reschedule(po, time.Now())
			p.poke()
		}
	}()
}

// reschedule counts a look at po and sets the next one. Caller holds p.mu.
func (p *opPoller) reschedule(po *pendingOp, now time.Time) {
	po.polls++
	po.due = now.Add(jitter(opInterval(po.polls)))
}

// opInterval is the wait after the given number of looks: opFirstPoll
// doubled each time, up to opMaxInterval.
func opInterval(polls int) time.Duration {
	d := opFirstPoll
	for range polls {
		if d *= 2; d >= opMaxInterval {
			return opMaxInterval
		}
	}
	return d
}

// jitter adds up to a quarter of d, so processes do not poll in step.
func jitter(d time.Duration) time.Duration {
	return d + time.Duration(rand.Int64N(int64(d)/4+1))
}
