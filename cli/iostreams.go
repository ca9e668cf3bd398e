package cli

import (
	"bytes"
	"io"
	"os"

	"golang.org/x/term"
)

// IOStreams are the command's standard streams and what they are connected
// to. Commands never touch os.Stdout directly, so tests drive them with
// buffers and pretend to be a terminal when they need to.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer

	stdinTTY, stdoutTTY, stderrTTY bool
	// noColor is set by NO_COLOR or TERM=dumb.
	noColor bool
	// ci is set when the CI variable says no person is watching.
	ci bool
}

// System returns streams over the process's own, detecting terminals.
func System() *IOStreams {
	return &IOStreams{
		In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr,
		stdinTTY:  term.IsTerminal(int(os.Stdin.Fd())),
		stdoutTTY: term.IsTerminal(int(os.Stdout.Fd())),
		stderrTTY: term.IsTerminal(int(os.Stderr.Fd())),
		noColor:   os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb",
		ci:        os.Getenv("CI") != "" && os.Getenv("CI") != "false",
	}
}

// Test returns streams over buffers: nothing is a terminal.
func Test() (*IOStreams, *bytes.Buffer, *bytes.Buffer, *bytes.Buffer) {
	in, out, errOut := &bytes.Buffer{}, &bytes.Buffer{}, &bytes.Buffer{}
	return &IOStreams{In: in, Out: out, ErrOut: errOut}, in, out, errOut
}

// SetTTY pretends the streams are (or are not) terminals, for tests.
func (s *IOStreams) SetTTY(stdin, stdout, stderr bool) {
	s.stdinTTY, s.stdoutTTY, s.stderrTTY = stdin, stdout, stderr
}

// IsStdoutTTY reports whether data output goes to a person.
func (s *IOStreams) IsStdoutTTY() bool { return s.stdoutTTY }

// CanPrompt reports whether a person can answer a question: input and
// output are terminals and no CI system runs us. With output piped (into a
// log, a pager, another program) Portico assumes a script and never asks.
func (s *IOStreams) CanPrompt() bool { return s.stdinTTY && s.stdoutTTY && s.stderrTTY && !s.ci }

// Animate reports whether live, redrawn progress suits stderr: only when a
// person watches both streams; piped or in CI, progress is one line per
// state change.
func (s *IOStreams) Animate() bool { return s.stdoutTTY && s.stderrTTY && !s.ci }

// Color reports whether stdout may carry ANSI colours.
func (s *IOStreams) Color() bool { return s.stdoutTTY && !s.noColor }

// ColorErr reports whether stderr may carry ANSI colours.
func (s *IOStreams) ColorErr() bool { return s.stderrTTY && !s.noColor }
