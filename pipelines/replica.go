package pipelines

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/portico-dev/portico/backends"
	"github.com/portico-dev/portico/gateways/store"
	"github.com/portico-dev/portico/models"
)

// maxTransientLaunchErrors bounds launch retries on throttling and network
// faults before the attempt fails and the gateway's backoff takes over.
const maxTransientLaunchErrors = 5

// replicaStep is one worker's turn with one leased replica row.
type replicaStep struct {
	e       *Engine
	r       models.Replica
	gateway string
	spec    models.Spec
	b       backends.Backend
}

func (e *Engine) step(ctx context.Context, r models.Replica, g store.NamedSpec) {
	start := time.Now()
	defer func() { e.cfg.Metrics.observe("replica", time.Since(start)) }()
	s := &replicaStep{e: e, r: r, gateway: g.Name, spec: g.Spec}
	var err error
	if s.b, err = e.cfg.Backends.Get(ctx, r.Backend); err != nil {
		var nc *backends.NotConfiguredError
		if errors.As(err, &nc) && !r.LaunchRequested {
			s.fail(ctx, backends.Permanent, err.Error())
			return
		}
		e.log.Warn("backend unavailable", "backend", r.Backend, "err", err)
		e.release(ctx, &r, 10*time.Second)
		return
	}
	// The steps with cloud side effects run under the lease: a launch the
	// SDK keeps retrying (throttling) must stop before the lease can pass
	// to another worker, not only be checked once at its start.
	leased, stop := e.withLease(ctx, r.ID)
	defer stop()
	switch {
	case r.Status == models.ReplicaTerminating || (r.StopRequested && !r.Status.Finished()):
		s.terminate(leased)
	case r.Status == models.ReplicaPending:
		s.launch(leased)
	case r.Status == models.ReplicaProvisioning:
		s.poll(ctx)
	case r.Status.Serving():
		s.check(ctx)
	default:
		e.release(ctx, &r, time.Minute)
	}
}

// withLease returns ctx bound to the lease on replica id: while a heartbeat
// renews leases, the engine's fencing loop cancels it (cause errFenced) as
// soon as the lease can no longer be shown to be held (a third of the TTL
// before it could expire), so calls in flight (SDK retries, the next zone)
// stop in time. Writes are unaffected: save uses its own context.
func (e *Engine) withLease(ctx context.Context, id int64) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	e.leases.bind(id, cancel)
	return ctx, func() { cancel(nil) }
}

