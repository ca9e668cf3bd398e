package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/portico-dev/portico/gateways/store"
)

// The two queries `portico gateway list` runs (gateways/store), as a
// person would type them into the database's own command line.
const (
	listGatewaysSQL = `SELECT g.id, g.name, g.spec, g.status, g.status_message, g.revision, g.deleting, g.created_at, g.updated_at FROM gateways g ORDER BY g.name`
	listReplicasSQL = `SELECT id, gateway_id, replica_num, attempt, token, status, status_message, final_status, error_kind, stop_requested, backend, region, zone, zone_index, instance_id, hostname, backend_data, launch_requested, launched_at, health_failures, unhealthy_since, running_at, finished_at, created_at, updated_at, lock_token, lock_owner FROM replicas ORDER BY gateway_id, replica_num, attempt`
)

// rowList measures row 3: `gateway list` and `--json` on a seeded store,
// against the database's own CLI printing the same rows.
func rowList(ctx context.Context, h *harness, sz sizes) []*result {
	var out []*result
	for _, dialect := range []string{"sqlite", "postgres"} {
		out = append(out, listOn(ctx, h, sz, dialect)...)
	}
	return out
}

func listOn(ctx context.Context, h *harness, sz sizes, dialect string) []*result {
	cond := fmt.Sprintf("%s; %d gateways × %d running replicas seeded in one transaction; process wall time, stdout piped",
		dialect, sz.listGateways, sz.listReplicas)
	mk := func(name string) *result {
		return &result{ID: "3", Name: fmt.Sprintf("List speed, `gateway list%s`, %s", name, dialect), Cond: cond, Unit: "ms",
			Target: "≤ 2× reference"}
	}
	plain, js := mk(""), mk(" --json")
	fail := func(err error) []*result { plain.Err, js.Err = err, err; return []*result{plain, js} }

	var dsn string
	o, err := h.newHome("list-"+dialect, "")
	if err != nil {
		return fail(err)
	}
	if dialect == "sqlite" {
		dsn = filepath.Join(o.dir, "portico.db")
	} else {
		var drop func()
		if dsn, drop, err = h.freshPG(ctx); err != nil {
			return fail(err)
		}
		defer drop()
	}
	o.env = append(o.env, "PORTICO_DB="+dsn)
	progress("row 3: seeding %d×%d on %s", sz.listGateways, sz.listReplicas, dialect)
	if err := seedList(ctx, dsn, sz); err != nil {
		return fail(err)
	}
	ref, refName, err := listReference(dialect, dsn)
	if err != nil {
		return fail(err)
	}
	refSamples, err := timeCmd(ctx, sz.listReps, ref)
	if err != nil {
		return fail(fmt.Errorf("reference %s: %w", refName, err))
	}
	refMed := median(refSamples)
	for _, r := range []*result{plain, js} {
		args := []string{"gateway", "list"}
		if r == js {
			args = append(args, "--json")
		}
		progress("row 3: %s %v", dialect, args)
		if _, err := o.run(ctx, "", args...); err != nil { // warm the page cache and the schema check
			r.Err = err
			continue
		}
		for range sz.listReps {
			res, err := o.run(ctx, "", args...)
			if err != nil {
				r.Err = err
				break
			}
			r.Samples = append(r.Samples, ms(res.Wall))
		}
		if r.Err == nil {
			r.Ref = fmt.Sprintf("%s printing the same two queries: %s ms (min %s)", refName, num(refMed), num(minOf(refSamples)))
			r.Ratio = fmt.Sprintf("%s×", num(r.median()/refMed))
			r.judge(r.median() <= 2*refMed)
		}
	}
	return []*result{plain, js}
}

func seedList(ctx context.Context, dsn string, sz sizes) error {
	st, err := store.Open(ctx, dsn)
	if err != nil {
		return err
	}
	defer st.Close()
	return seed(ctx, st, seedSpec{Gateways: sz.listGateways, Replicas: sz.listReplicas, Backend: "aws", Region: "eu-west-1",
		Prefix: "edge", DueIn: time.Hour, Instance: func(g, r int) (string, string, string) {
			n := g*sz.listReplicas + r
			return fmt.Sprintf("i-0%016x", 0xbe000000+n), fmt.Sprintf("eu-west-1%c", 'a'+r%3),
				fmt.Sprintf("198.51.%d.%d", (n/250)%256, 1+n%250)
		}})
}

// listReference builds the reference command: sqlite3 (or Python's sqlite3
// module when the CLI is missing) or psql, each printing every row.
func listReference(dialect, dsn string) (func() *exec.Cmd, string, error) {
	if dialect == "postgres" {
		if !havePsql() {
			return nil, "", fmt.Errorf("psql not found (apt-get install postgresql-client)")
		}
		return func() *exec.Cmd {
			return exec.Command("psql", "-X", "-q", "-A", "-t", "-d", dsn, "-c", listGatewaysSQL, "-c", listReplicasSQL)
		}, "`psql -A -t`", nil
	}
	if _, err := exec.LookPath("sqlite3"); err == nil {
		return func() *exec.Cmd {
			return exec.Command("sqlite3", dsn, listGatewaysSQL+";", listReplicasSQL+";")
		}, "`sqlite3` CLI", nil
	}
	if _, err := exec.LookPath("python3"); err == nil {
		script := `import sqlite3,sys
c=sqlite3.connect(sys.argv[1])
for q in sys.argv[2:]:
    for row in c.execute(q): print("|".join("" if v is None else str(v) for v in row))`
		return func() *exec.Cmd {
			return exec.Command("python3", "-c", script, dsn, listGatewaysSQL, listReplicasSQL)
		}, "Python's sqlite3 module (no sqlite3 CLI installed)", nil
	}
	return nil, "", fmt.Errorf("neither sqlite3 nor python3 is installed")
}

// timeCmd runs a command n times after one warm-up, piping its output
// away, and returns the wall times in ms.
func timeCmd(ctx context.Context, n int, mk func() *exec.Cmd) ([]float64, error) {
	var out []float64
	for i := -1; i < n; i++ {
		c := mk()
		c.Stdout = discard{}
		var errb limitedBuffer
		c.Stderr = &errb
		c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		start := time.Now()
		if err := c.Run(); err != nil {
			return nil, fmt.Errorf("%w: %s", err, errb.String())
		}
		if i >= 0 {
			out = append(out, ms(time.Since(start)))
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	return out, nil
}

func minOf(xs []float64) float64 { lo, _ := minMax(xs); return lo }

// discard is an io.Writer that is not *os.File, so exec pipes the output
// through the parent like it does for portico's.
type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

type limitedBuffer struct{ b []byte }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if len(l.b) < 4096 {
		l.b = append(l.b, p[:min(len(p), 4096-len(l.b))]...)
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string { return string(l.b) }
