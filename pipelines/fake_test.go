package pipelines

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-dev/portico/backends"
)

// fakeBackend is a narrow in-memory cloud for the pipelines' tests. Like a
// real one it is idempotent on the launch token (same token, same instance),
// reports unknown instances as terminated, and treats terminating a gone
// instance as success. Each instance gets an httptest server as its hostname,
// answering probes with a status the test controls.
//
// The hook fields are read under mu at call time; set them before an engine
// runs (or between engines).
type fakeBackend struct {
	// BeforeLaunch runs before the instance exists: block on a gate, or
	// return an error to inject one. call counts Launch calls for the token,
	// from 1.
	BeforeLaunch func(ctx context.Context, req backends.LaunchRequest, call int) error
	// AfterLaunch runs once the instance exists, before the reply: an error
	// here is a reply lost after the cloud acted.
	AfterLaunch func(ctx context.Context, req backends.LaunchRequest, inst backends.Instance) error
	// DescribeErr, when it returns an error, fails a whole Describe call.
	DescribeErr func(refs []backends.InstanceRef) error
	// RunAfter is how many describes an instance stays pending: 0 runs it at
	// launch, -1 keeps it pending until setState.
	RunAfter int
	// Poll is the poll interval the backend advertises; 0 means 100ms.
	Poll time.Duration

	mu         sync.Mutex
	seq        int
	byID       map[string]*fakeInstance
	byToken    map[string]*fakeInstance
	launches   []backends.LaunchRequest
	describes  [][]backends.InstanceRef
	terminates []string
	lists      []backends.ListFilter
	inflight   int
	maxFlight  int
	servers    []*httptest.Server
}

type fakeInstance struct {
	inst      backends.Instance
	describes int
	code      atomic.Int32 // status the health endpoint answers
	flap      atomic.Bool  // alternate 200 and 503, one per request
	probes    atomic.Int64
}

func newFake(t testing.TB) *fakeBackend {
	f := &fakeBackend{byID: map[string]*fakeInstance{}, byToken: map[string]*fakeInstance{}}
	t.Cleanup(func() {
		f.mu.Lock()
		srvs := f.servers
		f.mu.Unlock()
		for _, s := range srvs {
			s.Close()
		}
	})
	return f
}

func (f *fakeBackend) Name() string { return "fake" }

func (f *fakeBackend) Capabilities() backends.Capabilities {
	poll := f.Poll
	if poll == 0 {
		poll = 100 * time.Millisecond
	}
	return backends.Capabilities{DefaultRegion: "r1", PollInterval: poll}
}

func (f *fakeBackend) Launch(ctx context.Context, req backends.LaunchRequest) (backends.Instance, error) {
	f.mu.Lock()
	f.launches = append(f.launches, req)
	call := 0
	for _, l := range f.launches {
		if l.Token == req.Token {
			call++
		}
	}
	f.inflight++
	f.maxFlight = max(f.maxFlight, f.inflight)
	before, after := f.BeforeLaunch, f.AfterLaunch
	f.mu.Unlock()
	defer func() { f.mu.Lock(); f.inflight--; f.mu.Unlock() }()

	if before != nil {
		if err := before(ctx, req, call); err != nil {
			return backends.Instance{}, err
		}
	}
	if err := ctx.Err(); err != nil {
		return backends.Instance{}, err
	}
	inst := f.create(req)
	if after != nil {
		if err := after(ctx, req, inst); err != nil {
			return backends.Instance{}, err
		}
	}
	return inst, nil
}

// create returns the token's instance, starting it if there is none.
func (f *fakeBackend) create(req backends.LaunchRequest) backends.Instance {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fi := f.byToken[req.Token]; fi != nil {
		return fi.snapshot()
	}
	f.seq++
	fi := &fakeInstance{}
	fi.code.Store(http.StatusOK)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n := fi.probes.Add(1)
		code := int(fi.code.Load())
		if fi.flap.Load() && n%2 == 0 {
			code = http.StatusServiceUnavailable
		}
		w.WriteHeader(code)
	}))
	f.servers = append(f.servers, srv)
	state := backends.StatePending
	if f.RunAfter == 0 {
		state = backends.StateRunning
	}
	fi.inst = backends.Instance{ID: fmt.Sprintf("i-%04d", f.seq), Region: req.Region, Zone: req.Region + "a",
		State: state, Hostname: srv.Listener.Addr().String(), Token: req.Token, Install: req.Install,
		Gateway: req.Gateway, ReplicaNum: req.ReplicaNum, LaunchedAt: time.Now(), Data: map[string]string{"fake": "yes"}}
	f.byID[fi.inst.ID], f.byToken[req.Token] = fi, fi
	return fi.snapshot()
}

