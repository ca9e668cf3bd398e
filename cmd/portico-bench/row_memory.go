package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	"github.com/portico-dev/portico/backends/awstest"
	"github.com/portico-dev/portico/gateways/store"
	"github.com/portico-dev/portico/models"
)

// memoryServerRuns is how many times row 7 starts a server on the store.
const memoryServerRuns = 2

// rowMemory measures row 7: peak RSS of `portico server` working a store of
// many running replicas (every one due for a health check at start, each
// described through the EC2 fake and probed over HTTP), and of `portico
// gateway list` on that store.
func rowMemory(ctx context.Context, h *harness, sz sizes) []*result {
	total := sz.memGateways * sz.memReplicas
	srv := &result{ID: "7", Name: "Memory, `portico server` peak RSS (VmHWM)", Unit: "MB", Target: "≤ 80 MB"}
	list := &result{ID: "7", Name: "Memory, `portico gateway list` peak RSS", Unit: "MB",
		Cond: fmt.Sprintf("same store (%d replica records); ru_maxrss of the process (through a small helper, see rss.go); 3 runs", total)}
	listJSON := &result{ID: "7", Name: "Memory, `portico gateway list --json` peak RSS", Unit: "MB", Cond: list.Cond}
	out := []*result{srv, list, listJSON}
	fail := func(err error) []*result {
		for _, r := range out {
			r.Err = err
		}
		return out
	}
	ec2 := awstest.NewServer(awstest.Options{ServeHealth: true})
	defer ec2.Close()
	o, err := h.awsHome("memory", ec2, "")
	if err != nil {
		return fail(err)
	}
	dbPath := filepath.Join(o.dir, "portico.db")
	st, err := store.Open(ctx, dbPath)
	if err != nil {
		return fail(err)
	}
	defer st.Close()
	progress("row 7: seeding %d gateways × %d replicas and as many EC2 instances", sz.memGateways, sz.memReplicas)
	if err := seedMemory(ctx, st, ec2, sz); err != nil {
		return fail(err)
	}
	var checked []string
	for run := range memoryServerRuns {
		if _, err := st.DB().ExecContext(ctx, `UPDATE replicas SET process_after = 0, last_processed_at = 0`); err != nil {
			return fail(err)
		}
		progress("row 7: server on %d replicas for %s (run %d/%d)", total, sz.memWindow, run+1, memoryServerRuns)
		kb, n, err := serverPeak(ctx, o, st, sz.memWindow)
		if err != nil {
			return fail(err)
		}
		srv.Samples = append(srv.Samples, float64(kb)/1024)
		checked = append(checked, strconv.Itoa(n))
	}
	srv.Cond = fmt.Sprintf("%d gateways × %d running replicas (aws, EC2 fake) seeded in SQLite, all due for a health check (period 10 s) at start; server sampled for %s per run; replicas health-checked per run: %v of %d; %d runs",
		sz.memGateways, sz.memReplicas, sz.memWindow, checked, total, memoryServerRuns)
	srv.Ratio = fmt.Sprintf("%s× the target", num(srv.median()/80))
	srv.judge(srv.median() <= 80)
	base, err := o.peakRSS(ctx, "version")
	if err != nil {
		list.Err, listJSON.Err = err, err
		return out
	}
	for _, r := range []*result{list, listJSON} {
		r.Ref = fmt.Sprintf("`portico version`: %s MB", num(float64(base)/1024))
		args := []string{"gateway", "list"}
		if r == listJSON {
			args = append(args, "--json")
		}
		for range 3 {
			kb, err := o.peakRSS(ctx, args...)
			if err != nil {
				r.Err = err
				break
			}
			r.Samples = append(r.Samples, float64(kb)/1024)
		}
	}
	return out
}

// serverPeak runs a server on the store for window and returns its VmHWM
// and how many replicas it processed meanwhile.
func serverPeak(ctx context.Context, o *home, st *store.Store, window time.Duration) (int64, int, error) {
	start := time.Now().UnixMilli()
	s, err := o.startServer("bench-memory", "--sweep-interval", "0")
	if err != nil {
		return 0, 0, err
	}
	defer s.stop()
	select {
	case <-time.After(window):
	case <-s.done:
		return 0, 0, fmt.Errorf("server exited: %s", tail(s.log))
	case <-ctx.Done():
		return 0, 0, ctx.Err()
	}
	kb, err := vmHWM(s.cmd.Process.Pid)
	if err != nil {
		return 0, 0, err
	}
	var n int
	err = st.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM replicas WHERE last_processed_at >= ?`, start).Scan(&n)
	return kb, n, err
}

// seedMemory plants one running EC2 instance per replica record, with a
// health endpoint on its private address, so that the server's describes
// and probes succeed and it does steady-state work, not replacements.
func seedMemory(ctx context.Context, st *store.Store, ec2 *awstest.Server, sz sizes) error {
	install, err := st.InstallID(ctx)
	if err != nil {
		return err
	}
	const region = "us-east-1"
	type inst struct{ id, zone, ip string }
	insts := make([][]inst, sz.memGateways)
	for g := range sz.memGateways {
		for r := range sz.memReplicas {
			zone := fmt.Sprintf("%s%c", region, 'a'+r%3)
			in, err := ec2.SeedInstance(region, awstest.SeedSpec{Zone: zone, NoPublicIP: true, Tags: map[string]string{
				"portico-gateway": fmt.Sprintf("mem-%04d", g), "portico-replica": strconv.Itoa(r), "portico-install": install}})
			if err != nil {
				return err
			}
			insts[g] = append(insts[g], inst{in.ID, zone, in.PrivateIP})
		}
	}
	off := false
	port := ec2.HealthPort()
	return seed(ctx, st, seedSpec{Gateways: sz.memGateways, Replicas: sz.memReplicas, Backend: "aws", Region: region, Prefix: "mem",
		Spec: func(s *models.Spec) {
			s.PublicIP = &off
			s.Health = &models.HealthSpec{Port: port}
		},
		Instance: func(g, r int) (string, string, string) { i := insts[g][r]; return i.id, i.zone, i.ip }})
}
