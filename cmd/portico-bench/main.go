// Command portico-bench measures Portico the way its users feel it and
// prints a markdown table: parallel provisioning, cloud API economy, list
// speed, replica replacement, server takeover, control-plane scale-out,
// memory and start-up. It drives the real portico binary (built into a temp
// dir) as subprocesses, runs the EC2 and Compute Engine fakes in-process to
// read their call counts, and uses PostgreSQL from TEST_PG_DSN.
//
//	go run ./cmd/portico-bench            # the full table (about 10-15 minutes)
//	go run ./cmd/portico-bench -smoke     # every row at a tiny size (CI)
//	go run ./cmd/portico-bench -rows 3,8  # some rows only
//
// The table goes to stdout, progress to stderr. Every process started is
// stopped at the end, on failure and on Ctrl-C too. Nothing listens or
// dials beyond loopback.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// sizes are the knobs that make the full run and the smoke run differ.
type sizes struct {
	smoke bool
	// rows 1-2
	provisionN    []int
	provisionReps int
	economyN      []int
	economyReps   int
	// row 3
	listGateways, listReplicas, listReps int
	// rows 4-5
	replaceReps, takeoverReps int
	// row 6
	scaleGateways, scaleReplicas, scaleReps int
	scaleWorkers                            int // --workers of each server; 0: the server's default
	// row 7
	memGateways, memReplicas int
	memWindow                time.Duration
	// row 8
	startupReps int
}

var fullSizes = sizes{
	provisionN: []int{1, 20, 100}, provisionReps: 5, economyN: []int{20, 100}, economyReps: 2,
	listGateways: 1000, listReplicas: 5, listReps: 7,
	replaceReps: 5, takeoverReps: 3,
	scaleGateways: 300, scaleReplicas: 3, scaleReps: 2,
	memGateways: 2000, memReplicas: 5, memWindow: 30 * time.Second,
	startupReps: 30,
}

var smokeSizes = sizes{
	smoke:      true,
	provisionN: []int{1, 2}, provisionReps: 1, economyN: []int{2}, economyReps: 1,
	listGateways: 5, listReplicas: 5, listReps: 2,
	replaceReps: 1, takeoverReps: 1,
	scaleGateways: 5, scaleReplicas: 1, scaleReps: 1,
	memGateways: 5, memReplicas: 2, memWindow: 3 * time.Second,
	startupReps: 3,
}

// rowFunc measures one numbered row of the table.
type rowFunc func(ctx context.Context, h *harness, sz sizes) []*result

var rows = []struct {
	num int
	fn  rowFunc
}{
	{1, rowProvision}, // rows 1 and 2 share their runs
	{3, rowList},
	{4, rowReplace},
	{5, rowTakeover},
	{6, rowScaleOut},
	{7, rowMemory},
	{8, rowStartup},
}

// options are the command's flags.
type options struct {
	smoke   bool
	rows    string
	keep    bool
	maxLoad float64
	workers int
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == rssHelperFlag {
		os.Exit(runRSSHelper(os.Args[2:]))
	}
	var o options
	flag.BoolVar(&o.smoke, "smoke", false, "run every row at a tiny size, to check that the benchmark still runs")
	flag.StringVar(&o.rows, "rows", "", "comma-separated row numbers to run (default all; 1 includes 2)")
	flag.BoolVar(&o.keep, "keep", false, "keep the temp dir (homes, server logs) for post-mortems")
	flag.IntVar(&o.workers, "scale-workers", 0, "row 6: --workers of each server (default: the server's own default), to see where a single server saturates")
	flag.Float64Var(&o.maxLoad, "max-load", 0, "before each row, wait (up to 5 minutes) until the 1-minute load average is below this; 0 never waits")
	flag.Parse()
	os.Exit(run(o))
}

func run(o options) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sz := fullSizes
	if o.smoke {
		sz = smokeSizes
	}
	sz.scaleWorkers = o.workers
	want := map[int]bool{}
	for _, f := range strings.Split(o.rows, ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil {
			want[n] = true
			if n == 2 {
				want[1] = true
			}
		}
	}
	start := time.Now()
	h, err := newHarness(ctx, os.Getenv("TEST_PG_DSN"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	defer h.close(o.keep)
	var all []*result
	var loads []string
	for _, r := range rows {
		if len(want) > 0 && !want[r.num] {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		waitQuiet(ctx, o.maxLoad)
		t, load := time.Now(), loadAvg()
		progress("row %d: start (load average %s)", r.num, load)
		all = append(all, r.fn(ctx, h, sz)...)
		progress("row %d done in %s (load average %s → %s)", r.num, time.Since(t).Round(time.Second), load, loadAvg())
		loads = append(loads, fmt.Sprintf("row %d: %s → %s", r.num, load, loadAvg()))
	}
	numberRows(all)
	if o.smoke {
		fmt.Println("Smoke run (tiny sizes; figures are not meaningful):")
		fmt.Println()
	}
	writeTable(os.Stdout, all)
	fmt.Printf("\nMeasured %s on %s; total %s. 1-minute load average at the start and end of each row (other work on the machine skews timings): %s.\n",
		time.Now().Format("2006-01-02"), machine(), time.Since(start).Round(time.Second), strings.Join(loads, "; "))
	failed := 0
	for _, r := range all {
		if r.Err != nil {
			failed++
			fmt.Fprintf(os.Stderr, "bench: row %s (%s) failed: %v\n", r.ID, r.Name, r.Err)
		}
	}
	if ctx.Err() != nil {
		fmt.Fprintln(os.Stderr, "bench: interrupted")
		return 130
	}
	if failed > 0 {
		return 1
	}
	return 0
}

// numberRows gives lines of one row letters: 1a, 1b, ...
func numberRows(rs []*result) {
	count := map[string]int{}
	for _, r := range rs {
		count[r.ID]++
	}
	seen := map[string]int{}
	for _, r := range rs {
		if count[r.ID] > 1 {
			id := r.ID
			r.ID = fmt.Sprintf("%s%c", id, 'a'+seen[id])
			seen[id]++
		}
	}
}

// waitQuiet waits until the load average is below max, for at most five
// minutes, so that other work on the machine does not skew the next row.
func waitQuiet(ctx context.Context, max float64) {
	if max <= 0 {
		return
	}
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		l, err := strconv.ParseFloat(loadAvg(), 64)
		if err != nil || l < max {
			return
		}
		progress("load average %.2f ≥ %.2f; waiting for a quieter machine", l, max)
		select {
		case <-ctx.Done():
		case <-time.After(15 * time.Second):
		}
	}
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench %s: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}
