package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"
)

// tokenLocks serialises work on one token. The in-process part keeps the
// goroutines of one backend from spinning on the file lock; the flock on
// agents/<token>.lock covers other processes (a CLI and a server, two CLIs)
// sharing the state directory.
type tokenLocks struct {
	mu      sync.Mutex
	holders map[string]*tokenSlot
}

// tokenSlot is a one-slot semaphore, counted so the map forgets tokens that
// nobody waits on (a long-running server sees an unbounded stream of them).
type tokenSlot struct {
	ch    chan struct{}
	users int
}

func newTokenLocks() *tokenLocks { return &tokenLocks{holders: map[string]*tokenSlot{}} }

// tokenLock is held work on one token; release it exactly once.
type tokenLock struct {
	locks *tokenLocks
	token string
	file  *os.File
	path  string
}

// lock takes the token's in-process slot, then an exclusive flock on path.
// Both waits end with ctx.
func (l *tokenLocks) lock(ctx context.Context, token, path string) (*tokenLock, error) {
	l.mu.Lock()
	s := l.holders[token]
	if s == nil {
		s = &tokenSlot{ch: make(chan struct{}, 1)}
		l.holders[token] = s
	}
	s.users++
	l.mu.Unlock()

	select {
	case s.ch <- struct{}{}:
	case <-ctx.Done():
		l.forget(token)
		return nil, fmt.Errorf("lock token %s: %w", token, ctx.Err())
	}
	f, err := flockFile(ctx, path)
	if err != nil {
		<-s.ch
		l.forget(token)
		return nil, fmt.Errorf("lock token %s: %w", token, err)
	}
	return &tokenLock{locks: l, token: token, file: f, path: path}, nil
}

func (l *tokenLocks) forget(token string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.holders[token]
	s.users--
	if s.users == 0 {
		delete(l.holders, token)
	}
}

// release drops the locks. With removeFile the lock file is removed first,
// while still held, so a waiter on the old file notices (see flockFile).
func (t *tokenLock) release(removeFile bool) {
	if removeFile {
		_ = os.Remove(t.path)
	}
	_ = t.file.Close() // closing the only descriptor drops the flock
	t.locks.mu.Lock()
	s := t.locks.holders[t.token]
	t.locks.mu.Unlock()
	<-s.ch
	t.locks.forget(t.token)
}

// flockFile opens (creating, 0600) and exclusively flocks path, polling so
// that ctx can end the wait. A lock on a file that was removed or replaced
// while we waited protects nothing, so it checks that the locked file is
// still the one at path and starts over if not. The descriptor is
// close-on-exec, so agents never inherit the lock.
func flockFile(ctx context.Context, path string) (*os.File, error) {
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, err
		}
		for {
			err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
			if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
				break
			}
			if err := ctxSleep(ctx, 10*time.Millisecond); err != nil {
				_ = f.Close()
				return nil, err
			}
		}
		if err != nil {
			_ = f.Close()
			return nil, err
		}
		held, err1 := f.Stat()
		now, err2 := os.Stat(path)
		if err1 == nil && err2 == nil && os.SameFile(held, now) {
			return f, nil
		}
		_ = f.Close()
		if err1 != nil {
			return nil, err1
		}
		if err2 != nil && !errors.Is(err2, os.ErrNotExist) {
			return nil, err2
		}
	}
}
