package main

import (
	"context"
	"fmt"
	"path/filepath"
	"syscall"
	"time"

	"github.com/portico-dev/portico/gateways/store"
)

// Health settings of row 4's gateway: the target is period × threshold + 2 s.
const (
	replacePeriod    = time.Second
	replaceThreshold = 3
	replaceHealth    = "health: {period: 1s, failure_threshold: 3, timeout: 500ms, replace_after: 100ms}\n"
)

// rowReplace measures row 4: with a `portico server` running, SIGKILL one
// local agent and time until its replacement answers /healthz.
func rowReplace(ctx context.Context, h *harness, sz sizes) []*result {
	target := replacePeriod*replaceThreshold + 2*time.Second
	r := &result{ID: "4", Name: "Replacement time, SIGKILL of a local agent → replacement answers /healthz", Unit: "s",
		Cond: fmt.Sprintf("local backend, 2 replicas, one `portico server` on SQLite; spec %s; %d kills", replaceHealth[:len(replaceHealth)-1], sz.replaceReps),
		Ref:  "period × threshold = " + (replacePeriod * replaceThreshold).String(), Target: "≤ " + target.String()}
	if err := replaceRuns(ctx, h, sz, r); err != nil {
		r.Err = err
		return []*result{r}
	}
	r.Ratio = fmt.Sprintf("%s× period × threshold", num(r.median()/secs(replacePeriod*replaceThreshold)))
	r.judge(r.median() <= secs(target))
	return []*result{r}
}

func replaceRuns(ctx context.Context, h *harness, sz sizes, r *result) error {
	o, err := h.newHome("replace", "")
	if err != nil {
		return err
	}
	srv, err := o.startServer("bench-replace", "--sweep-interval", "0")
	if err != nil {
		return err
	}
	defer srv.stop()
	st, err := store.Open(ctx, filepath.Join(o.dir, "portico.db"))
	if err != nil {
		return err
	}
	defer st.Close()
	const name = "replace-me"
	progress("row 4: apply a 2-replica local gateway (server on SQLite)")
	if _, err := o.run(ctx, gatewaySpec(name, "local", "", 2, replaceHealth), "apply", "-f", "-", "-y", "--timeout", "2m"); err != nil {
		return err
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		_, _ = o.run(dctx, "", "gateway", "delete", name, "-y", "--timeout", "50s")
	}()
	for rep := range sz.replaceReps {
		if err := waitConverged(ctx, st, 2*time.Minute, name); err != nil {
			return err
		}
		g, err := st.GetGateway(ctx, name)
		if err != nil {
			return err
		}
		victim, ok := current(g, 0)
		if !ok {
			return fmt.Errorf("gateway %s has no replica 0", name)
		}
		var pid int
		for _, a := range agents(o.dir) {
			if a.Token == victim.InstanceID {
				pid = a.PID
			}
		}
		if !isOurs(pid, h.bin) {
			return fmt.Errorf("no live agent for replica 0 (token %s)", victim.InstanceID)
		}
		progress("row 4: SIGKILL agent of replica 0 attempt %d (pid %d), run %d/%d", victim.Attempt, pid, rep+1, sz.replaceReps)
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			return err
		}
		t0 := time.Now()
		var addr string
		err = poll(ctx, time.Minute, 10*time.Millisecond, "a replacement agent answering /healthz", func() (bool, error) {
			if addr == "" {
				for _, a := range agents(o.dir) {
					if a.Gateway == name && a.ReplicaNum == 0 && a.Token != victim.InstanceID && isOurs(a.PID, h.bin) {
						addr = a.addr()
					}
				}
			}
			return addr != "" && healthy(ctx, addr), nil
		})
		if err != nil {
			return fmt.Errorf("%w (server log: %s)", err, tail(srv.log))
		}
		r.Samples = append(r.Samples, secs(time.Since(t0)))
	}
	return nil
}
