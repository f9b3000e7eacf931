package xla

import (
	"fmt"
	"strings"

	"twostage/convert/arch"
	"twostage/errdefs"
)

// Compute types for Options.Compute.
const (
	ComputeFP32 = "fp32"
	ComputeBF16 = "bf16"
	ComputeFP16 = "fp16"
)

// Options configures Open. Zero fields mean the documented defaults.
type Options struct {
	// Platform is PlatformCPU ("") or PlatformCUDA.
	Platform string
	// DeviceID is the device ordinal on the platform.
	DeviceID int
	// Compute is the type of the weights and matrix products: ComputeFP32
	// (""), ComputeBF16 or ComputeFP16. Norms, softmax, the residual
	// stream and the scores are float32 in every mode.
	Compute string
	// Family is a modeldir family; "" guesses it from config.json (a Qwen3
	// checkpoint is taken as zerank).
	Family string
	// MaxLength caps the sequence length (0: the model's).
	MaxLength int
	// Shape rounds a batch of b rows of at most s tokens up to the compiled
	// shape that runs it; nil means Buckets. It must return B >= b and
	// S >= s.
	Shape func(b, s int) (B, S int)
	// PrefixShape rounds the n distinct prefixes of a batch, of at most p
	// tokens, up to the compiled shape of their prefix program (and of the
	// past its continuation takes); nil means Buckets. It must return
	// N >= n and P >= p.
	PrefixShape func(n, p int) (N, P int)
	// PluginEnv overrides the PJRT_PLUGIN_LIBRARY_PATH environment variable
	// when not nil (tests); WorkDir the directory whose .deps/pjrt is
	// searched ("": the working directory).
	PluginEnv *string
	WorkDir   string
}

func (o *Options) computeType() (string, error) {
	switch strings.ToLower(o.Compute) {
	case "", ComputeFP32:
		return arch.F32, nil
	case ComputeBF16:
		return arch.BF16, nil
	case ComputeFP16:
		return arch.F16, nil
	}
	return "", fmt.Errorf("xla: compute type %q (want fp32, bf16 or fp16): %w", o.Compute, errdefs.ErrInvalidInput)
}

// Buckets rounds b and s up to the next step of 1, 2, 3, 4, 6, 8, 12, 16,
// 24, 32, ... (powers of two and 1.5 times powers of two), with s at least
// 16 and at most maxLen (when positive): a batch is computed at most 1.5x
// larger than it is in each dimension, and a run of mixed lengths compiles
// a few programs, not one per length.
func Buckets(b, s, maxLen int) (int, int) {
	S := step(max(s, 16))
	if maxLen > 0 && S > maxLen {
		S = max(maxLen, s)
	}
	return step(b), S
}

func step(n int) int {
	for p := 1; ; p *= 2 {
		if n <= p {
			return p
		}
		if p >= 2 && n <= p+p/2 {
			return p + p/2
		}
	}
}
