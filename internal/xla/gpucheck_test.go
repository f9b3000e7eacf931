//go:build xla

package xla_test

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"testing"
	"time"

	"twostage/internal/xla"
	"twostage/modeldir"
)

// Flags of TestGPUCheck, the XLA side of scripts/gpu-check-xla.sh.
var (
	gpuCheck    = flag.String("xla.gpucheck", "", "checkpoint directory: run TestGPUCheck on it")
	gpuPairs    = flag.String("xla.pairs", "", "TestGPUCheck: the workloads' token ids (JSON)")
	gpuOut      = flag.String("xla.out", "", "TestGPUCheck: where to write scores and timings (JSON, rewritten after each workload)")
	gpuPlatform = flag.String("xla.platform", xla.PlatformCUDA, "TestGPUCheck: PJRT platform")
	gpuCompute  = flag.String("xla.compute", xla.ComputeBF16, "TestGPUCheck: compute type")
	gpuRepeat   = flag.Int("xla.repeat", 2, "TestGPUCheck: timed passes over each workload")
)

// gpuWorkload is one workload of the check: sequences of token ids (each a
// whole zerank input), run in batches of Batch in the given order, within
// calls of Call sequences (0: one call). Prefix > 0: each call's sequences
// share their first Prefix tokens, and the workload runs twice, whole and
// with the shared prefix (RunPrefixed: each batch runs its call's prefix
// once, then its rows' tokens after it).
type gpuWorkload struct {
	Name   string    `json:"name"`
	Batch  int       `json:"batch"`
	Call   int       `json:"call"`
	Prefix int       `json:"prefix"`
	Seqs   [][]int64 `json:"seqs"`
}

// gpuResult is what the check writes per workload.
type gpuResult struct {
	Name           string    `json:"name"`
	Pairs          int       `json:"pairs"`
	Seconds        float64   `json:"seconds"` // per timed pass
	CompileSeconds float64   `json:"compile_seconds"`
	Scores         []float64 `json:"scores"`
	// The same with the shared prefix (workloads with a Prefix).
	PrefixSeconds        float64   `json:"prefix_seconds,omitempty"`
	PrefixCompileSeconds float64   `json:"prefix_compile_seconds,omitempty"`
	PrefixScores         []float64 `json:"prefix_scores,omitempty"`
}

// TestGPUCheck times the executor over prepared workloads (see
// scripts/gpu-check-xla.sh); it is skipped without -xla.gpucheck. Each
// batch is right-padded to its longest sequence and runs at its bucket
// shape with B fixed to the workload's batch size, so a workload compiles
// one program per sequence bucket; the first pass (compiling) is not timed.
func TestGPUCheck(t *testing.T) {
	if *gpuCheck == "" {
		t.Skip("the XLA side of scripts/gpu-check-xla.sh (-xla.gpucheck=DIR)")
	}
	var work []gpuWorkload
	b, err := os.ReadFile(*gpuPairs)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &work); err != nil {
		t.Fatal(err)
	}
	batch := 1
	for _, w := range work {
		batch = max(batch, w.Batch)
	}
	t0 := time.Now()
	var fixedB int
	e, err := xla.Open(*gpuCheck, &xla.Options{Platform: *gpuPlatform, Compute: *gpuCompute, Family: modeldir.FamilyZerank,
		Shape: func(b, s int) (int, int) {
			_, S := xla.Buckets(b, s, 0)
			return max(b, fixedB), S
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	t.Logf("open (weights uploaded): %.1fs", time.Since(t0).Seconds())
	var results []gpuResult
	ctx := context.Background()
	for _, w := range work {
		fixedB = w.Batch
		res := gpuResult{Name: w.Name, Pairs: len(w.Seqs), Scores: make([]float64, len(w.Seqs))}
		// pass runs the workload once into scores, with the shared prefix or
		// without.
		pass := func(prefixed bool, scores []float64) error {
			call := w.Call
			if call <= 0 {
				call = len(w.Seqs)
			}
			for start := 0; start < len(w.Seqs); {
				end := min(start+w.Batch, (start/call+1)*call, len(w.Seqs))
				rows := w.Seqs[start:end]
				cut := 0
				if prefixed {
					cut = w.Prefix
				}
				S := 0
				for _, r := range rows {
					S = max(S, len(r)-cut)
				}
				ids, mask := make([]int64, len(rows)*S), make([]int64, len(rows)*S)
				for i, r := range rows {
					copy(ids[i*S:], r[cut:])
					for j := range len(r) - cut {
						mask[i*S+j] = 1
					}
					for j := len(r) - cut; j < S; j++ {
						ids[i*S+j] = 151643
					}
				}
				var out []float64
				var err error
				if prefixed {
					out, err = e.RunPrefixed(ctx, [][]int64{rows[0][:cut]}, make([]int, len(rows)), ids, mask, len(rows), S)
				} else {
					out, err = e.Run(ctx, ids, mask, nil, len(rows), S)
				}
				if err != nil {
					return err
				}
				copy(scores[start:], out)
				start = end
			}
			return nil
		}
		// timed runs a first pass (compiling each bucket once), then the
		// timed ones, and returns the seconds of each.
		timed := func(prefixed bool, scores []float64) (compile, secs float64) {
			c0 := time.Now()
			if err := pass(prefixed, scores); err != nil {
				t.Fatal(err)
			}
			compile = time.Since(c0).Seconds()
			r0 := time.Now()
			for i := 0; i < *gpuRepeat; i++ {
				if err := pass(prefixed, scores); err != nil {
					t.Fatal(err)
				}
			}
			return compile, time.Since(r0).Seconds() / float64(*gpuRepeat)
		}
		res.CompileSeconds, res.Seconds = timed(false, res.Scores)
		t.Logf("%s: %d pairs, %.3fs per pass (first pass with compiling %.1fs)", w.Name, res.Pairs, res.Seconds, res.CompileSeconds)
		if w.Prefix > 0 {
			res.PrefixScores = make([]float64, len(w.Seqs))
			res.PrefixCompileSeconds, res.PrefixSeconds = timed(true, res.PrefixScores)
			t.Logf("%s, shared prefix of %d tokens: %.3fs per pass (first pass with compiling %.1fs)", w.Name, w.Prefix, res.PrefixSeconds, res.PrefixCompileSeconds)
		}
		results = append(results, res)
		if *gpuOut != "" {
			b, _ := json.Marshal(results)
			if err := os.WriteFile(*gpuOut, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
