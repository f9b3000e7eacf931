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
	var end <-chan time.Time
	if s.drainAfter != nil {
		end = s.drainAfter(s.cfg.ShutdownDrain)
	} else {
		t := time.NewTimer(s.cfg.ShutdownDrain)
		defer t.Stop()
		end = t.C
	}
	select {
	case <-end:
		return nil
	case err := <-errc:
		return fmt.Errorf("server: %w", err)
	}
}
