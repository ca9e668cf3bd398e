package gateways

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/portico-dev/portico/models"
)

// DefaultBackoff is how long a replica slot waits before trying again after
// launches that failed for lack of capacity or a transient fault: 1, 2, 5,
// 10 and 30 minutes, then 30 minutes until MaxAttempts.
var DefaultBackoff = []time.Duration{time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 30 * time.Minute}

// Policy holds the knobs of reconciliation that are not in the spec.
type Policy struct {
	Now time.Time
	// Backoff between failed launch attempts of one replica slot.
	Backoff []time.Duration
	// MaxAttempts bounds consecutive failed launches of one slot; after that
	// the gateway stays failed until the next apply.
	MaxAttempts int
}

func (p Policy) backoff(failures int) time.Duration {
	b := p.Backoff
	if b == nil {
		b = DefaultBackoff
	}
	if failures <= 0 || len(b) == 0 {
		return 0
	}
	return b[min(failures, len(b))-1]
}

func (p Policy) maxAttempts() int {
	if p.MaxAttempts <= 0 {
		return 6
	}
	return p.MaxAttempts
}

// NewReplica is a replica row reconciliation wants created.
type NewReplica struct {
	Num     int
	Attempt int
	Placement
	Reason string
}

// StopReplica is a replica row reconciliation wants ended.
type StopReplica struct {
	ID     int64
	Num    int
	Reason string
}

// Changes is what it takes to bring a gateway's replica rows to its spec.
type Changes struct {
	Add  []NewReplica
	Stop []StopReplica
	// Status and Message are the gateway's status after these changes.
	Status  models.GatewayStatus
	Message string
	// Remove is set when a deleting gateway has nothing left running.
	Remove bool
	// RecheckIn, when non-zero, is when a timer (a backoff, an unhealthy
	// grace) expires and the gateway needs looking at again.
	RecheckIn time.Duration
}

// slot is one replica number and its rows, newest attempt first.
type slot struct {
	num  int
	rows []models.Replica
}

// current is the newest row still wanted in the slot, if any.
func (s slot) current() (models.Replica, bool) {
	for _, r := range s.rows {
		if !r.StopRequested {
			return r, true
		}
	}
	return models.Replica{}, false
}

// olderLive are wanted rows older than current that still hold an instance:
// the replicas a replacement will retire once it runs.
func (s slot) olderLive() []models.Replica {
	var out []models.Replica
	seen := false
	for _, r := range s.rows {
		if r.StopRequested {
			continue
		}
		if !seen {
			seen = true
			continue
		}
		if !r.Status.Finished() {
			out = append(out, r)
		}
	}
	return out
}

// launchFailures counts the newest attempts of the slot that failed without
// ever running: the basis of its backoff.
func (s slot) launchFailures() int {
	n := 0
	for _, r := range s.rows {
		if r.Status != models.ReplicaFailed || r.RunningAt != nil {
			break
		}
		n++
	}
	return n
}

func slotsOf(rows []models.Replica) []slot {
	byNum := map[int][]models.Replica{}
	for _, r := range rows {
		byNum[r.Num] = append(byNum[r.Num], r)
	}
	out := make([]slot, 0, len(byNum))
	for n, rs := range byNum {
		sort.Slice(rs, func(i, j int) bool { return rs[i].Attempt > rs[j].Attempt })
		out = append(out, slot{num: n, rows: rs})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].num < out[j].num })
	return out
}

// Reconcile compares a gateway's spec with its replica rows and says which
// rows to create and which to end. It is pure: the apply transaction and the
// gateway pipeline both call it, so the plan a user sees and what the
// pipelines do are the same computation.
func Reconcile(g *models.Gateway, p Policy) Changes {
	slots := slotsOf(g.Replicas)
	if g.Deleting {
		return reconcileDelete(g, slots)
	}
	var ch Changes
	active := make([]slot, 0, len(slots))
	for _, s := range slots {
		if _, ok := s.current(); ok {
			active = append(active, s)
		}
	}
	want := max(g.Spec.Replicas, 0)
	if len(active) > want {
		keep, drop := chooseScaleIn(active, len(active)-want)
		for _, s := range drop {
			for _, r := range s.rows {
				if !r.StopRequested {
					ch.Stop = append(ch.Stop, StopReplica{ID: r.ID, Num: r.Num, Reason: "scale in"})
				}
			}
		}
		active = keep
	}
	if len(active) < want {
		ch.Add = append(ch.Add, scaleOut(g.Spec.RegionList(), slots, active, want-len(active))...)
	}
	reconcileSlots(g, p, active, &ch)
	sortChanges(&ch)
	return ch
}

