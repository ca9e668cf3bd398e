package pipelines

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"

	"github.com/portico-dev/portico/backends"
	"github.com/portico-dev/portico/models"
)

// check looks at a running replica with two signals: the backend's instance
// state, which is authoritative for "gone", and an HTTP probe of the health
// path, which must fail FailureThreshold times in a row before the replica
// is unhealthy. One success makes it healthy again, so a flapping probe
// never reaches the threshold and never causes a replacement.
func (s *replicaStep) check(ctx context.Context) {
	h := s.spec.EffectiveHealth()
	period := h.Period.D()
	inst, err := s.e.batcher.Describe(ctx, s.b, s.ref(), s.e.cfg.Metrics)
	if err != nil {
		s.e.release(ctx, &s.r, period)
		return
	}
	switch {
	case inst.State.Gone():
		s.e.cfg.Metrics.Replacements.Add(1)
		s.fail(ctx, backends.Transient, "instance "+s.r.InstanceID+" terminated outside Portico")
		return
	case inst.State == backends.StateStopping || inst.State == backends.StateStopped:
		s.terminateAfterFailure(ctx, "instance "+s.r.InstanceID+" stopped outside Portico")
		return
	}
	if inst.Hostname != "" {
		s.r.Hostname = inst.Hostname
	}
	perr := Probe(ctx, s.e.cfg.HTTPClient, s.r.Hostname, h)
	if perr == nil {
		var events []string
		if s.r.Status == models.ReplicaUnhealthy {
			events = append(events, s.to(models.ReplicaRunning, "health probe passes again"))
		}
		s.r.HealthFailures, s.r.UnhealthySince = 0, nil
		s.done(ctx, period, events...)
		return
	}
	s.r.HealthFailures++
	var events []string
	if s.r.Status == models.ReplicaRunning && s.r.HealthFailures >= h.FailureThreshold {
		now := s.e.now()
		s.r.UnhealthySince = &now
		events = append(events, s.to(models.ReplicaUnhealthy,
			fmt.Sprintf("%d health probes failed in a row: %v", s.r.HealthFailures, perr)))
	} else if s.r.Status == models.ReplicaUnhealthy {
		s.r.StatusMessage = fmt.Sprintf("%d health probes failed in a row: %v", s.r.HealthFailures, perr)
	}
	s.done(ctx, period, events...)
}

// Probe sends one GET to the replica's health path. hostname is an address
// with a port (a local agent's 127.0.0.1:PORT) or without one, in which case
// the spec's health port is used.
func Probe(ctx context.Context, c *http.Client, hostname string, h models.HealthSpec) error {
	if hostname == "" {
		return fmt.Errorf("no address to probe")
	}
	addr := hostname
	if _, _, err := net.SplitHostPort(hostname); err != nil {
		addr = net.JoinHostPort(hostname, strconv.Itoa(h.Port))
	}
	ctx, cancel := context.WithTimeout(ctx, h.Timeout.D())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+h.Path, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("no answer within %s", h.Timeout.D())
		}
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 399 {
		return fmt.Errorf("GET %s answered %d", h.Path, resp.StatusCode)
	}
	return nil
}
