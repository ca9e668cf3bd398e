package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/portico-dev/portico/models"
)

// progress shows a gateway converging. On a terminal it redraws a block of
// one line per replica with a spinner; otherwise (piped, CI) it prints one
// stable line per state change, so logs read as a history.
type progress struct {
	w       io.Writer
	animate bool
	color   bool
	drawn   int // lines drawn last time, to redraw over
	frame   int
	seen    map[int64]string // replica id → last status line printed
	gwSeen  string
}

func newProgress(s *IOStreams) *progress {
	return &progress{w: s.ErrOut, animate: s.Animate(), color: s.ColorErr(), seen: map[int64]string{}}
}

var spinner = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

// Update shows the latest state of g and the replicas worth showing.
func (p *progress) Update(g *models.Gateway, reps []models.Replica) {
	if !p.animate {
		p.printChanges(g, reps)
		return
	}
	p.clear()
	p.frame++
	running := 0
	for _, r := range reps {
		if r.Status == models.ReplicaRunning && !r.StopRequested {
			running++
		}
	}
	status := string(g.Status)
	if g.Deleting {
		status = "deleting"
	}
	lines := []string{fmt.Sprintf("%s %s: %s (%d/%d replicas running)", spinner[p.frame%len(spinner)], g.Name,
		paint(status, p.color), running, g.Spec.Replicas)}
	for _, r := range reps {
		lines = append(lines, "  "+replicaLine(r, p.color))
	}
	for _, l := range lines {
		fmt.Fprintln(p.w, l)
	}
	p.drawn = len(lines)
}

// clear erases the block drawn last, so the next draw (or final output)
// replaces it.
func (p *progress) clear() {
	if p.drawn > 0 {
		fmt.Fprintf(p.w, "\r\x1b[%dA\x1b[J", p.drawn)
		p.drawn = 0
	}
}

// Done erases the live block; the caller prints the outcome.
func (p *progress) Done() {
	if p.animate {
		p.clear()
	}
}

func replicaLine(r models.Replica, color bool) string {
	where := r.Region
	if r.Zone != "" {
		where += "/" + r.Zone
	}
	parts := []string{fmt.Sprintf("replica=%d", r.Num)}
	if r.Attempt > 1 {
		parts[0] += fmt.Sprintf(" (attempt %d)", r.Attempt)
	}
	parts = append(parts, where)
	if r.Hostname != "" {
		parts = append(parts, r.Hostname)
	}
	parts = append(parts, paint(string(r.Status), color))
	if r.StatusMessage != "" && r.Status != models.ReplicaRunning {
		parts = append(parts, "("+r.StatusMessage+")")
	}
	return strings.Join(parts, "  ")
}

func (p *progress) printChanges(g *models.Gateway, reps []models.Replica) {
	for _, r := range reps {
		line := replicaLine(r, false)
		if p.seen[r.ID] == line {
			continue
		}
		p.seen[r.ID] = line
		fmt.Fprintf(p.w, "%s: %s\n", g.Name, line)
	}
	status := string(g.Status)
	if g.Deleting {
		status = "deleting"
	}
	gw := status + g.StatusMessage
	if gw != p.gwSeen {
		p.gwSeen = gw
		msg := ""
		if g.StatusMessage != "" {
			msg = " (" + g.StatusMessage + ")"
		}
		fmt.Fprintf(p.w, "%s: gateway %s%s\n", g.Name, status, msg)
	}
}
