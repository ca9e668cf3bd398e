package main

import (
	"context"
	"fmt"
	"time"

	"github.com/portico-dev/portico/backends/awstest"
	"github.com/portico-dev/portico/backends/gcptest"
)

// cloudRun is one apply (launch-and-wait) and the delete after it.
type cloudRun struct {
	N            int
	Wall         time.Duration
	Launch, Stop map[string]int // calls by action during apply / delete
	WallStop     time.Duration
	gateway      string
}

// applyAndDelete applies an N-replica gateway on a fake cloud with
// `portico apply -f - -y`, then deletes it with `portico gateway delete -y`,
// counting the cloud calls of each (counts reads the fake's call log from
// an index on).
//
// Each run gets a fresh home (its own SQLite store and installation id):
// SQLite reuses a deleted gateway's id, and with it the replicas' tokens,
// which the clouds then reject as reused idempotency tokens.
func applyAndDelete(ctx context.Context, newHome func() (*home, error), name, backend, region string, n int,
	counts func(from int) (map[string]int, int)) (cloudRun, error) {
	run := cloudRun{N: n, gateway: name}
	o, err := newHome()
	if err == nil {
		_, err = o.run(ctx, "", "gateway", "list") // create and migrate the store outside the timings
	}
	if err != nil {
		return run, err
	}
	_, from := counts(1 << 62)
	res, err := o.run(ctx, gatewaySpec(name, backend, region, n, ""), "apply", "-f", "-", "-y", "--timeout", "5m")
	if err != nil {
		return run, err
	}
	run.Wall = res.Wall
	run.Launch, from = counts(from)
	res, err = o.run(ctx, "", "gateway", "delete", name, "-y", "--timeout", "5m")
	if err != nil {
		return run, err
	}
	run.WallStop = res.Wall
	run.Stop, _ = counts(from)
	return run, nil
}

// rowProvision measures rows 1 (parallel provisioning) and 2 (API economy)
// on the EC2 fake, and row 2 on the Compute Engine fake.
func rowProvision(ctx context.Context, h *harness, sz sizes) []*result {
	ec2 := awstest.NewServer(awstest.Options{LaunchLatency: time.Second, RunningAfter: 3 * time.Second})
	defer ec2.Close()
	awsCount := func(from int) (map[string]int, int) { return awsCounts(ec2, from) }
	const cond = "EC2 fake: launch latency 1 s, running after 3 s; aws poll_interval 1s; SQLite; `apply -f - -y` wall time"
	runs := map[int][]cloudRun{}
	var out []*result
	for _, n := range sz.provisionN {
		r := &result{ID: "1", Name: fmt.Sprintf("Parallel provisioning, N=%d", n), Cond: cond, Unit: "s"}
		out = append(out, r)
		for rep := range sz.provisionReps {
			progress("row 1: apply N=%d (run %d/%d)", n, rep+1, sz.provisionReps)
			cr, err := applyAndDelete(ctx, func() (*home, error) { return h.awsHome("provision", ec2, "") },
				fmt.Sprintf("prov-%d-%d", n, rep), "aws", "us-east-1", n, awsCount)
			if err != nil {
				r.Err = err
				break
			}
			runs[n] = append(runs[n], cr)
			r.Samples = append(r.Samples, secs(cr.Wall))
		}
	}
	base := out[0]
	for i, r := range out[1:] {
		if r.Err != nil || base.Err != nil || len(base.Samples) == 0 {
			continue
		}
		n := sz.provisionN[i+1]
		serial := float64(n) * base.median()
		r.Ref = fmt.Sprintf("one after another: %d × N=1 = %s s", n, num(serial))
		r.Ratio = fmt.Sprintf("%s× N=1 (%s× faster than serial)", num(r.median()/base.median()), num(serial/r.median()))
		if i == len(out)-2 {
			r.Target = fmt.Sprintf("≤ 1.3× N=1 (%s s)", num(1.3*base.median()))
			r.judge(r.median() <= 1.3*base.median())
		}
	}
	out = append(out, economyAWS(sz, runs)...)
	return append(out, economyGCP(ctx, h, sz)...)
}

