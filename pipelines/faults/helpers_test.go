package faults_test

import (
	"sync"

	"github.com/portico-dev/portico/backends"
	"github.com/portico-dev/portico/backends/awstest"
	"github.com/portico-dev/portico/models"
)

// current returns each slot's wanted row (newest attempt not asked to stop).
func current(g *models.Gateway) map[int]models.Replica {
	out := map[int]models.Replica{}
	for _, r := range g.Replicas {
		if c, ok := out[r.Num]; !r.StopRequested && (!ok || r.Attempt > c.Attempt) {
			out[r.Num] = r
		}
	}
	return out
}

// allRunning holds when the gateway runs n wanted replicas and every other
// row has finished.
func allRunning(n int) func(*models.Gateway) bool {
	return func(g *models.Gateway) bool {
		if g == nil || g.Status != models.GatewayRunning {
			return false
		}
		cur := current(g)
		if len(cur) != n {
			return false
		}
		for _, r := range g.Replicas {
			c := cur[r.Num]
			if c.ID == r.ID && r.Status != models.ReplicaRunning || c.ID != r.ID && !r.Status.Finished() {
				return false
			}
		}
		return true
	}
}

func byAttempt(g *models.Gateway, num, attempt int) (models.Replica, bool) {
	for _, r := range g.Replicas {
		if r.Num == num && r.Attempt == attempt {
			return r, true
		}
	}
	return models.Replica{}, false
}

// calls returns the fake's calls of action, in arrival order.
func (w *world) calls(action string) []awstest.Call {
	var out []awstest.Call
	for _, c := range w.fake.CallLog() {
		if c.Action == action {
			out = append(out, c)
		}
	}
	return out
}

// live returns the instances not shutting down or terminated that match.
func (w *world) live(match func(awstest.Instance) bool) []awstest.Instance {
	var out []awstest.Instance
	for _, in := range w.fake.Instances(region) {
		if in.State != "shutting-down" && in.State != "terminated" && (match == nil || match(in)) {
			out = append(out, in)
		}
	}
	return out
}

// all returns every instance that matches, whatever its state.
func (w *world) all(match func(awstest.Instance) bool) []awstest.Instance {
	var out []awstest.Instance
	for _, in := range w.fake.Instances(region) {
		if match == nil || match(in) {
			out = append(out, in)
		}
	}
	return out
}

// ids lists instances as "id(state,type)" for messages.
func ids(insts []awstest.Instance) []string {
	out := make([]string, 0, len(insts))
	for _, in := range insts {
		out = append(out, in.ID+"("+in.State+","+in.InstanceType+")")
	}
	return out
}

func ofGateway(name string) func(awstest.Instance) bool {
	return func(in awstest.Instance) bool { return in.Tags[backends.TagGateway] == name }
}

func withToken(token string) func(awstest.Instance) bool {
	return func(in awstest.Instance) bool { return in.Tags[backends.TagToken] == token }
}

// gate blocks hooks until opened. The world opens every gate before it
// stops engines and closes the fake, so nothing is left blocked.
type gate struct {
	once sync.Once
	ch   chan struct{}
}

func (w *world) newGate() *gate {
	g := &gate{ch: make(chan struct{})}
	w.mu.Lock()
	w.gates = append(w.gates, g)
	w.mu.Unlock()
	w.t.Cleanup(g.open)
	return g
}

func (w *world) openGates() {
	w.mu.Lock()
	gates := append([]*gate{}, w.gates...)
	w.mu.Unlock()
	for _, g := range gates {
		g.open()
	}
}

func (g *gate) open() { g.once.Do(func() { close(g.ch) }) }
func (g *gate) wait() { <-g.ch }
func (g *gate) isOpen() bool {
	select {
	case <-g.ch:
		return true
	default:
		return false
	}
}
