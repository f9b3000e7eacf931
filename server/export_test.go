package server

import "time"

// SetDrainClock makes s's shutdown drain end when the channel that after
// returns is ready instead of after Config.ShutdownDrain, which after
// receives as the drain begins. Call it before Serve's ctx ends.
func SetDrainClock(s *Server, after func(time.Duration) <-chan time.Time) { s.drainAfter = after }
