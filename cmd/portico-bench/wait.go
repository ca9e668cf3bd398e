package main

import (
	"context"
	"fmt"
	"time"

	"github.com/portico-dev/portico/gateways/store"
	"github.com/portico-dev/portico/models"
)

// poll calls cond every interval until it returns true or an error, or
// timeout passes.
func poll(ctx context.Context, timeout, interval time.Duration, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s waiting for %s", timeout, what)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}

// converged reports whether a gateway runs as asked with nothing left to
// stop (the rule `portico apply` waits for).
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

// waitConverged waits until every named gateway has converged.
func waitConverged(ctx context.Context, st *store.Store, timeout time.Duration, names ...string) error {
	return poll(ctx, timeout, 100*time.Millisecond, fmt.Sprintf("gateways %v to run", names), func() (bool, error) {
		for _, n := range names {
			g, err := st.GetGateway(ctx, n)
			if err != nil {
				return false, err
			}
			if !converged(g) {
				return false, nil
			}
		}
		return true, nil
	})
}

// current returns the wanted, newest row of replica num.
func current(g *models.Gateway, num int) (models.Replica, bool) {
	var best models.Replica
	found := false
	for _, r := range g.Replicas {
		if r.Num == num && !r.StopRequested && (!found || r.Attempt > best.Attempt) {
			best, found = r, true
		}
	}
	return best, found
}

// waitLiveMembers waits until n servers are registered and alive.
func waitLiveMembers(ctx context.Context, st *store.Store, n int) error {
	return poll(ctx, 30*time.Second, 100*time.Millisecond, fmt.Sprintf("%d live servers", n), func() (bool, error) {
		live, err := st.LiveMembers(ctx)
		return len(live) == n, err
	})
}