func reconcileDelete(g *models.Gateway, slots []slot) Changes {
	ch := Changes{Status: g.Status, Message: "deleting", Remove: true}
	for _, s := range slots {
		for _, r := range s.rows {
			if !r.Status.Finished() {
				ch.Remove = false
				if !r.StopRequested {
					ch.Stop = append(ch.Stop, StopReplica{ID: r.ID, Num: r.Num, Reason: "gateway deleted"})
				}
			}
		}
	}
	return ch
}

// scaleInRank orders slots for removal: failed first, then pending, then
// provisioning, then unhealthy, then the oldest running.
func scaleInRank(r models.Replica) int {
	switch r.Status {
	case models.ReplicaFailed:
		return 0
	case models.ReplicaPending:
		return 1
	case models.ReplicaProvisioning:
		return 2
	case models.ReplicaUnhealthy:
		return 3
	default:
		return 4
	}
}

func chooseScaleIn(active []slot, n int) (keep, drop []slot) {
	ranked := slices.Clone(active)
	sort.SliceStable(ranked, func(i, j int) bool {
		a, _ := ranked[i].current()
		b, _ := ranked[j].current()
		if ra, rb := scaleInRank(a), scaleInRank(b); ra != rb {
			return ra < rb
		}
		if !a.CreatedAt.Equal(b.CreatedAt) {
			return a.CreatedAt.Before(b.CreatedAt)
		}
		return a.Num > b.Num
	})
	dropped := map[int]bool{}
	for _, s := range ranked[:n] {
		dropped[s.num] = true
		drop = append(drop, s)
	}
	for _, s := range active {
		if !dropped[s.num] {
			keep = append(keep, s)
		}
	}
	return keep, drop
}

// scaleOut adds slots at the lowest replica numbers not in use.
func scaleOut(regions []string, all, active []slot, n int) []NewReplica {
	inUse := map[int]bool{}
	var placed []Placement
	for _, s := range active {
		inUse[s.num] = true
		if r, ok := s.current(); ok {
			placed = append(placed, placementOf(r))
		}
	}
	nextAttempt := map[int]int{}
	for _, s := range all {
		nextAttempt[s.num] = s.rows[0].Attempt + 1
	}
	var out []NewReplica
	for num := 0; len(out) < n; num++ {
		if inUse[num] {
			continue
		}
		pl := Place(regions, placed)
		placed = append(placed, pl)
		out = append(out, NewReplica{Num: num, Attempt: max(nextAttempt[num], 1), Placement: pl, Reason: "scale out"})
	}
	return out
}

