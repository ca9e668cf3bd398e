package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// server is a running `portico server`.
type server struct {
	ID   string
	Addr string
	cmd  *exec.Cmd
	done chan struct{}
	log  string
}

// startServer starts `portico server` on a free loopback port and waits
// until it prints its address.
func (o *home) startServer(id string, args ...string) (*server, error) {
	all := append([]string{"server", "--listen", "127.0.0.1:0", "--id", id}, args...)
	c := o.command("", all...)
	logPath := filepath.Join(o.dir, "server-"+id+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	c.Stdout = logf
	pr, pw := io.Pipe()
	c.Stderr = pw
	if err := o.h.start(c); err != nil {
		logf.Close()
		return nil, err
	}
	s := &server{ID: id, cmd: c, done: make(chan struct{}), log: logPath}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logf, line)
			if i := strings.Index(line, "http://"); i >= 0 {
				a, _, _ := strings.Cut(line[i+len("http://"):], " ")
				select {
				case addr <- a:
				default:
				}
			}
		}
		_, _ = io.Copy(logf, pr)
	}()
	go func() {
		_ = c.Wait()
		pw.Close()
		logf.Close()
		o.h.forget(c)
		close(s.done)
	}()
	select {
	case s.Addr = <-addr:
		return s, nil
	case <-s.done:
		return nil, fmt.Errorf("server %s exited at start: %s", id, tail(logPath))
	case <-time.After(30 * time.Second):
		s.kill()
		return nil, fmt.Errorf("server %s printed no address within 30s: %s", id, tail(logPath))
	}
}

// kill sends SIGKILL to the server's process group and waits for it.
func (s *server) kill() {
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.done
}

// stop asks the server to stop (SIGTERM) and kills it after 10 s.
func (s *server) stop() {
	_ = syscall.Kill(s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.kill()
	}
}

// stepLatency reads a server's mean replica step time and step count from
// its /metrics.
func (s *server) stepLatency() (mean float64, steps int64) {
	resp, err := loopbackClient.Get("http://" + s.Addr + "/metrics")
	if err != nil {
		return 0, 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var sum float64
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, `portico_pipeline_step_seconds_sum{pipeline="replica"} `); ok {
			_, _ = fmt.Sscan(v, &sum)
		}
		if v, ok := strings.CutPrefix(line, `portico_pipeline_step_seconds_count{pipeline="replica"} `); ok {
			_, _ = fmt.Sscan(v, &steps)
		}
	}
	if steps > 0 {
		mean = sum / float64(steps)
	}
	return mean, steps
}
