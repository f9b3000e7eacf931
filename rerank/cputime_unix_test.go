//go:build unix

package rerank

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time (user + system) the process has used so
// far, all threads included (ONNX Runtime's thread pools too).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
