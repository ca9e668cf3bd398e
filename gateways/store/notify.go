package store

import (
	"context"
	"database/sql/driver"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
)

// wakeChannel carries "something changed" hints between processes sharing
// a PostgreSQL: an apply wakes the servers at once instead of at their next
// poll. Hints may be lost (a dropped connection); polling stays the backstop.
const wakeChannel = "portico_wake"

// notifyTx sends a wake-up hint, delivered when the transaction commits.
func (s *Store) notifyTx(ctx context.Context, x execer, payload string) error {
	if s.d.name != "postgres" {
		return nil
	}
	_, err := x.ExecContext(ctx, `SELECT pg_notify($1, $2)`, wakeChannel, payload)
	return err
}

// Listen calls fn for every wake-up hint until ctx ends. It holds one
// connection, and reconnects with a pause when that connection breaks,
// calling fn after each reconnect because hints may have been missed
// meanwhile. On SQLite it only waits for ctx: there is one process.
func (s *Store) Listen(ctx context.Context, fn func()) error {
	if s.d.name != "postgres" {
		<-ctx.Done()
		return nil
	}
	for ctx.Err() == nil {
		err := s.listenOnce(ctx, fn)
		if ctx.Err() != nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
		_ = err // logged by the caller's backstop poll; keep trying
		fn()
	}
	return nil
}

func (s *Store) listenOnce(ctx context.Context, fn func()) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("listen: unexpected driver connection %T", dc)
		}
		pc := sc.Conn()
		if _, err := pc.Exec(ctx, "LISTEN "+wakeChannel); err != nil {
			return driver.ErrBadConn
		}
		for {
			if _, err := pc.WaitForNotification(ctx); err != nil {
				if ctx.Err() == nil {
					return driver.ErrBadConn // discard the broken connection
				}
				// Bounded: on a connection that stopped answering (a
				// partition), UNLISTEN would wait forever and hold up the
				// server's shutdown. If it fails, discard the connection.
				uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
				defer cancel()
				if _, err := pc.Exec(uctx, "UNLISTEN "+wakeChannel); err != nil {
					return driver.ErrBadConn
				}
				return nil
			}
			fn()
		}
	})
}
