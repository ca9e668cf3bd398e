package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// result is one line of the table: a figure measured Samples times under
// Cond, compared with a reference and judged against a target.
type result struct {
	ID      string // "1a", "3c", ...
	Name    string
	Cond    string
	Unit    string // "s", "ms", "MB", "calls/replica", ...
	Samples []float64
	// Ref describes the reference and its value; Ratio is figure/reference.
	Ref   string
	Ratio string
	// Target is what the figure should meet; Pass is nil when the line is
	// informational (no target of its own).
	Target string
	Pass   *bool
	Note   string
	Err    error
}

func (r *result) median() float64 { return median(r.Samples) }

// judge sets the verdict against an upper bound.
func (r *result) judge(ok bool) { r.Pass = &ok }

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func minMax(xs []float64) (lo, hi float64) {
	for i, x := range xs {
		if i == 0 || x < lo {
			lo = x
		}
		if i == 0 || x > hi {
			hi = x
		}
	}
	return lo, hi
}

// num formats a figure with sensible precision for its size.
func num(v float64) string {
	switch a := abs(v); {
	case a == 0:
		return "0"
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}

func secs(d time.Duration) float64 { return d.Seconds() }
func ms(d time.Duration) float64   { return float64(d) / float64(time.Millisecond) }

// writeTable prints the results as a markdown table.
func writeTable(w io.Writer, rs []*result) {
	fmt.Fprintln(w, "| # | Benchmark | Conditions | Median | min / median / max (runs) | Reference | Ratio | Target | Verdict |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|")
	for _, r := range rs {
		med, spread, verdict := "—", "—", "—"
		if r.Err != nil {
			verdict = "ERROR: " + oneLine(r.Err.Error(), 160)
		} else if len(r.Samples) > 0 {
			lo, hi := minMax(r.Samples)
			med = num(r.median()) + " " + r.Unit
			spread = fmt.Sprintf("%s / %s / %s (%d)", num(lo), num(r.median()), num(hi), len(r.Samples))
		}
		if r.Err == nil && r.Pass != nil {
			verdict = map[bool]string{true: "PASS", false: "**MISS**"}[*r.Pass]
		} else if r.Err == nil && r.Target == "" {
			verdict = "info"
		}
		cond := r.Cond
		if r.Note != "" {
			cond += "; " + r.Note
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.ID, cell(r.Name), cell(cond), med, spread,
			cell(dash(r.Ref)), dash(r.Ratio), cell(dash(r.Target)), verdict)
	}
}

func dash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func cell(s string) string { return strings.ReplaceAll(s, "|", "\\|") }

func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > max {
		s = s[:max] + "…"
	}
	return cell(s)
}
