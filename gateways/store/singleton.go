package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
)

// Advisory lock keys for singleton jobs, so that among several servers on
// one PostgreSQL only one runs each at a time.
const (
	LockSweeper int64 = 0x706f7274_00000001 // "port" + 1
)

// TryLock takes a session-level advisory lock on PostgreSQL, held on a
// dedicated connection until release is called (or the connection dies,
// which frees it: a crashed holder never blocks the others). On SQLite,
// which supports a single server, it always succeeds.
func (s *Store) TryLock(ctx context.Context, key int64) (release func(), ok bool, err error) {
	if s.d.name != "postgres" {
		return func() {}, true, nil
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, false, err
	}
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&ok); err != nil {
		conn.Close()
		return nil, false, fmt.Errorf("advisory lock: %w", err)
	}
	if !ok {
		conn.Close()
		return nil, false, nil
	}
	return func() {
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, key)
		conn.Close()
	}, true, nil
}

// AppendEvent records an event that belongs to no live gateway record (the
// sweeper's, for instance), under the gateway name the instance was tagged
// with.
func (s *Store) AppendEvent(ctx context.Context, gateway, kind, message string) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO events (gateway_id, gateway_name, kind, message, at) VALUES (0, ?, ?, ?, {now})`),
		gateway, kind, message)
	return err
}

// ErrServerRunning says another server already uses this SQLite database.
var ErrServerRunning = errors.New("another portico server is already running on this SQLite database; SQLite supports a single server: use PostgreSQL (--db postgres://…) to run several")

// LockSingleServer makes sure only one server runs on a SQLite database: it
// holds an exclusive flock on <db>.server.lock, which the kernel frees when
// the process dies. On PostgreSQL any number of servers may run.
func (s *Store) LockSingleServer() (release func(), err error) {
	if s.d.name != "sqlite" {
		return func() {}, nil
	}
	path := strings.TrimPrefix(s.dsn, "sqlite://") + ".server.lock"
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("server lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrServerRunning
		}
		return nil, fmt.Errorf("server lock: %w", err)
	}
	return func() { f.Close() }, nil
}

// flockPath blocks until it holds an exclusive flock on path (created 0600).
func flockPath(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}
