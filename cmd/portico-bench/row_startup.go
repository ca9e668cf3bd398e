package main

import (
	"context"
	"fmt"
	"os/exec"
)

// rowStartup measures row 8: how long `portico version` and `portico
// gateway list` on an empty (already migrated) SQLite store take, from exec
// to exit. The reference is exec'ing /bin/true, the floor of any process.
func rowStartup(ctx context.Context, h *harness, sz sizes) []*result {
	o, err := h.newHome("startup", "")
	version := &result{ID: "8", Name: "CLI start-up, `portico version`", Unit: "ms", Target: "≤ 30 ms"}
	list := &result{ID: "8", Name: "CLI start-up, `portico gateway list`, empty store", Unit: "ms", Target: "≤ 30 ms"}
	out := []*result{version, list}
	if err == nil {
		_, err = o.run(ctx, "", "gateway", "list") // create and migrate the store first
	}
	if err != nil {
		version.Err, list.Err = err, err
		return out
	}
	floor, err := timeCmd(ctx, sz.startupReps, func() *exec.Cmd { return exec.Command("/bin/true") })
	if err != nil {
		version.Err, list.Err = err, err
		return out
	}
	for _, r := range out {
		args := []string{"version"}
		r.Cond = fmt.Sprintf("process wall time, %d runs after one warm-up", sz.startupReps)
		if r == list {
			args = []string{"gateway", "list"}
			r.Cond += "; SQLite store created and migrated beforehand, no gateways"
		}
		progress("row 8: portico %v ×%d", args, sz.startupReps)
		if _, err := o.run(ctx, "", args...); err != nil {
			r.Err = err
			continue
		}
		for range sz.startupReps {
			res, err := o.run(ctx, "", args...)
			if err != nil {
				r.Err = err
				break
			}
			r.Samples = append(r.Samples, ms(res.Wall))
		}
		if r.Err == nil {
			r.Ref = fmt.Sprintf("exec of /bin/true: %s ms", num(median(floor)))
			r.judge(r.median() <= 30)
		}
	}
	return out
}
