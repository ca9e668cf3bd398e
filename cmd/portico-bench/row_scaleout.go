package main

import (
	"context"
	"fmt"
	"runtime"
	"sort"
	"strconv"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/portico-dev/portico/backends/awstest"
	"github.com/portico-dev/portico/gateways"
	"github.com/portico-dev/portico/gateways/store"
)

// scaleAPILatency is the EC2 fake's delay on every call in row 6.
const scaleAPILatency = 200 * time.Millisecond

// rowScaleOut measures row 6: gateways written straight to the store (as
// `apply --detach` writes them) while 1 or 3 servers run on PostgreSQL;
// time until every replica runs.
func rowScaleOut(ctx context.Context, h *harness, sz sizes) []*result {
	total := sz.scaleGateways * sz.scaleReplicas
	cond := fmt.Sprintf("%d aws gateways × %d replicas on the EC2 fake, API latency %s on every call; servers on PostgreSQL (--heartbeat 1s, --workers %s, default --lease-ttl); desired state written through gateways.Service (as `apply --detach`) once the servers run; time until all %d replicas run; %d run(s) each",
		sz.scaleGateways, sz.scaleReplicas, scaleAPILatency, workersOf(sz), total, sz.scaleReps)
	one := &result{ID: "6", Name: "Control-plane scale-out, 1 server", Unit: "s", Cond: cond}
	three := &result{ID: "6", Name: "Control-plane scale-out, 3 servers", Unit: "s", Cond: cond,
		Target: "≥ 2.5× faster than 1 server"}
	for _, r := range []*result{one, three} {
		n := 1
		if r == three {
			n = 3
		}
		for rep := range sz.scaleReps {
			progress("row 6: %d server(s), %d replicas (run %d/%d)", n, total, rep+1, sz.scaleReps)
			d, note, err := scaleOnce(ctx, h, sz, n)
			if err != nil {
				r.Err = err
				break
			}
			r.Samples = append(r.Samples, secs(d))
			r.Note = note
		}
	}
	if one.Err == nil && three.Err == nil {
		speedup := one.median() / three.median()
		three.Ref = fmt.Sprintf("1 server: %s s", num(one.median()))
		three.Ratio = fmt.Sprintf("%s× faster", num(speedup))
		three.judge(speedup >= 2.5)
	}
	return []*result{one, three}
}

func scaleOnce(ctx context.Context, h *harness, sz sizes, n int) (time.Duration, string, error) {
	dsn, drop, err := h.freshPG(ctx)
	if err != nil {
		return 0, "", err
	}
	defer drop()
	ec2 := awstest.NewServer(awstest.Options{APILatency: scaleAPILatency})
	defer ec2.Close()
	o, err := h.awsHome(fmt.Sprintf("scale-%d", n), ec2, "max_replicas: 100\n", "PORTICO_DB="+dsn)
	if err != nil {
		return 0, "", err
	}
	st, err := store.Open(ctx, dsn)
	if err != nil {
		return 0, "", err
	}
	defer st.Close()
	var servers []*server
	defer func() {
		for _, s := range servers {
			s.stop()
		}
	}()
	for i := range n {
		args := []string{"--heartbeat", "1s", "--sweep-interval", "0"}
		if sz.scaleWorkers > 0 {
			args = append(args, "--workers", strconv.Itoa(sz.scaleWorkers))
		}
		s, err := o.startServer(fmt.Sprintf("bench-scale-%d", i), args...)
		if err != nil {
			return 0, "", err
		}
		servers = append(servers, s)
	}
	if err := waitLiveMembers(ctx, st, n); err != nil {
		return 0, "", err
	}
	time.Sleep(2 * time.Second) // every server has seen the others
	svc := gateways.NewService(st)
	dbT0, err := st.Now(ctx)
	if err != nil {
		return 0, "", err
	}
	t0, cpu0 := time.Now(), cpuNow()
	if err := writeGateways(ctx, svc, sz); err != nil {
		return 0, "", err
	}
	written := time.Since(t0)
	total := sz.scaleGateways * sz.scaleReplicas
	var running int
	err = poll(ctx, 15*time.Minute, 100*time.Millisecond, fmt.Sprintf("%d replicas to run", total), func() (bool, error) {
		err := st.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM replicas WHERE status = 'running'`).Scan(&running)
		return running >= total, err
	})
	if err != nil {
		return 0, "", fmt.Errorf("%w (%d running)", err, running)
	}
	d, busy := time.Since(t0), busyBetween(cpu0, cpuNow())
	var serverCPU, stepSum float64
	var steps int64
	for _, s := range servers {
		serverCPU += cpuSeconds(s.cmd.Process.Pid)
		mean, n := s.stepLatency()
		stepSum += mean * float64(n)
		steps += n
	}
	stepMean := 0.0
	if steps > 0 {
		stepMean = stepSum / float64(steps)
	}
	calls, _ := awsCounts(ec2, 0)
	all, _ := rest(calls)
	tl, err := timeline(ctx, st, dbT0)
	if err != nil {
		return 0, "", err
	}
	return d, fmt.Sprintf("last run: desired state written in %s; %s; %d replica steps, mean %s s each; servers used %s CPU-seconds, the machine's %d cores were %.0f%% busy (all processes, load average %s); EC2 calls: %s",
		written.Round(10*time.Millisecond), tl, steps, num(stepMean), num(serverCPU), runtime.NumCPU(), 100*busy, loadAvg(), all), nil
}

// timeline says when replicas were launched and ran, from the rows'
// database timestamps, relative to t0 (database clock).
func timeline(ctx context.Context, st *store.Store, t0 time.Time) (string, error) {
	rows, err := st.DB().QueryContext(ctx, `SELECT launched_at, running_at FROM replicas WHERE status = 'running'`)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var launched, ran []float64
	for rows.Next() {
		var l, r int64
		if err := rows.Scan(&l, &r); err != nil {
			return "", err
		}
		launched = append(launched, float64(l-t0.UnixMilli())/1000)
		ran = append(ran, float64(r-t0.UnixMilli())/1000)
	}
	if err := rows.Err(); err != nil || len(ran) == 0 {
		return "", err
	}
	q := func(xs []float64, p float64) string {
		s := append([]float64(nil), xs...)
		sort.Float64s(s)
		return num(s[int(p*float64(len(s)-1))])
	}
	return fmt.Sprintf("launched (instance id saved) at +%s/+%s/+%s s and running at +%s/+%s/+%s s (first/median/last)",
		q(launched, 0), q(launched, 0.5), q(launched, 1), q(ran, 0), q(ran, 0.5), q(ran, 1)), nil
}

// writeGateways applies every gateway's spec through the service, four at
// a time, as concurrent `portico apply --detach` runs would.
func writeGateways(ctx context.Context, svc *gateways.Service, sz sizes) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for i := range sz.scaleGateways {
		g.Go(func() error {
			name := fmt.Sprintf("scale-%04d", i)
			spec, err := gateways.ParseSpec(name+".yml", []byte(gatewaySpec(name, "aws", "us-east-1", sz.scaleReplicas, "")), gateways.SpecOptions{})
			if err != nil {
				return err
			}
			plan, _, err := svc.Plan(gctx, *spec, false)
			if err != nil {
				return err
			}
			_, _, err = svc.Apply(gctx, *spec, plan)
			return err
		})
	}
	return g.Wait()
}

func workersOf(sz sizes) string {
	if sz.scaleWorkers > 0 {
		return strconv.Itoa(sz.scaleWorkers)
	}
	return "128 (default)"
}
