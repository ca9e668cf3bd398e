package pipelines

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// leaseSet tracks the replica leases this engine holds, when each was last
// known good, and lets a step tell whether it may still start cloud work.
type leaseSet struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[int64]*lease
	// renewing is set while a heartbeat renews these leases (Run). Without
	// one (Pass, WaitIdle) nothing is renewed, so steps are not fenced
	// mid-flight for a lease that was never meant to be extended.
	renewing atomic.Bool
}

type lease struct {
	token   string
	renewed time.Time // local monotonic time the database last confirmed it
	lost    bool
	// cancel ends the context of the step's cloud calls when the lease can
	// no longer be shown to be held.
	cancel context.CancelCauseFunc
}

func newLeaseSet(ttl time.Duration) *leaseSet {
	return &leaseSet{ttl: ttl, m: map[int64]*lease{}}
}

func (s *leaseSet) add(id int64, token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[id] = &lease{token: token, renewed: time.Now()}
}

// remove forgets the lease on id if it is still the one taken with token.
// A step releases its row before its goroutine ends, so the next pass may
// already have claimed the row again under a new token; removing by id alone
// dropped that new lease, which then was never renewed and failed valid().
func (s *leaseSet) remove(id int64, token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l, ok := s.m[id]; ok && l.token == token {
		delete(s.m, id)
	}
}

// bind ties a step's cloud-call context to the lease on id.
func (s *leaseSet) bind(id int64, cancel context.CancelCauseFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l, ok := s.m[id]; ok {
		l.cancel = cancel
	}
}

// fence cancels, with cause errFenced, the cloud calls of every step whose
// lease can no longer be shown to be held. It only acts while a heartbeat
// renews leases: without one (Pass, WaitIdle) nothing is ever renewed, so
// nothing is fenced mid-flight.
func (s *leaseSet) fence() {
	if !s.renewing.Load() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.m {
		if l.cancel != nil && (l.lost || time.Since(l.renewed) >= s.ttl-s.ttl/3) {
			l.cancel(errFenced)
			l.cancel = nil
		}
	}
}

// valid reports whether the lease is held with a safety margin of a third of
// the TTL: a worker that cannot renew stops starting side effects well before
// another worker may claim the row (self-fencing).
func (s *leaseSet) valid(id int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.m[id]
	return ok && !l.lost && time.Since(l.renewed) < s.ttl-s.ttl/3
}

func (s *leaseSet) snapshot() (map[int64]string, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[int64]string, len(s.m))
	for id, l := range s.m {
		if !l.lost {
			out[id] = l.token
		}
	}
	return out, time.Now()
}

// renewed records a renewal round and returns the leases really lost: those
// still held under the same token. A row released by its step between the
// snapshot and the renewal is not lost, only done.
func (s *leaseSet) renewed(held map[int64]string, at time.Time, lost []int64) (really []int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	gone := map[int64]bool{}
	for _, id := range lost {
		gone[id] = true
	}
	for id, tok := range held {
		l, ok := s.m[id]
		if !ok || l.token != tok {
			continue
		}
		if gone[id] {
			l.lost = true
			really = append(really, id)
		} else {
			l.renewed = at
		}
	}
	return really
}

// heartbeat renews held leases every third of the TTL until ctx ends. A
// separate loop fences steps every thirtieth of the TTL, so that a renewal
// blocked on an unreachable database cannot delay fencing.
func (e *Engine) heartbeat(ctx context.Context) {
	e.leases.renewing.Store(true)
	defer e.leases.renewing.Store(false)
	go func() {
		t := time.NewTicker(max(e.cfg.LeaseTTL/30, time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				e.leases.fence()
			}
		}
	}()
	t := time.NewTicker(e.cfg.LeaseTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		held, at := e.leases.snapshot()
		if len(held) == 0 {
			continue
		}
		lost, err := e.st.RenewReplicaLeases(ctx, e.cfg.LeaseTTL, held)
		if err != nil {
			if ctx.Err() == nil {
				e.log.Warn("renew leases failed; steps will stop starting cloud work if this persists", "err", err)
			}
			continue
		}
		for _, id := range e.leases.renewed(held, at, lost) {
			e.cfg.Metrics.LeasesLost.Add(1)
			e.log.Warn("lease lost to another worker", "replica_id", id, "lock_token", held[id])
		}
	}
}
