package main

import (
	"fmt"
	"os"
	"runtime"
	"strings"
)

// machine describes where the figures were measured: cores, CPU model,
// memory and Go version.
func machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	mem := "unknown RAM"
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				_, _ = fmt.Sscanf(strings.TrimSpace(v), "%d", &kb)
			}
		}
		mem = fmt.Sprintf("%.0f GiB RAM", float64(kb)/(1<<20))
	}
	return fmt.Sprintf("%d cores (nproc), %s, %s, %s %s/%s", runtime.NumCPU(), cpu, mem, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
