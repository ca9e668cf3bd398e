package awstest

import (
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
)

// healthFarm serves HTTP on each running instance's addresses, standing in
// for the nginx that the instance's user data would install, so health
// probes can be tested end to end without leaving loopback (Linux routes
// all of 127.0.0.0/8 to lo, so each fake address can be bound).
type healthFarm struct {
	s       *Server
	enabled bool
	port    int

	// reserved holds 127.0.0.1:port open while the server lives, so that no
	// other fake (in this process or another) picks the same port.
	reserved net.Listener

	mu      sync.Mutex
	servers map[string][]*http.Server // by instance id
}

func newHealthFarm(s *Server, enabled bool, port int) *healthFarm {
	h := &healthFarm{s: s, enabled: enabled, port: port, servers: map[string][]*http.Server{}}
	if enabled && port == 0 {
		// Pick a free port once; every instance listens on it at its own
		// addresses, as every real instance would listen on the same port.
		if ln, err := net.Listen("tcp", "127.0.0.1:0"); err == nil {
			h.port = ln.Addr().(*net.TCPAddr).Port
			h.reserved = ln
		}
	}
	return h
}

// start serves inst's addresses. Callers hold s.mu.
func (h *healthFarm) start(inst *instance) {
	if !h.enabled || h.port == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.servers[inst.id]) > 0 {
		return
	}
	for _, ip := range []string{inst.publicIP, inst.privateIP} {
		if ip == "" {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(h.port)))
		if err != nil {
			slog.Default().Warn("awstest: cannot serve health", "instance", inst.id, "addr", ip, "err", err)
			continue
		}
		srv := &http.Server{Handler: h.handler(inst)}
		go func() { _ = srv.Serve(ln) }()
		h.servers[inst.id] = append(h.servers[inst.id], srv)
	}
}

// stop closes inst's listeners and connections.
func (h *healthFarm) stop(id string) {
	h.mu.Lock()
	servers := h.servers[id]
	delete(h.servers, id)
	h.mu.Unlock()
	for _, srv := range servers {
		_ = srv.Close()
	}
}

func (h *healthFarm) closeAll() {
	h.mu.Lock()
	ids := make([]string, 0, len(h.servers))
	for id := range h.servers {
		ids = append(ids, id)
	}
	h.mu.Unlock()
	for _, id := range ids {
		h.stop(id)
	}
	if h.reserved != nil {
		_ = h.reserved.Close()
	}
}

// handler answers any GET with the instance's identity: 200 while healthy,
// or the status set with SetHealth.
func (h *healthFarm) handler(inst *instance) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.s.mu.Lock()
		status := inst.health
		if status == 0 {
			status = http.StatusOK
		}
		if inst.state != "running" {
			status = http.StatusServiceUnavailable
		}
		body := map[string]string{
			"instance_id": inst.id, "region": inst.region, "zone": inst.zone,
			"gateway": inst.tags["portico-gateway"], "replica": inst.tags["portico-replica"],
			"status": map[bool]string{true: "ok", false: "unhealthy"}[status < 300],
		}
		h.s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(body)
	})
}
