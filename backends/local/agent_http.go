package local

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"
)

// healthBody is the agent's health answer. It names the token so that a
// prober can tell this agent from whatever else holds the port.
type healthBody struct {
	Status  string `json:"status"`
	Gateway string `json:"gateway"`
	Replica int    `json:"replica"`
	Domain  string `json:"domain,omitempty"`
	Token   string `json:"token"`
}

// hangFor is how long an injected "hang" fault stalls a probe.
const hangFor = 30 * time.Second

type agent struct {
	cfg       AgentConfig
	log       *slog.Logger
	faultPath string
}

func (a *agent) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", a.health)
	if p := a.cfg.HealthPath; p != "" && p != "/healthz" && p != "/" {
		mux.HandleFunc("GET "+p, a.health)
	}
	mux.HandleFunc("GET /{$}", a.index)
	return a.logRequests(mux)
}

// health answers 200, unless agents/<token>.fault injects a failure: "503"
// answers 503, "hang" stalls until the client or the agent gives up. The
// file is read per request so tests can flip it on a running agent.
func (a *agent) health(w http.ResponseWriter, r *http.Request) {
	body := healthBody{Status: "ok", Gateway: a.cfg.Gateway, Replica: a.cfg.ReplicaNum,
		Domain: a.cfg.Domain, Token: a.cfg.Token}
	code := http.StatusOK
	fault, _ := os.ReadFile(a.faultPath)
	switch strings.TrimSpace(string(fault)) {
	case "503":
		body.Status, code = "failing", http.StatusServiceUnavailable
	case "hang":
		t := time.NewTimer(hangFor)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

func (a *agent) index(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	domain := a.cfg.Domain
	if domain == "" {
		domain = "(no domain)"
	}
	_, _ = fmt.Fprintf(w, "portico gateway %s replica %d serving %s\n", a.cfg.Gateway, a.cfg.ReplicaNum, domain)
}

// statusRecorder remembers the status a handler wrote, for the request log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (a *agent) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		a.log.Info("request", "method", r.Method, "path", r.URL.Path, "status", rec.status,
			"duration", time.Since(start).Round(time.Microsecond))
	})
}
