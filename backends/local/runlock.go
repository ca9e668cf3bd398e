package local

import (
	"errors"
	"os"
	"syscall"
	"time"
)

// Each agent holds an exclusive flock on agents/<token>.run for its whole
// life; the kernel drops it when the agent dies, however it dies. It is the
// one fact that says "an agent of this token exists", including in the
// window between exec and the state file: a CLI killed right after starting
// an agent leaves that agent running without a state file yet, and without
// the run lock a second Launch would start a twin.

var errAgentRunning = errors.New("another agent already runs this token")

// acquireRunLock takes the token's run lock for the agent's lifetime. A
// brief failure can be a Launch probing the lock, so it retries for a
// moment before concluding that another agent holds it.
func acquireRunLock(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	for range 20 {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	_ = f.Close()
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return nil, errAgentRunning
	}
	return nil, err
}

// runLockHeld reports whether a live agent holds the token's run lock. It
// takes and drops the lock at once if free; agents retry around that.
func runLockHeld(path string) bool {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if err != nil {
		return errors.Is(err, syscall.EWOULDBLOCK)
	}
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return false
}
