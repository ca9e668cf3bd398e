package cli

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/portico-dev/portico/pipelines"
)

type memberJSON struct {
	ID          string    `json:"id"`
	Address     string    `json:"address"`
	Hostname    string    `json:"hostname"`
	PID         int       `json:"pid"`
	Version     string    `json:"version"`
	StartedAt   time.Time `json:"started_at"`
	HeartbeatAt time.Time `json:"heartbeat_at"`
	Live        bool      `json:"live"`
	Gateways    int       `json:"gateways"`
}

func newServerMembersCmd(f *Factory) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "members",
		Short: "List the servers sharing this database, their heartbeats and the gateways each owns",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serverMembersRun(cmd.Context(), f, asJSON)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print members as JSON")
	return cmd
}

func serverMembersRun(ctx context.Context, f *Factory, asJSON bool) error {
	st, err := f.Store(ctx)
	if err != nil {
		return err
	}
	all, err := st.Members(ctx)
	if err != nil {
		return err
	}
	now, err := st.Now(ctx)
	if err != nil {
		return err
	}
	refs, err := st.GatewayRefs(ctx)
	if err != nil {
		return err
	}
	key, err := st.ShardKey(ctx)
	if err != nil {
		return err
	}
	var live []string
	out := []memberJSON{}
	for _, m := range all {
		alive := m.Alive(now)
		if alive {
			live = append(live, m.ID)
		}
		out = append(out, memberJSON{m.ID, m.Address, m.Hostname, m.PID, m.Version, m.StartedAt, m.HeartbeatAt, alive, 0})
	}
	owned := map[string]int{}
	for _, g := range refs {
		owned[pipelines.Owner(key, live, g.Name)]++
	}
	for i := range out {
		if out[i].Live {
			out[i].Gateways = owned[out[i].ID]
		}
	}
	if asJSON {
		return f.IO.writeJSON(f.IO.Out, out)
	}
	if len(out) == 0 {
		fmt.Fprintln(f.IO.Out, "No servers have registered on this database.")
		return nil
	}
	rows := [][]string{}
	for _, m := range out {
		state := "live"
		if !m.Live {
			state = "dead"
		}
		rows = append(rows, []string{m.ID, m.Address, strconv.Itoa(m.PID), ago(m.StartedAt, now),
			ago(m.HeartbeatAt, now), paint(state, f.IO.Color()), strconv.Itoa(m.Gateways)})
	}
	return writeTable(f.IO.Out, []string{"ID", "ADDRESS", "PID", "STARTED", "HEARTBEAT", "STATE", "GATEWAYS"}, rows)
}
