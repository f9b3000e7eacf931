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
// calls of Call sequences (0: one call).
type gpuWorkload struct {
	Name  string    `json:"name"`
	Batch int       `json:"batch"`
	Call  int       `json:"call"`
	Seqs  [][]int64 `json:"seqs"`
}

// gpuResult is what the check writes per workload.
type gpuResult struct {
	Name           string    `json:"name"`
	Pairs          int       `json:"pairs"`
	Seconds        float64   `json:"seconds"` // per timed pass
	CompileSeconds float64   `json:"compile_seconds"`
	Scores         []float64 `json:"scores"`
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
		pass := func() error {
			call := w.Call
			if call <= 0 {
				call = len(w.Seqs)
			}
			for start := 0; start < len(w.Seqs); {
				end := min(start+w.Batch, (start/call+1)*call, len(w.Seqs))
				rows := w.Seqs[start:end]
				S := 0
				for _, r := range rows {
					S = max(S, len(r))
				}
				ids, mask := make([]int64, len(rows)*S), make([]int64, len(rows)*S)
				for i, r := range rows {
					copy(ids[i*S:], r)
					for j := range r {
						mask[i*S+j] = 1
					}
					for j := len(r); j < S; j++ {
						ids[i*S+j] = 151643
					}
				}
				out, err := e.Run(ctx, ids, mask, nil, len(rows), S)
				if err != nil {
					return err
				}
				copy(res.Scores[start:], out)
				start = end
			}
			return nil
		}
		c0 := time.Now()
		if err := pass(); err != nil { // compiles each bucket once
			t.Fatal(err)
		}
		res.CompileSeconds = time.Since(c0).Seconds()
		r0 := time.Now()
		for i := 0; i < *gpuRepeat; i++ {
			if err := pass(); err != nil {
				t.Fatal(err)
			}
		}
		res.Seconds = time.Since(r0).Seconds() / float64(*gpuRepeat)
		results = append(results, res)
		t.Logf("%s: %d pairs, %.3fs per pass (first pass with compiling %.1fs)", w.Name, res.Pairs, res.Seconds, res.CompileSeconds)
		if *gpuOut != "" {
			b, _ := json.Marshal(results)
			if err := os.WriteFile(*gpuOut, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
