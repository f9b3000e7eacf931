package server

import (
	"fmt"
	"time"
)

// drain waits Config.ShutdownDrain with /readyz already failing and the
// listener still open, so that load balancers see the server leave before
// its connections are refused. errc is the http.Server's Serve result: if
// it ends first, drain returns its error.
func (s *Server) drain(errc <-chan error) error {
	if s.cfg.ShutdownDrain <= 0 {
		return nil
	}
	s.log.Info("server: draining: /readyz answers 503, requests still served", "drain", s.cfg.ShutdownDrain)
	after := time.After // since Go 1.23 its timer is collected once unreferenced
	if s.drainAfter != nil {
		after = s.drainAfter
	}
	select {
	case <-after(s.cfg.ShutdownDrain):
		return nil
	case err := <-errc:
		return fmt.Errorf("server: %w", err)
	}
}
