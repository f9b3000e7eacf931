package convert_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"twostage/convert"
	"twostage/internal/tinymodel"
	"twostage/modeldir"
)

// graphSpecs are the models the graph benchmarks convert both ways: a small
// Qwen3 reranker (GQA, 4 query heads on 2 key heads) and a small BERT cross
// encoder.
var graphSpecs = []tinymodel.Spec{
	{Family: modeldir.FamilyZerank, Seed: 1, Hidden: 256, Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 64, Intermediate: 768, Vocab: 10000},
	{Family: modeldir.FamilyBertCrossEncoder, Seed: 1, Hidden: 256, Layers: 2, Heads: 4, Intermediate: 1024, MaxPositions: 4096},
}

// BenchmarkGraphs runs the fused and the plain graph of each model on one
// thread (8 rows of 256 tokens, then 2 of 1,024), alternating between them so that both see
// the same machine load, and reports each graph's best tokens per second
// and the ratio fused / plain. Times are the process's CPU time (ONNX
// Runtime computes on the calling thread with one intra-op thread), so other
// processes holding the core do not count.
//
//	go test -run '^$' -bench 'Graphs$' -benchtime 10x ./convert
func BenchmarkGraphs(b *testing.B) {
	for _, shape := range []struct{ rows, n int }{{8, 256}, {2, 1024}} {
		for _, spec := range graphSpecs {
			b.Run(fmt.Sprintf("%s/%dx%d", spec.Family, shape.rows, shape.n), func(b *testing.B) {
				full, _ := tinymodel.Defaults(spec)
				seqs := randomSeqs(1, full.Vocab, !modeldir.IsDecoder(spec.Family), slices.Repeat([]int{shape.n}, shape.rows)...)
				var rs []*runner
				for _, graph := range graphs {
					r := newRunner(b, tinymodel.ModelSpec(b, spec, &convert.Options{Graph: graph}))
					r.run(b, seqs) // warm up
					rs = append(rs, r)
				}
				best := make([]time.Duration, len(rs))
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					for j, r := range rs {
						start := cpuTime(b)
						r.run(b, seqs)
						if d := cpuTime(b) - start; best[j] == 0 || d < best[j] {
							best[j] = d
						}
					}
				}
				tokens := float64(shape.rows * shape.n)
				for j, graph := range graphs {
					b.ReportMetric(tokens/best[j].Seconds(), graph+"-tok/s")
				}
				b.ReportMetric(best[1].Seconds()/best[0].Seconds(), "fused/plain")
			})
		}
	}
}

// BenchmarkGraphMemory prints the peak resident memory one row of 512 to
// 4,096 tokens adds while it runs (VmHWM, reset before each run), fused vs
// plain, for each model. The plain graph's attention holds [heads, S, S]
// float32 scores per layer; the fused kernels hold no S x S tensor.
//
//	go test -run '^$' -bench GraphMemory -benchtime 1x ./convert
func BenchmarkGraphMemory(b *testing.B) {
	lengths := []int{512, 1024, 2048, 4096}
	for _, spec := range graphSpecs {
		full, _ := tinymodel.Defaults(spec)
		peak := map[string][]float64{}
		for _, graph := range graphs {
			r := newRunner(b, tinymodel.ModelSpec(b, spec, &convert.Options{Graph: graph}))
			for _, n := range lengths {
				seqs := randomSeqs(2, full.Vocab, !modeldir.IsDecoder(spec.Family), n)
				r.run(b, randomSeqs(2, full.Vocab, !modeldir.IsDecoder(spec.Family), 8)) // sessions allocate on first run
				if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
					b.Skipf("cannot reset the peak resident size: %v", err)
				}
				before := procStatus(b, "VmRSS")
				r.run(b, seqs)
				peak[graph] = append(peak[graph], float64(procStatus(b, "VmHWM")-before)/1024)
			}
		}
		fmt.Printf("\n%s (hidden %d, %d layers, %d heads): peak resident memory added by one row, MiB\n", spec.Family, full.Hidden, full.Layers, full.Heads)
		fmt.Printf("%8s %10s %10s %8s\n", "tokens", "plain", "fused", "ratio")
		for i, n := range lengths {
			p, f := peak[convert.GraphPlain][i], peak[convert.GraphFused][i]
			fmt.Printf("%8d %10.1f %10.1f %8.2f\n", n, p, f, f/max(p, 0.1))
		}
	}
}

// procStatus reads a kB field of /proc/self/status.
func procStatus(tb testing.TB, field string) int64 {
	tb.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		tb.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if f := bytes.Fields(sc.Bytes()); len(f) >= 2 && string(f[0]) == field+":" {
			v, err := strconv.ParseInt(string(f[1]), 10, 64)
			if err != nil {
				tb.Fatal(err)
			}
			return v
		}
	}
	tb.Fatalf("no %s in /proc/self/status", field)
	return 0
}

// cpuTime is the process's user and system CPU time.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
