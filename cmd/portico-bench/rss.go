package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// rssHelperFlag re-executes the benchmark as a small helper that runs one
// command and reports its peak RSS. Go starts children with
// clone(CLONE_VM|CLONE_VFORK), so on Linux a child's ru_maxrss also counts
// the parent's memory at the time of the exec: for a benchmark holding
// thousands of fake instances that is the parent's size, not the child's.
// A helper of a few MB in between makes ru_maxrss the command's own.
const rssHelperFlag = "-internal-rss-helper"

// runRSSHelper is main for the helper: args are the output file, then the
// command. The command's stdout and stderr are the helper's.
func runRSSHelper(args []string) int {
	if len(args) < 2 {
		return 2
	}
	c := exec.Command(args[1], args[2:]...)
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := c.Run()
	if c.ProcessState == nil {
		fmt.Fprintln(os.Stderr, "rss helper:", err)
		return 1
	}
	ru, _ := c.ProcessState.SysUsage().(*syscall.Rusage)
	if ru != nil {
		_ = os.WriteFile(args[0], []byte(strconv.FormatInt(ru.Maxrss, 10)), 0o600)
	}
	return c.ProcessState.ExitCode()
}

// peakRSS runs portico args through the helper and returns the peak RSS in kB.
func (o *home) peakRSS(ctx context.Context, args ...string) (int64, error) {
	self, err := os.Executable()
	if err != nil {
		return 0, err
	}
	f, err := os.CreateTemp(o.dir, "rss-*")
	if err != nil {
		return 0, err
	}
	f.Close()
	defer os.Remove(f.Name())
	c := exec.CommandContext(ctx, self, append([]string{rssHelperFlag, f.Name(), o.h.bin}, args...)...)
	c.Env, c.Dir, c.Stdout = o.env, o.dir, discard{}
	var errb limitedBuffer
	c.Stderr = &errb
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.Run(); err != nil {
		return 0, fmt.Errorf("portico %s: %w: %s", strings.Join(args, " "), err, errb.String())
	}
	b, err := os.ReadFile(f.Name())
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(string(b), 10, 64)
}
