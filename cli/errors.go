package cli

import (
	"errors"
	"fmt"
)

// Exit codes, documented in `portico help exit-codes` and the README.
const (
	ExitOK          = 0
	ExitFailure     = 1
	ExitUsage       = 2
	ExitInterrupted = 130
)

// UsageError is a mistake in how Portico was called or in a spec: exit 2.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

func usageErrorf(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

// errInterrupted ends a command the user interrupted: exit 130.
var errInterrupted = errors.New("interrupted")

// silentError carries an exit code for a failure already reported.
type silentError struct{ code int }

func (e *silentError) Error() string { return fmt.Sprintf("exit %d", e.code) }

const exitCodesHelp = `Portico's exit codes are stable, for scripts and CI:

  0    success: the gateway is in the state asked for (or nothing was to do)
  1    failure: provisioning failed, a timeout expired, a conflicting apply
       won, a backend or database could not be reached
  2    usage error: unknown command or flag, invalid spec (every problem is
       printed with file:line:col), missing confirmation without -y
  130  interrupted (Ctrl-C): nothing is corrupted; work already started
       continues the next time apply or a server runs
`