// save writes the step's results. Writes use a context that survives the
// engine's cancellation for a moment, so a result the cloud already
// produced is not lost to Ctrl-C.
func (e *Engine) save(ctx context.Context, r *models.Replica, o store.SaveOptions) error {
	if o.Release {
		// A release ends the step. Forget the lease first: a renewal already
		// in flight would otherwise find the row released and report the
		// lease lost to another worker.
		e.leases.remove(r.ID, r.LockToken)
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := e.st.SaveReplica(wctx, r, o)
	if errors.Is(err, store.ErrStaleLease) {
		e.cfg.Metrics.StaleWrites.Add(1)
		e.log.Warn("discarding results of a stale lease", "replica_id", r.ID, "lock_token", r.LockToken)
	} else if err != nil {
		e.log.Error("save replica", "replica_id", r.ID, "err", err)
	}
	return err
}

func (e *Engine) release(ctx context.Context, r *models.Replica, in time.Duration) {
	_ = e.save(ctx, r, store.SaveOptions{Release: true, ProcessIn: in})
}

// to moves the row to a new status and returns the event describing it.
func (s *replicaStep) to(status models.ReplicaStatus, msg string) string {
	ev := fmt.Sprintf("replica %d attempt %d: %s → %s", s.r.Num, s.r.Attempt, s.r.Status, status)
	if msg != "" {
		ev += ": " + msg
	}
	s.r.Status, s.r.StatusMessage = status, msg
	return ev
}

func (s *replicaStep) done(ctx context.Context, in time.Duration, events ...string) {
	_ = s.e.save(ctx, &s.r, store.SaveOptions{Release: true, ProcessIn: in, Events: events})
}

func (s *replicaStep) fail(ctx context.Context, kind backends.ErrorKind, msg string) {
	now := s.e.now()
	s.r.ErrorKind, s.r.FinishedAt = kind.String(), &now
	s.done(ctx, 0, s.to(models.ReplicaFailed, msg))
}

func (s *replicaStep) request(resume bool) backends.LaunchRequest {
	h := s.spec.EffectiveHealth()
	return backends.LaunchRequest{
		Token: s.r.Token, Install: s.e.install, Gateway: s.gateway, ReplicaNum: s.r.Num, Attempt: s.r.Attempt,
		Region: s.r.Region, ZoneIndex: s.r.ZoneIndex, InstanceType: s.spec.InstanceType, PublicIP: s.spec.WantsPublicIP(),
		Domain: s.spec.Domain, Tags: s.spec.Tags, HealthPath: h.Path, HealthPort: h.Port, Resume: resume,
	}
}

// launch starts the instance. The row says a launch was requested before
// the call, so a crash at any point is followed by adoption, not a second
// instance; the instance id is saved the moment the backend returns it.
func (s *replicaStep) launch(ctx context.Context) {
	e := s.e
	if err := e.fenced(s.r); err != nil {
		e.release(ctx, &s.r, time.Second)
		return
	}
	resume := s.r.LaunchRequested
	if !resume {
		s.r.LaunchRequested = true
		if err := e.save(ctx, &s.r, store.SaveOptions{}); err != nil {
			return
		}
	}
	e.cfg.Metrics.BackendCalls.Add(1)
	e.cfg.Metrics.Launches.Add(1)
	inst, err := s.b.Launch(ctx, s.request(resume))
	if err != nil {
		e.cfg.Metrics.BackendErrors.Add(1)
		s.launchFailed(ctx, err, resume)
		return
	}
	s.adopt(inst)
	if inst.State == backends.StateRunning && inst.Hostname != "" {
		s.running(ctx, fmt.Sprintf("launched %s in %s, serving at %s", inst.ID, zoneOr(inst), inst.Hostname))
		return
	}
	s.done(ctx, s.b.Capabilities().PollInterval,
		s.to(models.ReplicaProvisioning, fmt.Sprintf("launched %s in %s", inst.ID, zoneOr(inst))))
}

func zoneOr(i backends.Instance) string {
	if i.Zone != "" {
		return i.Zone
	}
	return i.Region
}

func (s *replicaStep) launchFailed(ctx context.Context, err error, resume bool) {
	if ctx.Err() != nil {
		// Shutting down: the launch may or may not have reached the
		// provider; the next run adopts whatever it finds by token.
		s.e.release(ctx, &s.r, 0)
		return
	}
	kind := backends.KindOf(err)
	if kind == backends.Transient {
		n, _ := strconv.Atoi(s.r.BackendData["launch_errors"])
		if n+1 < maxTransientLaunchErrors {
			s.setData("launch_errors", strconv.Itoa(n+1))
			// 1, 2, 4, 8 s, each ±20% so that throttled replicas spread out.
			wait := time.Duration(float64(time.Duration(1<<n)*time.Second) * (0.8 + 0.4*rand.Float64()))
			s.done(ctx, wait, fmt.Sprintf("replica %d attempt %d: launch failed, retrying in %s with the same token: %v", s.r.Num, s.r.Attempt, wait, err))
			return
		}
	}
	if resume {
		// An earlier call with this token may have started an instance
		// whose id never reached the row (a lost reply, a crash). Failing
		// the row outright left that instance running unrecorded while the
		// gateway pipeline launched a replacement under a new token; end
		// through terminate instead, which finds it by token first.
		s.r.FinalStatus, s.r.ErrorKind = models.ReplicaFailed, kind.String()
		s.done(ctx, 0, s.to(models.ReplicaTerminating, err.Error()))
		return
	}
	s.fail(ctx, kind, err.Error())
}

func (s *replicaStep) setData(k, v string) {
	if s.r.BackendData == nil {
		s.r.BackendData = map[string]string{}
	}
	s.r.BackendData[k] = v
}

// adopt copies what the backend reported into the row.
func (s *replicaStep) adopt(inst backends.Instance) {
	if inst.ID != "" {
		s.r.InstanceID = inst.ID
	}
	if inst.Zone != "" {
		s.r.Zone = inst.Zone
	}
	if inst.Hostname != "" {
		s.r.Hostname = inst.Hostname
	}
	if len(inst.Data) > 0 {
		if s.r.BackendData == nil {
			s.r.BackendData = map[string]string{}
		}
		maps.Copy(s.r.BackendData, inst.Data)
	}
}

func (s *replicaStep) running(ctx context.Context, msg string) {
	now := s.e.now()
	s.r.RunningAt, s.r.HealthFailures, s.r.UnhealthySince = &now, 0, nil
	next := s.spec.EffectiveHealth().Period.D()
	s.done(ctx, next, s.to(models.ReplicaRunning, msg))
}

func (s *replicaStep) ref() backends.InstanceRef {
	return backends.InstanceRef{ID: s.r.InstanceID, Region: s.r.Region, Zone: s.r.Zone}
}

// poll waits for a launched instance to run, through the describe batcher.
func (s *replicaStep) poll(ctx context.Context) {
	poll := s.b.Capabilities().PollInterval
	inst, err := s.e.batcher.Describe(ctx, s.b, s.ref(), s.e.cfg.Metrics)
	if err != nil {
		s.e.release(ctx, &s.r, 2*poll)
		return
	}
	s.adopt(inst)
	since := time.Duration(0)
	if s.r.LaunchedAt != nil {
		since = s.e.now().Sub(*s.r.LaunchedAt)
	}
	switch {
	case inst.State == backends.StateRunning && inst.Hostname != "":
		s.running(ctx, "serving at "+inst.Hostname)
	case inst.State.Gone() && since < s.b.Capabilities().ConsistencyDelay:
		s.done(ctx, poll)
	case inst.State.Gone():
		s.fail(ctx, backends.Transient, "instance "+inst.ID+" disappeared while starting")
	case inst.State == backends.StateStopping || inst.State == backends.StateStopped:
		s.terminateAfterFailure(ctx, "instance "+inst.ID+" stopped while starting")
	case since > s.e.cfg.ProvisionTimeout:
		s.terminateAfterFailure(ctx, fmt.Sprintf("instance %s did not run within %s", inst.ID, s.e.cfg.ProvisionTimeout))
	default:
		s.done(ctx, poll)
	}
}

func (s *replicaStep) terminateAfterFailure(ctx context.Context, msg string) {
	s.r.FinalStatus, s.r.ErrorKind = models.ReplicaFailed, backends.Transient.String()
	s.done(ctx, 0, s.to(models.ReplicaTerminating, msg))
}

// terminate ends the instance, including one a crashed launch may have
// started without the record ever learning its id.
func (s *replicaStep) terminate(ctx context.Context) {
	e := s.e
	if err := e.fenced(s.r); err != nil {
		e.release(ctx, &s.r, time.Second)
		return
	}
	var events []string
	if s.r.Status != models.ReplicaTerminating {
		reason := s.r.StatusMessage
		if s.r.StopRequested {
			reason = "stop requested"
		}
		events = append(events, s.to(models.ReplicaTerminating, reason))
	}
	refs, err := s.instancesToStop(ctx)
	if errors.Is(err, errNotListedYet) {
		events = append(events, fmt.Sprintf("replica %d attempt %d: waiting for %s to list what the interrupted launch may have started",
			s.r.Num, s.r.Attempt, s.r.Backend))
		s.done(ctx, 5*time.Second, events...)
		return
	}
	for _, ref := range refs {
		if err != nil {
			break
		}
		e.cfg.Metrics.BackendCalls.Add(1)
		err = s.b.Terminate(ctx, ref)
	}
	if err != nil {
		e.cfg.Metrics.BackendErrors.Add(1)
		events = append(events, fmt.Sprintf("replica %d attempt %d: terminate failed, will retry: %v", s.r.Num, s.r.Attempt, err))
		s.done(ctx, 5*time.Second, events...)
		return
	}
	final := models.ReplicaTerminated
	if s.r.FinalStatus == models.ReplicaFailed {
		final = models.ReplicaFailed
	}
	now := s.e.now()
	s.r.FinishedAt = &now
	msg := s.r.StatusMessage
	if final == models.ReplicaTerminated {
		msg = ""
	}
	s.done(ctx, 0, append(events, s.to(final, msg))...)
}

func (s *replicaStep) instancesToStop(ctx context.Context) ([]backends.InstanceRef, error) {
	if s.r.InstanceID != "" {
		return []backends.InstanceRef{s.ref()}, nil
	}
	if !s.r.LaunchRequested {
		return nil, nil
	}
	s.e.cfg.Metrics.BackendCalls.Add(1)
	found, err := s.b.List(ctx, backends.ListFilter{Install: s.e.install, Token: s.r.Token, Regions: []string{s.r.Region}})
	if err == nil && len(found) == 0 && s.r.LaunchRequestedAt != nil &&
		s.e.now().Sub(*s.r.LaunchRequestedAt) < s.b.Capabilities().ConsistencyDelay {
		// The launch may have created an instance the provider does not
		// list yet; finishing now would leave it running unrecorded.
		return nil, errNotListedYet
	}
	refs := make([]backends.InstanceRef, 0, len(found))
	for _, f := range found {
		refs = append(refs, f.Ref())
		if s.r.InstanceID == "" {
			s.adopt(f) // the record names the instance it stops
		}
	}
	return refs, err
}

var errNotListedYet = errors.New("the provider may not list the instance yet")