// reconcileSlots retries failed slots, replaces unhealthy replicas within the
// gateway's budget, retires replaced rows, and derives the gateway status.
func reconcileSlots(g *models.Gateway, p Policy, active []slot, ch *Changes) {
	h := g.Spec.EffectiveHealth()
	budget := MaxUnhealthy(h.MaxUnhealthy, g.Spec.Replicas)
	for _, s := range active {
		if len(s.olderLive()) > 0 {
			budget-- // a replacement is already under way in this slot
		}
	}
	var failedMsgs, waiting []string
	ready := len(ch.Add) == 0
	for _, s := range active {
		cur, _ := s.current()
		older := s.olderLive()
		switch cur.Status {
		case models.ReplicaRunning:
			for _, o := range older {
				ch.Stop = append(ch.Stop, StopReplica{ID: o.ID, Num: o.Num, Reason: fmt.Sprintf("replaced by attempt %d", cur.Attempt)})
			}
		case models.ReplicaUnhealthy:
			if len(older) > 0 || cur.UnhealthySince == nil {
				break
			}
			due := cur.UnhealthySince.Add(h.ReplaceAfter.D())
			if wait := due.Sub(p.Now); wait > 0 {
				ch.RecheckIn = minPositive(ch.RecheckIn, wait)
				break
			}
			if budget <= 0 {
				waiting = append(waiting, fmt.Sprintf("replica %d waits for a replacement slot", s.num))
				break
			}
			budget--
			ch.Add = append(ch.Add, NewReplica{Num: s.num, Attempt: cur.Attempt + 1, Placement: placementOf(cur),
				Reason: fmt.Sprintf("replace unhealthy attempt %d", cur.Attempt)})
		case models.ReplicaFailed:
			ready = false
			msg, retry, wait := retryFailed(s, cur, p)
			switch {
			case retry:
				ch.Stop = append(ch.Stop, StopReplica{ID: cur.ID, Num: cur.Num, Reason: "retried"})
				ch.Add = append(ch.Add, NewReplica{Num: s.num, Attempt: cur.Attempt + 1, Placement: placementOf(cur),
					Reason: fmt.Sprintf("retry after attempt %d failed", cur.Attempt)})
			case wait > 0:
				ch.RecheckIn = minPositive(ch.RecheckIn, wait)
				failedMsgs = append(failedMsgs, msg)
			default:
				failedMsgs = append(failedMsgs, msg)
			}
			continue
		default:
			ready = false
		}
		if cur.Status != models.ReplicaRunning && cur.Status != models.ReplicaUnhealthy {
			ready = false
		}
	}
	switch {
	case len(failedMsgs) > 0:
		ch.Status, ch.Message = models.GatewayFailed, strings.Join(failedMsgs, "; ")
	case ready:
		ch.Status = models.GatewayRunning
		ch.Message = strings.Join(waiting, "; ")
	default:
		ch.Status = models.GatewayProvisioning
	}
}

// retryFailed decides whether a failed slot gets a new attempt now, later
// (wait > 0), or never (permanent error, attempts exhausted).
func retryFailed(s slot, cur models.Replica, p Policy) (msg string, retry bool, wait time.Duration) {
	base := fmt.Sprintf("replica %d: %s", cur.Num, cur.StatusMessage)
	if cur.ErrorKind == "permanent" {
		return base, false, 0
	}
	failures := s.launchFailures()
	if failures >= p.maxAttempts() {
		return fmt.Sprintf("%s (gave up after %d attempts; re-run apply to retry)", base, failures), false, 0
	}
	finished := cur.UpdatedAt
	if cur.FinishedAt != nil {
		finished = *cur.FinishedAt
	}
	due := finished.Add(p.backoff(failures))
	if wait := due.Sub(p.Now); wait > 0 {
		return fmt.Sprintf("%s (attempt %d of %d; next in %s)", base, failures+1, p.maxAttempts(), wait.Round(time.Second)), false, wait
	}
	return base, true, 0
}

// MaxUnhealthy turns the max_unhealthy setting ("34%" or "2") into a count
// of replicas that may be replaced at once for a gateway of n replicas. It is
// never less than one, so a gateway can always heal.
func MaxUnhealthy(setting string, n int) int {
	v := 1
	switch {
	case strings.HasSuffix(setting, "%"):
		pct, err := strconv.Atoi(strings.TrimSuffix(setting, "%"))
		if err == nil {
			v = int(math.Floor(float64(n) * float64(pct) / 100))
		}
	case setting != "":
		if c, err := strconv.Atoi(setting); err == nil {
			v = c
		}
	}
	return max(v, 1)
}

func minPositive(a, b time.Duration) time.Duration {
	if a <= 0 || b < a {
		return b
	}
	return a
}

func sortChanges(ch *Changes) {
	sort.SliceStable(ch.Add, func(i, j int) bool { return ch.Add[i].Num < ch.Add[j].Num })
	sort.SliceStable(ch.Stop, func(i, j int) bool { return ch.Stop[i].Num < ch.Stop[j].Num })
}
