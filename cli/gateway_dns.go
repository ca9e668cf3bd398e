package cli

import (
	"context"
	"fmt"
	"net"
	"sort"

	"github.com/spf13/cobra"

	"github.com/portico-dev/portico/gateways"
	"github.com/portico-dev/portico/models"
)

type gatewayDNSOptions struct {
	IO      *IOStreams
	Service func(context.Context) (*gateways.Service, error)
	Name    string
	JSON    bool
	TTL     int
}

// dnsRecord is one record to create, in the --json output.
type dnsRecord struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	TTL   int    `json:"ttl"`
	Value string `json:"value"`
}

func newGatewayDNSCmd(f *Factory, run func(context.Context, *gatewayDNSOptions) error) *cobra.Command {
	o := &gatewayDNSOptions{IO: f.IO, Service: f.Service}
	if run == nil {
		run = gatewayDNSRun
	}
	cmd := &cobra.Command{
		Use:   "dns NAME",
		Short: "Print the DNS records that point a gateway's domain at its replicas",
		Long: `Print the records to create for the gateway's wildcard domain: one A (or
AAAA) record for *.domain per running replica, zone-file style, so DNS spreads
clients over the replicas. Re-run it after scaling or replacement.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Name = args[0]
			return run(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print the records as JSON")
	cmd.Flags().IntVar(&o.TTL, "ttl", 60, "record TTL in seconds")
	return cmd
}

func gatewayDNSRun(ctx context.Context, o *gatewayDNSOptions) error {
	_, g, err := loadGateway(ctx, o.Service, o.Name)
	if err != nil {
		return err
	}
	if g.Spec.Domain == "" {
		return fmt.Errorf("gateway %q has no domain; add `domain:` to its spec and apply", g.Name)
	}
	records := dnsRecords(g, o.TTL)
	if o.JSON {
		return o.IO.writeJSON(o.IO.Out, records)
	}
	w := o.IO.Out
	fmt.Fprintf(w, "; records for gateway %q: one per running replica\n", g.Name)
	if len(records) == 0 {
		fmt.Fprintln(w, "; no replica is running with an address yet")
	}
	for _, r := range records {
		fmt.Fprintf(w, "%s\t%d\tIN\t%s\t%s\n", r.Name, r.TTL, r.Type, r.Value)
	}
	return nil
}

// dnsRecords returns one record per running replica address, sorted.
func dnsRecords(g *models.Gateway, ttl int) []dnsRecord {
	out := []dnsRecord{}
	seen := map[string]bool{}
	for _, r := range g.Replicas {
		if r.Status != models.ReplicaRunning || r.StopRequested || r.Hostname == "" {
			continue
		}
		host := r.Hostname
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		ip := net.ParseIP(host)
		if ip == nil || seen[ip.String()] {
			continue
		}
		seen[ip.String()] = true
		typ := "A"
		if ip.To4() == nil {
			typ = "AAAA"
		}
		out = append(out, dnsRecord{Name: "*." + g.Spec.Domain + ".", Type: typ, TTL: ttl, Value: ip.String()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Value < out[j].Value })
	return out
}
