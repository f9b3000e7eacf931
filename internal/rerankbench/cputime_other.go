//go:build !unix

package rerankbench

import "time"

// processCPU is not measured on this platform: Run.s CPU columns read 0.
func processCPU() time.Duration { return 0 }
