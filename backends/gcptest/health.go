package gcptest

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// addrCounter is shared by every Server in the process, so that two fakes
// serving health endpoints never hand out the same address.
var addrCounter atomic.Uint32

// allocateAddresses returns a fresh internal and NAT address pair, both in
// 127.0.0.0/8: internal 127.H.40.L and NAT 127.H.30.L (H counts blocks of
// 254). Linux answers on all of 127/8; other systems may need aliases.
func allocateAddresses() (internal, nat string) {
	k := addrCounter.Add(1) - 1
	hi, lo := (k/254)%256, k%254+1
	return fmt.Sprintf("127.%d.40.%d", hi, lo), fmt.Sprintf("127.%d.30.%d", hi, lo)
}

// healthEndpoints are the HTTP servers standing in for nginx on one VM.
type healthEndpoints struct {
	servers []*http.Server
}

func (in *instance) stopHealth() {
	if in.health == nil {
		return
	}
	for _, srv := range in.health.servers {
		_ = srv.Close()
	}
	in.health = nil
}

// startHealth serves GET /healthz on the instance's internal address and,
// when it has one, its NAT address, at HealthPort. Caller holds s.mu.
func (s *Server) startHealth(in *instance) {
	if in.health != nil {
		return
	}
	addrs := []string{in.internalIP}
	if in.public {
		addrs = append(addrs, in.natIP)
	}
	in.health = &healthEndpoints{}
	handler := s.healthHandler(in.name(), in.pb.GetLabels())
	for _, a := range addrs {
		ln, err := net.Listen("tcp", net.JoinHostPort(a, strconv.Itoa(s.opts.HealthPort)))
		if err != nil {
			in.healthErr = err.Error()
			continue
		}
		srv := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}
		in.health.servers = append(in.health.servers, srv)
		go func() { _ = srv.Serve(ln) }()
	}
}

func (s *Server) healthHandler(name string, labels map[string]string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		s.mu.Lock()
		status, ok := s.health[name]
		s.mu.Unlock()
		if !ok {
			status = http.StatusOK
		}
		state := "ok"
		if status >= 400 {
			state = "failing"
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{
			"status":   state,
			"instance": name,
			"gateway":  labels["portico-gateway"],
			"replica":  labels["portico-replica"],
		})
	})
	return mux
}

// SetHealth makes /healthz of the named instance answer with status (for
// example 503) from now on; 200 is the default.
func (s *Server) SetHealth(name string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.health[name] = status
}