func (fi *fakeInstance) snapshot() backends.Instance {
	i := fi.inst
	i.Data = maps.Clone(i.Data)
	return i
}

func (f *fakeBackend) Describe(_ context.Context, refs ...backends.InstanceRef) ([]backends.Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.describes = append(f.describes, slices.Clone(refs))
	if f.DescribeErr != nil {
		if err := f.DescribeErr(refs); err != nil {
			return nil, err
		}
	}
	out := make([]backends.Instance, len(refs))
	for i, ref := range refs {
		fi := f.byID[ref.ID]
		if fi == nil {
			out[i] = backends.Instance{ID: ref.ID, Region: ref.Region, State: backends.StateTerminated}
			continue
		}
		fi.describes++
		if fi.inst.State == backends.StatePending && f.RunAfter > 0 && fi.describes >= f.RunAfter {
			fi.inst.State = backends.StateRunning
		}
		out[i] = fi.snapshot()
	}
	return out, nil
}

func (f *fakeBackend) Terminate(_ context.Context, ref backends.InstanceRef) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.terminates = append(f.terminates, ref.ID)
	if fi := f.byID[ref.ID]; fi != nil {
		fi.inst.State = backends.StateTerminated
	}
	return nil
}

func (f *fakeBackend) List(_ context.Context, filter backends.ListFilter) ([]backends.Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lists = append(f.lists, filter)
	var out []backends.Instance
	for _, fi := range f.byID {
		i := fi.inst
		if i.State.Gone() || i.Install != filter.Install || (filter.Gateway != "" && i.Gateway != filter.Gateway) ||
			(filter.Token != "" && i.Token != filter.Token) || (filter.Regions != nil && !slices.Contains(filter.Regions, i.Region)) {
			continue
		}
		out = append(out, fi.snapshot())
	}
	return out, nil
}

// Test controls and counters.

func (f *fakeBackend) setState(id string, s backends.InstanceState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.byID[id].inst.State = s
}

// terminateOutOfBand is someone deleting the instance in the cloud console.
func (f *fakeBackend) terminateOutOfBand(id string) { f.setState(id, backends.StateTerminated) }

func (f *fakeBackend) instance(id string) *fakeInstance {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.byID[id]
}

// instances returns every instance ever created, in creation order.
func (f *fakeBackend) instances() []backends.Instance {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]backends.Instance, 0, len(f.byID))
	for _, fi := range f.byID {
		out = append(out, fi.snapshot())
	}
	slices.SortFunc(out, func(a, b backends.Instance) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// live returns the instances not terminated.
func (f *fakeBackend) live() []backends.Instance {
	var out []backends.Instance
	for _, i := range f.instances() {
		if !i.State.Gone() {
			out = append(out, i)
		}
	}
	return out
}

func (f *fakeBackend) launchCalls() []backends.LaunchRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.launches)
}

func (f *fakeBackend) describeCalls() [][]backends.InstanceRef {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.describes)
}

func (f *fakeBackend) terminateCalls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.terminates)
}

func (f *fakeBackend) listCalls() []backends.ListFilter {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.lists)
}

func (f *fakeBackend) inFlight() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.inflight
}

func (f *fakeBackend) maxConcurrentLaunches() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.maxFlight
}

// gate holds launches until it is opened; a cancelled context lets them go
// with its error, so stopping an engine never hangs on a closed gate.
type gate chan struct{}

func newGate() gate { return make(gate) }

func (g gate) open() { close(g) }

func (g gate) wait(ctx context.Context) error {
	select {
	case <-g:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
