//go:build !unix

package rerank

import "time"

// processCPU is not measured on this platform: Bench's CPU columns read 0.
func processCPU() time.Duration { return 0 }
