package pipelines

import (
	"context"
	"encoding/binary"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/dchest/siphash"

	"github.com/portico-dev/portico/gateways/store"
)

// Owner picks a gateway's preferred owner among live members by
// rendezvous (highest random weight) hashing: every member scores
// SipHash(key, member ‖ gateway) and the highest wins. Each gateway thus has
// one owner and a ready successor (the second highest), and when a member
// joins or dies only its own share of gateways changes hands. The key is
// per installation, so scores cannot be predicted from names alone.
func Owner(key []byte, members []string, gateway string) string {
	var k0, k1 uint64
	if len(key) >= 16 {
		k0, k1 = binary.LittleEndian.Uint64(key[:8]), binary.LittleEndian.Uint64(key[8:16])
	}
	best, bestScore := "", uint64(0)
	buf := make([]byte, 0, 64)
	for _, m := range members {
		buf = append(append(append(buf[:0], m...), 0), gateway...)
		score := siphash.Hash(k0, k1, buf)
		if best == "" || score > bestScore || (score == bestScore && m < best) {
			best, bestScore = m, score
		}
	}
	return best
}

// Membership keeps this server registered in the members table, learns
// who else is alive, and computes which gateways this server owns.
type Membership struct {
	Store    *store.Store
	Self     store.Member
	Interval time.Duration
	// OnChange is called after the owned set changes (to wake the engine).
	OnChange func()
	Logger   *slog.Logger

	key      []byte
	mu       sync.Mutex
	live     []store.Member
	owned    []int64
	lastBeat time.Time // local time of the last successful heartbeat
}

// Owned returns the ids of the gateways this server owns now. When this
// server cannot heartbeat for DeadAfter intervals, others consider it dead
// and take its gateways, so it owns nothing until it heartbeats again.
func (m *Membership) Owned() []int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if time.Since(m.lastBeat) > store.DeadAfter*m.Interval {
		return []int64{}
	}
	return append([]int64{}, m.owned...)
}

// Live returns the members alive at the last refresh.
func (m *Membership) Live() []store.Member {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]store.Member(nil), m.live...)
}

// Run heartbeats and refreshes ownership every Interval until ctx ends,
// then deregisters, so that others take over at once.
func (m *Membership) Run(ctx context.Context) (err error) {
	defer func() {
		// Deregister however Run ends, even when stopped during start-up,
		// so nobody follows a server that is gone.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if rerr := m.Store.RemoveMember(dctx, m.Self.ID); rerr != nil && err == nil {
			err = rerr
		}
	}()
	if m.key == nil {
		key, err := m.Store.ShardKey(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil // stopped before it started: a clean stop
			}
			return err
		}
		m.key = key
	}
	m.Refresh(ctx)
	t := time.NewTicker(m.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			m.Refresh(ctx)
		}
	}
}

// Refresh heartbeats once and recomputes the owned gateways.
func (m *Membership) Refresh(ctx context.Context) {
	if m.key == nil {
		key, err := m.Store.ShardKey(ctx)
		if err != nil {
			m.Logger.Warn("read shard key", "err", err)
			return
		}
		m.key = key
	}
	if err := m.Store.Heartbeat(ctx, m.Self); err != nil {
		if ctx.Err() == nil {
			m.Logger.Warn("heartbeat failed", "err", err)
		}
		return
	}
	beat := time.Now()
	live, err := m.Store.LiveMembers(ctx)
	if err != nil {
		m.Logger.Warn("list members", "err", err)
		return
	}
	refs, err := m.Store.GatewayRefs(ctx)
	if err != nil {
		m.Logger.Warn("list gateways", "err", err)
		return
	}
	_ = m.Store.PruneMembers(ctx, time.Hour)
	ids := make([]string, len(live))
	for i, l := range live {
		ids[i] = l.ID
	}
	var owned []int64
	for _, g := range refs {
		if Owner(m.key, ids, g.Name) == m.Self.ID {
			owned = append(owned, g.ID)
		}
	}
	sort.Slice(owned, func(i, j int) bool { return owned[i] < owned[j] })
	m.mu.Lock()
	changed := !equalIDs(owned, m.owned) || len(live) != len(m.live)
	m.live, m.owned, m.lastBeat = live, owned, beat
	m.mu.Unlock()
	if changed {
		m.Logger.Info("membership changed", "live_members", len(live), "owned_gateways", len(owned))
		if m.OnChange != nil {
			m.OnChange()
		}
	}
}

func equalIDs(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
