package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/portico-dev/portico/models"
)

// recentlyEnded is how long a replaced or removed replica stays in `gateway
// list` after it ended, so that the story of an incident is visible where
// people look first. `--all` shows every attempt ever recorded.
const recentlyEnded = 15 * time.Minute

// visibleReplicas are the rows `gateway list` shows: every live row, the
// newest row of each slot, and rows that ended recently.
func visibleReplicas(g *models.Gateway, all bool, now time.Time) []models.Replica {
	if all {
		return g.Replicas
	}
	// Rows come sorted by replica number, then attempt: the newest wanted
	// attempt of a number is the last one not stop-requested in its run.
	newest := make([]int, 0, 8) // parallel to nums
	nums := make([]int, 0, 8)
	for _, r := range g.Replicas {
		if r.StopRequested {
			continue
		}
		if n := len(nums); n > 0 && nums[n-1] == r.Num {
			newest[n-1] = max(newest[n-1], r.Attempt)
			continue
		}
		nums, newest = append(nums, r.Num), append(newest, r.Attempt)
	}
	isNewest := func(r models.Replica) bool {
		for i, n := range nums {
			if n == r.Num {
				return newest[i] == r.Attempt
			}
		}
		return false
	}
	out := make([]models.Replica, 0, len(g.Replicas))
	for _, r := range g.Replicas {
		switch {
		case !r.Status.Finished(),
			!r.StopRequested && isNewest(r),
			r.FinishedAt != nil && now.Sub(*r.FinishedAt) < recentlyEnded:
			out = append(out, r)
		}
	}
	return out
}

// treeOptions shape the gateway tree.
type treeOptions struct {
	TTY     bool // aligned table with tree glyphs; else tab-separated lines
	Color   bool
	Verbose bool // created time and error columns
	All     bool
	Now     time.Time
}

// writeTree prints gateways and their replicas. On a terminal it is an
// aligned table with a tree; piped, it is one tab-separated line per row,
// gateway rows with an empty replica field, stable for scripts.
func writeTree(w io.Writer, gws []*models.Gateway, o treeOptions) error {
	var rows [][]string
	for _, g := range gws {
		rows = append(rows, gatewayRow(g, o))
		reps := visibleReplicas(g, o.All, o.Now)
		for i, r := range reps {
			rows = append(rows, replicaRow(g, r, i == len(reps)-1, o))
		}
	}
	if !o.TTY {
		bw := bufio.NewWriterSize(w, 64<<10) // one write per 64 KiB, not per line
		for _, r := range rows {
			for i, f := range r {
				if i > 0 {
					bw.WriteByte('\t')
				}
				bw.WriteString(f)
			}
			bw.WriteByte('\n')
		}
		return bw.Flush()
	}
	header := []string{"NAME", "BACKEND", "REGION", "HOSTNAME", "STATUS"}
	if o.Verbose {
		header = append(header, "CREATED", "MESSAGE")
	}
	return writeTable(w, header, rows)
}

func gatewayRow(g *models.Gateway, o treeOptions) []string {
	status := string(g.Status)
	if g.Deleting {
		status = "deleting"
	}
	regions := strings.Join(g.Spec.RegionList(), ",")
	if o.TTY {
		row := []string{g.Name, g.Spec.Backend, regions, g.Spec.Domain, paint(status, o.Color)}
		if o.Verbose {
			row = append(row, ago(g.CreatedAt, o.Now), g.StatusMessage)
		}
		return row
	}
	row := []string{g.Name, "", g.Spec.Backend, regions, g.Spec.Domain, status}
	if o.Verbose {
		row = append(row, g.CreatedAt.Format(time.RFC3339), g.StatusMessage)
	}
	return row
}

func replicaRow(g *models.Gateway, r models.Replica, last bool, o treeOptions) []string {
	where := r.Region
	if r.Zone != "" {
		where += "/" + r.Zone
	}
	label := fmt.Sprintf("replica=%d", r.Num)
	if r.Attempt > 1 {
		label += fmt.Sprintf(" (attempt %d)", r.Attempt)
	}
	if o.TTY {
		glyph := "├─ "
		if last {
			glyph = "└─ "
		}
		row := []string{glyph + label, r.Backend, where, r.Hostname, paint(string(r.Status), o.Color)}
		if o.Verbose {
			row = append(row, ago(r.CreatedAt, o.Now), r.StatusMessage)
		}
		return row
	}
	row := []string{g.Name, label, r.Backend, where, r.Hostname, string(r.Status)}
	if o.Verbose {
		row = append(row, r.CreatedAt.Format(time.RFC3339), r.StatusMessage)
	}
	return row
}

// writeTable renders an aligned, borderless table (kubectl style).
func writeTable(w io.Writer, header []string, rows [][]string) error {
	var buf bytes.Buffer
	t := tablewriter.NewTable(&buf,
		tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{
			Borders:  tw.BorderNone,
			Symbols:  tw.NewSymbols(tw.StyleNone),
			Settings: tw.Settings{Separators: tw.Separators{BetweenColumns: tw.Off, BetweenRows: tw.Off}, Lines: tw.Lines{ShowHeaderLine: tw.Off}},
		})),
		tablewriter.WithConfig(tablewriter.Config{
			Header: tw.CellConfig{Alignment: tw.CellAlignment{Global: tw.AlignLeft}, Formatting: tw.CellFormatting{AutoFormat: tw.Off}},
			Row:    tw.CellConfig{Alignment: tw.CellAlignment{Global: tw.AlignLeft}, Formatting: tw.CellFormatting{AutoWrap: tw.WrapNone}},
		}),
		tablewriter.WithPadding(tw.Padding{Right: "   ", Overwrite: true}),
	)
	t.Header(header)
	if err := t.Bulk(rows); err != nil {
		return err
	}
	if err := t.Render(); err != nil {
		return err
	}
	var out strings.Builder
	for line := range strings.Lines(buf.String()) {
		line = strings.TrimRight(line, " \n")
		line = strings.TrimSuffix(line, "\x1b[0m") // the renderer's trailing reset after padding
		out.WriteString(strings.TrimRight(line, " "))
		out.WriteByte('\n')
	}
	_, err := io.WriteString(w, out.String())
	return err
}

var statusColors = map[string]string{
	"running": "32", "failed": "31", "unhealthy": "33", "terminated": "90", "deleting": "35",
	"terminating": "35", "live": "32", "dead": "31", "pending": "36", "provisioning": "36", "submitted": "36",
}

func paint(s string, color bool) string {
	c, ok := statusColors[s]
	if !color || !ok {
		return s
	}
	return "\x1b[" + c + "m" + s + "\x1b[0m"
}

func ago(t, now time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

// writeJSON prints v as JSON; the one place every --json goes through.
// It is indented for a person at a terminal and compact for a program.
func (s *IOStreams) writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	if s.IsStdoutTTY() {
		enc.SetIndent("", "  ")
	}
	return enc.Encode(v)
}
