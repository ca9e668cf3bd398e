package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/portico-dev/portico/gateways"
	"github.com/portico-dev/portico/gateways/store"
	"github.com/portico-dev/portico/models"
	"github.com/portico-dev/portico/pipelines"
)

// followDBGrace is how long following tolerates a database that does not
// answer (a restart, a failover) before giving up.
const followDBGrace = 30 * time.Second

// followOptions say what to wait for.
type followOptions struct {
	Gateway string
	ID      int64
	Timeout time.Duration
	// Deleting waits for the gateway's removal instead of running.
	Deleting bool
}

// follow waits for a gateway to converge, showing progress. When no server
// is live on the database it runs the pipelines for this gateway itself, so
// a laptop needs no server; when one is, it only watches.
func (f *Factory) follow(ctx context.Context, svc *gateways.Service, o followOptions) error {
	waitCtx := ctx
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		waitCtx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	live, err := svc.Store.LiveMembers(ctx)
	if err != nil {
		return err
	}
	if len(live) == 0 {
		stop, err := f.runPipelines(waitCtx, svc, o.ID)
		if err != nil {
			return err
		}
		defer stop()
	} else {
		fmt.Fprintf(f.IO.ErrOut, "%d server(s) are working on this database; following their progress\n", len(live))
	}
	prog := newProgress(f.IO)
	defer prog.Done()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var g *models.Gateway
	var failingSince time.Time
	for {
		fresh, err := svc.Get(waitCtx, o.Gateway)
		switch {
		case errors.Is(err, store.ErrNotFound) && o.Deleting:
			prog.Done()
			return nil
		case errors.Is(err, store.ErrNotFound):
			return fmt.Errorf("gateway %q was deleted while this command waited for it", o.Gateway)
		case err != nil && waitCtx.Err() == nil:
			// The database may be restarting: the desired state is written,
			// so keep following for a while rather than fail on one error.
			if failingSince.IsZero() {
				failingSince = time.Now()
				f.Logger.Warn("database unavailable; still following", "err", err)
			}
			if time.Since(failingSince) > followDBGrace {
				prog.Done()
				return fmt.Errorf("lost the database while following gateway %q (the desired state is saved; run the command again): %w", o.Gateway, err)
			}
		case err == nil:
			g, failingSince = fresh, time.Time{}
			prog.Update(g, visibleReplicas(g, false, time.Now()))
			if !o.Deleting && converged(g) {
				return nil
			}
			if !o.Deleting && g.Status == models.GatewayFailed {
				prog.Done()
				return fmt.Errorf("gateway %q failed: %s", g.Name, g.StatusMessage)
			}
		}
		select {
		case <-waitCtx.Done():
			prog.Done()
			if ctx.Err() != nil {
				fmt.Fprintf(f.IO.ErrOut, "Interrupted: stopped waiting for gateway %q. Nothing is lost; the work resumes when you run the same command again or a `portico server` runs.\n", o.Gateway)
				return errInterrupted
			}
			return fmt.Errorf("timed out after %s waiting for gateway %q; still pending: %s", o.Timeout, o.Gateway, pendingSummary(g, o.Deleting))
		case <-tick.C:
		}
	}
}

// converged reports whether a gateway runs as its spec asks and nothing is
// left to stop: replicas removed by scale-in or replaced are terminated.
func converged(g *models.Gateway) bool {
	if g.Status != models.GatewayRunning {
		return false
	}
	for _, r := range g.Replicas {
		if r.StopRequested && !r.Status.Finished() {
			return false
		}
	}
	return true
}

func pendingSummary(g *models.Gateway, deleting bool) string {
	if g == nil {
		return "unknown (the database did not answer)"
	}
	var parts []string
	for _, r := range g.Replicas {
		if r.Status.Finished() || (!deleting && r.Status.Serving() && !r.StopRequested) {
			continue
		}
		p := fmt.Sprintf("replica %d (%s", r.Num, r.Status)
		if r.StatusMessage != "" {
			p += ": " + r.StatusMessage
		}
		parts = append(parts, p+")")
	}
	if len(parts) == 0 {
		return "gateway status " + string(g.Status)
	}
	return strings.Join(parts, ", ")
}

// runPipelines starts an engine restricted to one gateway. stop cancels it
// and waits until it has released its leases.
func (f *Factory) runPipelines(ctx context.Context, svc *gateways.Service, id int64) (stop func(), err error) {
	reg, err := f.Backends()
	if err != nil {
		return nil, err
	}
	f.releaseDeadCLIs(ctx, svc)
	eng := pipelines.New(pipelines.Config{
		Service: svc, Backends: reg, Owner: cliOwner(), Logger: f.Logger,
		Gateways: func() []int64 { return []int64{id} }, Tick: 250 * time.Millisecond,
	})
	ectx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- eng.Run(ectx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			f.Logger.Warn("pipelines stopped with an error", "err", err)
		}
	}, nil
}

func cliOwner() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("cli-%s-%d", host, os.Getpid())
}

// releaseDeadCLIs frees the leases of earlier portico processes on this
// machine that died holding them (killed, crashed), so that running apply
// again resumes at once instead of waiting out the lease TTL. A lease is only
// freed when its owner's pid is gone or is no longer a portico process.
func (f *Factory) releaseDeadCLIs(ctx context.Context, svc *gateways.Service) {
	owners, err := svc.Store.LeaseOwners(ctx)
	if err != nil {
		return
	}
	host, _ := os.Hostname()
	prefix := "cli-" + host + "-"
	for _, o := range owners {
		pid, err := strconv.Atoi(strings.TrimPrefix(o, prefix))
		if !strings.HasPrefix(o, prefix) || err != nil || pid == os.Getpid() || processIsPortico(pid) {
			continue
		}
		if err := svc.Store.ReleaseOwner(ctx, o); err == nil {
			f.Logger.Info("released the leases of a dead portico process", "owner", o)
		}
	}
}

func processIsPortico(pid int) bool {
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && strings.Contains(string(cmdline), "portico")
}
