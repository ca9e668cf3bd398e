package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/portico-dev/portico/gateways/store"
	"github.com/portico-dev/portico/pipelines"
)

type serverOptions struct {
	F             *Factory
	Listen        string
	ID            string
	Heartbeat     time.Duration
	LeaseTTL      time.Duration
	Workers       int
	SweepInterval time.Duration
	SweepGrace    time.Duration
}

func newServerCmd(f *Factory) *cobra.Command {
	o := &serverOptions{F: f}
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the pipelines continuously: provisioning, health checks, replacement, sweeping",
		Long: `Run Portico's pipelines continuously: provision and delete gateways applied by
any CLI on the same database, check replica health and replace failed
replicas, and sweep orphaned instances.

Several servers sharing one PostgreSQL are highly available with no extra
configuration: each registers and heartbeats; gateways are sharded over the
live servers by rendezvous hashing (SipHash of the gateway name), and when a
server dies its gateways move to the others within three heartbeats plus one
lease. With SQLite only one server may run.

HTTP on --listen: /healthz (the process is up), /readyz (registered and the
database answers), /metrics (Prometheus).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return serverRun(cmd.Context(), o) },
	}
	fl := cmd.Flags()
	fl.StringVar(&o.Listen, "listen", "127.0.0.1:8484", "address for /healthz, /readyz and /metrics")
	fl.StringVar(&o.ID, "id", "", "member id (default: host-pid-random)")
	fl.DurationVar(&o.Heartbeat, "heartbeat", 5*time.Second, "membership heartbeat; a member silent for 3 heartbeats is dead")
	fl.DurationVar(&o.LeaseTTL, "lease-ttl", 30*time.Second, "how long a crashed server's rows stay locked")
	fl.IntVar(&o.Workers, "workers", 128, "concurrent replica operations (launches run in parallel up to this)")
	fl.DurationVar(&o.SweepInterval, "sweep-interval", 5*time.Minute, "how often to look for orphaned instances; 0 disables")
	fl.DurationVar(&o.SweepGrace, "sweep-grace", pipelines.DefaultSweepGrace, "leave unrecorded instances younger than this alone")
	cmd.AddCommand(newServerMembersCmd(f))
	return cmd
}

func serverRun(ctx context.Context, o *serverOptions) error {
	f := o.F
	st, err := f.Store(ctx)
	if err != nil {
		return err
	}
	release, err := st.LockSingleServer()
	if err != nil {
		return err
	}
	defer release()
	svc, err := f.Service(ctx)
	if err != nil {
		return err
	}
	reg, err := f.Backends()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return &UsageError{Err: fmt.Errorf("listen on %s: %w", o.Listen, err)}
	}
	host, _ := os.Hostname()
	if o.ID == "" {
		b := make([]byte, 3)
		_, _ = rand.Read(b)
		o.ID = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
	}
	srv := pipelines.NewServer(pipelines.ServerConfig{
		Service: svc, Backends: reg, Heartbeat: o.Heartbeat, LeaseTTL: o.LeaseTTL, Workers: o.Workers,
		SweepInterval: o.SweepInterval, SweepGrace: o.SweepGrace, Logger: f.Logger,
		Self: store.Member{ID: o.ID, Address: ln.Addr().String(), Hostname: host, PID: os.Getpid(), Version: f.Version},
	})
	httpSrv := &http.Server{Handler: serverMux(st, srv), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			f.Logger.Error("http server", "err", err)
		}
	}()
	fmt.Fprintf(f.IO.ErrOut, "portico server %s: database %s, http://%s (/healthz /readyz /metrics)\n", o.ID, st.DSN(), ln.Addr())
	err = srv.Run(ctx)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = httpSrv.Shutdown(sctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(f.IO.ErrOut, "portico server %s stopped: leases released, membership withdrawn\n", o.ID)
	return nil
}

func serverMux(st *store.Store, srv *pipelines.Server) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if _, err := st.Now(ctx); err != nil || !srv.Ready() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("GET /metrics", metricsHandler(st, srv))
	return mux
}
