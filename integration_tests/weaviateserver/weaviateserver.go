// Package weaviateserver runs a real Weaviate server (the weaviate-server
// binary that scripts/deps.sh builds into .deps/bin) for tests: on free
// 127.0.0.1 ports, with a temporary data directory, anonymous access and no
// vectorizer. Kill and Start restart it on the same data directory and
// ports, to test what survives a crash.
package weaviateserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Binary returns the path of the weaviate-server binary under deps (the
// .deps directory) and whether it exists.
func Binary(deps string) (string, bool) {
	p := filepath.Join(deps, "bin", "weaviate-server")
	st, err := os.Stat(p)
	return p, err == nil && !st.IsDir()
}

// Server is one weaviate-server process.
type Server struct {
	bin     string
	dataDir string
	ownDir  bool
	ports   ports
	logPath string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

type ports struct {
	http, grpc, gossip, data, raft, raftRPC int
}

// Options configure Start.
type Options struct {
	// DataDir is the persistence directory; empty means a new temporary
	// directory that Stop removes.
	DataDir string
	// Ready bounds the wait for readiness (default 90s).
	Ready time.Duration
}

// Start launches bin and waits until /v1/.well-known/ready answers 200.
func Start(bin string, opts *Options) (*Server, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	s := &Server{bin: bin, dataDir: o.DataDir}
	if s.dataDir == "" {
		dir, err := os.MkdirTemp("", "weaviate-test-")
		if err != nil {
			return nil, fmt.Errorf("weaviateserver: %w", err)
		}
		s.dataDir, s.ownDir = dir, true
	}
	s.logPath = filepath.Join(s.dataDir, "server.log")
	p, err := freePorts(6)
	if err != nil {
		s.Stop()
		return nil, err
	}
	s.ports = ports{http: p[0], grpc: p[1], gossip: p[2], data: p[3], raft: p[4], raftRPC: p[5]}
	if err := s.Start(o.Ready); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// freePorts asks the kernel for n distinct free ports.
func freePorts(n int) ([]int, error) {
	var out []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("weaviateserver: free port: %w", err)
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}

// Addr is the REST address, "127.0.0.1:PORT".
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.ports.http) }

// GRPCAddr is the gRPC address.
func (s *Server) GRPCAddr() string { return "127.0.0.1:" + strconv.Itoa(s.ports.grpc) }

// DataDir is the persistence directory.
func (s *Server) DataDir() string { return s.dataDir }

// LogPath is the file holding the server's output.
func (s *Server) LogPath() string { return s.logPath }

// Start (re)starts the process on the same ports and data directory and
// waits for readiness (ready 0 means 90s).
func (s *Server) Start(ready time.Duration) error {
	if ready <= 0 {
		ready = 90 * time.Second
	}
	s.mu.Lock()
	if s.cmd != nil {
		s.mu.Unlock()
		return errors.New("weaviateserver: already running")
	}
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.mu.Unlock()
		return fmt.Errorf("weaviateserver: %w", err)
	}
	p := s.ports
	cmd := exec.Command(s.bin, "--host", "127.0.0.1", "--port", strconv.Itoa(p.http), "--scheme", "http")
	cmd.Env = append(os.Environ(),
		"PERSISTENCE_DATA_PATH="+s.dataDir,
		"AUTHENTICATION_ANONYMOUS_ACCESS_ENABLED=true",
		"DEFAULT_VECTORIZER_MODULE=none",
		"CLUSTER_HOSTNAME=node1",
		"CLUSTER_ADVERTISE_ADDR=127.0.0.1",
		"RAFT_BOOTSTRAP_EXPECT=1",
		"DISABLE_TELEMETRY=true",
		"GO_PROFILING_DISABLE=true",
		"LOG_LEVEL=warning",
		"GRPC_PORT="+strconv.Itoa(p.grpc),
		"CLUSTER_GOSSIP_BIND_PORT="+strconv.Itoa(p.gossip),
		"CLUSTER_DATA_BIND_PORT="+strconv.Itoa(p.data),
		"RAFT_PORT="+strconv.Itoa(p.raft),
		"RAFT_INTERNAL_RPC_PORT="+strconv.Itoa(p.raftRPC),
		"RAFT_JOIN=node1:"+strconv.Itoa(p.raft),
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		s.mu.Unlock()
		return fmt.Errorf("weaviateserver: start %s: %w", s.bin, err)
	}
	done := make(chan struct{})
	go func() { // exits when the process does
		cmd.Wait()
		logf.Close()
		close(done)
	}()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), ready)
	defer cancel()
	url := "http://" + s.Addr() + "/v1/.well-known/ready"
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-done:
			s.mu.Lock()
			s.cmd = nil
			s.mu.Unlock()
			return fmt.Errorf("weaviateserver: exited during startup; see %s", s.logPath)
		case <-ctx.Done():
			s.Kill()
			return fmt.Errorf("weaviateserver: not ready after %v; see %s", ready, s.logPath)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Kill stops the process with SIGKILL (a crash: nothing is flushed) and
// waits for it to exit. It does nothing when the server is not running.
func (s *Server) Kill() { s.stop(0) }

// Terminate stops the process gracefully (SIGTERM, so it flushes its
// state), killing it if it has not exited within grace.
func (s *Server) Terminate(grace time.Duration) { s.stop(grace) }

// stop sends SIGTERM and waits up to grace (none: straight to SIGKILL),
// then SIGKILL, and waits for the process to exit.
func (s *Server) stop(grace time.Duration) {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	if grace > 0 {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
			return
		case <-time.After(grace):
		}
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-done
}

// Stop kills the process and removes the data directory when Start made it.
func (s *Server) Stop() {
	s.Kill()
	if s.ownDir {
		os.RemoveAll(s.dataDir)
	}
}
