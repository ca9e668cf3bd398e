package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// vmHWM reads a live process's peak resident set size in kB.
func vmHWM(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			_, err := fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kb)
			return kb, err
		}
	}
	return 0, errors.New("no VmHWM in /proc status")
}

// cpuSeconds reads a live process's user+system CPU time.
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(fields) < 13 {
		return 0
	}
	var ut, st float64
	_, _ = fmt.Sscan(fields[11], &ut)
	_, _ = fmt.Sscan(fields[12], &st)
	return (ut + st) / 100 // USER_HZ is 100 on Linux
}

// cpuBusy samples /proc/stat; busyBetween turns two samples into the share
// of the machine's CPU time that was not idle.
type cpuSample struct{ idle, total float64 }

func cpuNow() cpuSample {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuSample{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	var s cpuSample
	for i, f := range strings.Fields(line)[1:] {
		var v float64
		_, _ = fmt.Sscan(f, &v)
		s.total += v
		if i == 3 || i == 4 { // idle, iowait
			s.idle += v
		}
	}
	return s
}

func busyBetween(a, b cpuSample) float64 {
	if b.total <= a.total {
		return 0
	}
	return 1 - (b.idle-a.idle)/(b.total-a.total)
}

// loadAvg is the 1-minute load average.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}