// economyAWS turns the EC2 runs of row 1 into row 2's figures.
func economyAWS(sz sizes, runs map[int][]cloudRun) []*result {
	var out []*result
	for _, n := range sz.economyN {
		rs := runs[n]
		if len(rs) == 0 {
			continue
		}
		launch := &result{ID: "2", Name: fmt.Sprintf("API economy, EC2, launch-and-wait, N=%d", n), Unit: "calls/replica",
			Target: "≤ 1.5 calls/replica"}
		stop := &result{ID: "2", Name: fmt.Sprintf("API economy, EC2, terminate (gateway delete), N=%d", n), Unit: "calls/replica"}
		for _, r := range rs {
			launch.Samples = append(launch.Samples, float64(sumAll(without(r.Launch, awsSetupCalls...)))/float64(n))
			stop.Samples = append(stop.Samples, float64(sumAll(r.Stop))/float64(n))
		}
		last := rs[len(rs)-1]
		per, _ := rest(without(last.Launch, awsSetupCalls...))
		setup, setupN := rest(pick(last.Launch, awsSetupCalls...))
		launch.Cond = fmt.Sprintf("EC2 fake: launch latency 1 s, running after 3 s; the row-1 runs; every EC2 call of `apply` but setup / N; last run: %s; setup, once per process, not counted: %d calls (%s)",
			per, setupN, setup)
		all, _ := rest(last.Stop)
		stop.Cond = "every EC2 call of `portico gateway delete -y` / N; last run: " + all
		launch.judge(launch.median() <= 1.5)
		out = append(out, launch, stop)
	}
	return out
}

func sumAll(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// Setup calls are made once per process (or per region), not per replica;
// every other call of an apply counts as launch-and-wait.
var (
	awsSetupCalls = []string{"DescribeAvailabilityZones", "DescribeImages", "DescribeVpcs", "DescribeSubnets",
		"DescribeSecurityGroups", "CreateSecurityGroup", "AuthorizeSecurityGroupIngress"}
	gcpSetupCalls = []string{"zones.list", "zones.get", "regions.get", "firewalls.get", "firewalls.insert",
		"globalOperations.get", "globalOperations.wait", "globalOperations.list"}
)

// without returns the counts minus the named ones.
func without(m map[string]int, names ...string) map[string]int {
	out := map[string]int{}
	for k, v := range m {
		out[k] = v
	}
	for _, k := range names {
		delete(out, k)
	}
	return out
}

// economyGCP measures row 2 on the Compute Engine fake.
func economyGCP(ctx context.Context, h *harness, sz sizes) []*result {
	gce := gcptest.NewServer(gcptest.Options{InsertLatency: time.Second, RunningAfter: 3 * time.Second})
	defer gce.Close()
	count := func(from int) (map[string]int, int) { return gcpCounts(gce, from) }
	var out []*result
	for _, n := range sz.economyN {
		launch := &result{ID: "2", Name: fmt.Sprintf("API economy, GCE, launch-and-wait, N=%d", n), Unit: "calls/replica",
			Target: "≤ 1.5 calls/replica"}
		stop := &result{ID: "2", Name: fmt.Sprintf("API economy, GCE, terminate (gateway delete), N=%d", n), Unit: "calls/replica"}
		out = append(out, launch, stop)
		var last cloudRun
		for rep := range sz.economyReps {
			progress("row 2: GCE apply N=%d (run %d/%d)", n, rep+1, sz.economyReps)
			cr, err := applyAndDelete(ctx, func() (*home, error) { return h.gcpHome("economy", gce) },
				fmt.Sprintf("econ-%d-%d", n, rep), "gcp", "us-central1", n, count)
			if err != nil {
				launch.Err, stop.Err = err, err
				break
			}
			last = cr
			launch.Samples = append(launch.Samples, float64(sumAll(without(cr.Launch, gcpSetupCalls...)))/float64(n))
			stop.Samples = append(stop.Samples, float64(sumAll(cr.Stop))/float64(n))
		}
		if launch.Err != nil {
			continue
		}
		per, _ := rest(without(last.Launch, gcpSetupCalls...))
		setup, setupN := rest(pick(last.Launch, gcpSetupCalls...))
		launch.Cond = fmt.Sprintf("GCE fake: insert latency 1 s, running after 3 s; every Compute call of `apply` but setup / N; last run: %s; setup, once per process, not counted: %d calls (%s)",
			per, setupN, setup)
		all, _ := rest(last.Stop)
		stop.Cond = "every Compute call of `portico gateway delete -y` / N; last run: " + all
		launch.judge(launch.median() <= 1.5)
	}
	return out
}

// pick keeps only the named counts.
func pick(m map[string]int, names ...string) map[string]int {
	out := map[string]int{}
	for _, k := range names {
		if m[k] > 0 {
			out[k] = m[k]
		}
	}
	return out
}
