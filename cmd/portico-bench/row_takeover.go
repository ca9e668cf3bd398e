package main

import (
	"context"
	"fmt"
	"time"

	"github.com/portico-dev/portico/backends/awstest"
	"github.com/portico-dev/portico/gateways/store"
	"github.com/portico-dev/portico/pipelines"
)

// Server settings of row 5, kept short so the row is quick.
const (
	takeoverHeartbeat = time.Second
	takeoverLease     = 5 * time.Second
	takeoverGateways  = 6
)

// rowTakeover measures row 5: three servers on PostgreSQL; the owner of a
// gateway is SIGKILLed while it holds the lease of that gateway's new
// replica (mid-launch); time until another server claims the replica.
func rowTakeover(ctx context.Context, h *harness, sz sizes) []*result {
	target := 3*takeoverHeartbeat + takeoverLease
	claim := &result{ID: "5", Name: "Server takeover, SIGKILL of the owner → another server claims the gateway's work", Unit: "s",
		Cond: fmt.Sprintf("3 `portico server` on PostgreSQL, --heartbeat %s --lease-ttl %s; %d aws gateways on the EC2 fake (launch latency 3 s); `apply --detach` scales one 1→2, its owner is killed while it holds the new replica's lease; %d kills",
			takeoverHeartbeat, takeoverLease, takeoverGateways, sz.takeoverReps),
		Ref: "3 heartbeats + 1 lease = " + target.String(), Target: "≤ " + target.String()}
	running := &result{ID: "5", Name: "Server takeover, SIGKILL of the owner → the new replica runs", Unit: "s",
		Cond: "same runs; includes the replayed RunInstances (3 s launch latency) and one 1 s poll"}
	for rep := range sz.takeoverReps {
		progress("row 5: takeover run %d/%d", rep+1, sz.takeoverReps)
		c, r, err := takeoverOnce(ctx, h)
		if err != nil {
			claim.Err, running.Err = err, err
			return []*result{claim, running}
		}
		claim.Samples, running.Samples = append(claim.Samples, secs(c)), append(running.Samples, secs(r))
	}
	claim.Ratio = fmt.Sprintf("%s× the bound", num(claim.median()/secs(target)))
	claim.judge(claim.median() <= secs(target))
	return []*result{claim, running}
}

func takeoverOnce(ctx context.Context, h *harness) (claimed, running time.Duration, err error) {
	dsn, drop, err := h.freshPG(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer drop()
	ec2 := awstest.NewServer(awstest.Options{LaunchLatency: 3 * time.Second})
	defer ec2.Close()
	o, err := h.awsHome("takeover", ec2, "", "PORTICO_DB="+dsn)
	if err != nil {
		return 0, 0, err
	}
	st, err := store.Open(ctx, dsn) // migrates before the servers start
	if err != nil {
		return 0, 0, err
	}
	defer st.Close()
	servers := map[string]*server{}
	defer func() {
		for _, s := range servers {
			s.kill()
		}
	}()
	for i := range 3 {
		id := fmt.Sprintf("bench-s%d", i)
		s, err := o.startServer(id, "--heartbeat", takeoverHeartbeat.String(), "--lease-ttl", takeoverLease.String(), "--sweep-interval", "0")
		if err != nil {
			return 0, 0, err
		}
		servers[id] = s
	}
	if err := waitLiveMembers(ctx, st, 3); err != nil {
		return 0, 0, err
	}
	time.Sleep(2 * takeoverHeartbeat) // every server has seen the other two
	var names []string
	for i := range takeoverGateways {
		name := fmt.Sprintf("takeover-%d", i)
		names = append(names, name)
		if _, err := o.run(ctx, gatewaySpec(name, "aws", "us-east-1", 1, ""), "apply", "-f", "-", "-y", "--detach"); err != nil {
			return 0, 0, err
		}
	}
	if err := waitConverged(ctx, st, 2*time.Minute, names...); err != nil {
		return 0, 0, err
	}
	// The chosen gateway's owner, computed as the servers compute it.
	key, err := st.ShardKey(ctx)
	if err != nil {
		return 0, 0, err
	}
	live, err := st.LiveMembers(ctx)
	if err != nil {
		return 0, 0, err
	}
	ids := make([]string, len(live))
	for i, m := range live {
		ids[i] = m.ID
	}
	name := names[0]
	owner := pipelines.Owner(key, ids, name)
	if _, err := o.run(ctx, gatewaySpec(name, "aws", "us-east-1", 2, ""), "apply", "-f", "-", "-y", "--detach"); err != nil {
		return 0, 0, err
	}
	err = poll(ctx, 30*time.Second, 5*time.Millisecond, "the owner to lease the new replica", func() (bool, error) {
		g, err := st.GetGateway(ctx, name)
		if err != nil {
			return false, err
		}
		r, ok := current(g, 1)
		return ok && r.LockOwner == owner && r.LaunchRequested, nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("%w (owner %s log: %s)", err, owner, tail(servers[owner].log))
	}
	servers[owner].kill()
	delete(servers, owner)
	t0 := time.Now()
	err = poll(ctx, time.Minute, 10*time.Millisecond, "another server to claim the replica", func() (bool, error) {
		g, err := st.GetGateway(ctx, name)
		if err != nil {
			return false, err
		}
		r, ok := current(g, 1)
		if ok && claimed == 0 && r.LockOwner != "" && r.LockOwner != owner {
			claimed = time.Since(t0)
		}
		if ok && claimed == 0 && r.LockOwner == "" && r.Status != "pending" {
			claimed = time.Since(t0) // claimed and released between two looks
		}
		return ok && r.Status == "running", nil
	})
	if err != nil {
		return 0, 0, err
	}
	running = time.Since(t0)
	if claimed == 0 {
		claimed = running // never seen leased: bounded by the time it ran
	}
	return claimed, running, nil
}
