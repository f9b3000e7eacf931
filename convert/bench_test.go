package convert_test

import (
	"testing"
	"time"

	"twostage/convert"
	"twostage/internal/tinymodel"
	"twostage/modeldir"
)

// BenchmarkDtypes runs one mid-sized Qwen3 reranker (hidden 512, 4 layers)
// on CPU converted three ways, side by side: fp32; fp16 weights with fp32
// products; fp16 products. Each iteration runs all three; it reports each
// one's ns/op and the fp16 variants' speedup over fp32 (above 1: faster).
//
//	go test -run '^$' -bench Dtypes -benchtime 5x ./convert
func BenchmarkDtypes(b *testing.B) {
	spec := tinymodel.Spec{Family: modeldir.FamilyZerank, Seed: 1, Hidden: 512, Layers: 4, Heads: 8, KVHeads: 2, HeadDim: 64, Intermediate: 1536}
	full, _ := tinymodel.Defaults(spec)
	seqs := randomSeqs(1, full.Vocab, false, 128, 128, 128, 128)
	variants := []struct {
		name string
		opts *convert.Options
	}{
		{"fp32", nil},
		{"fp16-weights", &convert.Options{Dtype: modeldir.DtypeFP16}},
		{"fp16-compute", &convert.Options{Compute: modeldir.DtypeFP16}},
	}
	// The three graphs run in turn inside each iteration, so a ratio
	// compares runs made side by side under the same machine load.
	runners := make([]*runner, len(variants))
	for i, v := range variants {
		runners[i] = newRunner(b, tinymodel.ModelSpec(b, spec, v.opts))
		runners[i].run(b, seqs) // warm up
	}
	spent := make([]time.Duration, len(variants))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for k, r := range runners {
			start := time.Now()
			r.run(b, seqs)
			spent[k] += time.Since(start)
		}
	}
	b.StopTimer()
	for k, v := range variants {
		b.ReportMetric(float64(spent[k].Nanoseconds())/float64(b.N), v.name+"-ns/op")
		if k > 0 {
			// Above 1: the fp16 variant is faster than fp32.
			b.ReportMetric(float64(spent[0])/float64(spent[k]), v.name+"-speedup")
		}
	}
}
