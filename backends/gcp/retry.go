package gcp

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"google.golang.org/api/googleapi"
)

// retry calls fn until it succeeds, fails for good, or MaxAttempts tries
// have been made, waiting with jittered exponential backoff between tries.
// Only transient failures (429, 5xx, rate-limit reasons, lost connections)
// are retried. Writes are safe to retry because every write carries the
// same requestId on each try, so the server acts at most once.
func (b *backend) retry(ctx context.Context, what string, fn func(ctx context.Context) error) error {
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if err == nil {
			return nil
		}
		cerr := classify(err, what)
		if !isTransient(cerr) || attempt >= b.cfg.Retry.MaxAttempts {
			return cerr
		}
		wait := b.backoff(attempt, err)
		b.log.DebugContext(ctx, "gcp: retrying", "call", what, "attempt", attempt, "wait", wait, "error", cerr)
		if serr := sleep(ctx, wait); serr != nil {
			return fmt.Errorf("%s: %w (last error: %v)", what, serr, cerr)
		}
	}
}

// backoff is the wait after the given failed attempt: the exponential base
// (capped at Max) plus up to half of it again, never less than a
// Retry-After the server asked for (also capped at Max).
func (b *backend) backoff(attempt int, err error) time.Duration {
	p := b.cfg.Retry
	base := float64(p.Initial) * math.Pow(p.Multiplier, float64(attempt-1))
	if base > float64(p.Max) {
		base = float64(p.Max)
	}
	d := time.Duration(base) + time.Duration(rand.Int64N(int64(base)/2+1))
	if ra := retryAfter(err); ra > d {
		d = ra
	}
	return min(d, p.Max+p.Max/2)
}

func retryAfter(err error) time.Duration {
	var ge *googleapi.Error
	if !errors.As(err, &ge) || ge.Header == nil {
		return 0
	}
	secs, perr := strconv.Atoi(ge.Header.Get("Retry-After"))
	if perr != nil || secs <= 0 {
		return 0
	}
	return time.Duration(secs) * time.Second
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
