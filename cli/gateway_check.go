package cli

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/portico-dev/portico/models"
	"github.com/portico-dev/portico/pipelines"
)

type gatewayCheckOptions struct {
	F       *Factory
	Name    string
	JSON    bool
	NoHeal  bool
	Timeout time.Duration
}

func newGatewayCheckCmd(f *Factory, run func(context.Context, *gatewayCheckOptions) error) *cobra.Command {
	o := &gatewayCheckOptions{F: f}
	if run == nil {
		run = gatewayCheckRun
	}
	cmd := &cobra.Command{
		Use:   "check NAME",
		Short: "Run one health pass over a gateway's replicas (for CI and cron)",
		Long: `Check every running replica once, the way a server does every period: ask the
backend whether the instance still exists, and probe its health path. A replica
becomes unhealthy only after failure_threshold failed passes in a row, so
running this from cron every period behaves like a server. An instance found
gone is replaced at once; an unhealthy one after replace_after. Unless
--no-heal, check then waits for replacements to run.

Exits 0 when every replica runs and its last probe passed, 1 otherwise.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Name = args[0]
			return run(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print the replicas' health as JSON")
	cmd.Flags().BoolVar(&o.NoHeal, "no-heal", false, "do not wait for replacements to run")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", 15*time.Minute, "give up waiting for replacements after this long")
	return cmd
}

func gatewayCheckRun(ctx context.Context, o *gatewayCheckOptions) error {
	f := o.F
	svc, g, err := loadGateway(ctx, f.Service, o.Name)
	if err != nil {
		return err
	}
	reg, err := f.Backends()
	if err != nil {
		return err
	}
	if err := svc.Store.MarkHealthDue(ctx, g.ID); err != nil {
		return err
	}
	eng := pipelines.New(pipelines.Config{Service: svc, Backends: reg, Owner: cliOwner(), Logger: f.Logger, Health: true,
		Gateways: func() []int64 { return []int64{g.ID} }})
	if err := eng.WaitIdle(ctx); err != nil {
		return err
	}
	if err := svc.Store.ReleaseOwner(context.WithoutCancel(ctx), cliOwner()); err != nil {
		return err
	}
	if g, err = svc.Get(ctx, o.Name); err != nil {
		return err
	}
	if !o.NoHeal && !converged(g) && g.Status != models.GatewayFailed {
		if err := f.follow(ctx, svc, followOptions{Gateway: g.Name, ID: g.ID, Timeout: o.Timeout}); err != nil {
			return err
		}
		if g, err = svc.Get(ctx, o.Name); err != nil {
			return err
		}
	}
	return o.report(g)
}

type replicaHealth struct {
	ReplicaNum int    `json:"replica_num"`
	Attempt    int    `json:"attempt"`
	Hostname   string `json:"hostname"`
	Status     string `json:"status"`
	Failures   int    `json:"health_failures"`
	Message    string `json:"status_message"`
}

func (o *gatewayCheckOptions) report(g *models.Gateway) error {
	healthy := g.Status == models.GatewayRunning
	var out []replicaHealth
	for _, r := range visibleReplicas(g, false, time.Now()) {
		if r.Status.Finished() && r.StopRequested {
			continue
		}
		if r.Status != models.ReplicaRunning || r.HealthFailures > 0 {
			healthy = false
		}
		out = append(out, replicaHealth{r.Num, r.Attempt, r.Hostname, string(r.Status), r.HealthFailures, r.StatusMessage})
	}
	io := o.F.IO
	if o.JSON {
		if err := io.writeJSON(io.Out, map[string]any{"gateway": g.Name, "healthy": healthy, "replicas": out}); err != nil {
			return err
		}
	} else {
		rows := [][]string{}
		for _, r := range out {
			rows = append(rows, []string{fmt.Sprintf("replica=%d", r.ReplicaNum), r.Hostname,
				paint(r.Status, io.Color()), strconv.Itoa(r.Failures), r.Message})
		}
		if err := writeTable(io.Out, []string{"REPLICA", "HOSTNAME", "STATUS", "FAILED PROBES", "MESSAGE"}, rows); err != nil {
			return err
		}
	}
	if !healthy {
		return fmt.Errorf("gateway %q is not fully healthy (status %s)", g.Name, g.Status)
	}
	return nil
}
