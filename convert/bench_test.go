package convert_test

import (
	"testing"

	"twostage/convert"
	"twostage/convert/tinymodel"
	"twostage/modeldir"
)

// BenchmarkDtypes runs one mid-sized Qwen3 reranker (hidden 512, 4 layers)
// on CPU converted three ways, side by side: fp32; fp16 weights with fp32
// products; fp16 products. Compare the ns/op of the sub-benchmarks.
//
//	go test -run '^$' -bench Dtypes -benchtime 5x ./convert
func BenchmarkDtypes(b *testing.B) {
	spec := tinymodel.Spec{Family: modeldir.FamilyZerank, Seed: 1, Hidden: 512, Layers: 4, Heads: 8, KVHeads: 2, HeadDim: 64, Intermediate: 1536}
	full, _ := tinymodel.Defaults(spec)
	seqs := randomSeqs(1, full.Vocab, false, 128, 128, 128, 128)
	for _, v := range []struct {
		name string
		opts *convert.Options
	}{
		{"fp32", nil},
		{"fp16-weights", &convert.Options{Dtype: modeldir.DtypeFP16}},
		{"fp16-compute", &convert.Options{Compute: modeldir.DtypeFP16}},
	} {
		b.Run(v.name, func(b *testing.B) {
			r := newRunner(b, tinymodel.ModelSpec(b, spec, v.opts))
			r.run(b, seqs) // warm up
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				r.run(b, seqs)
			}
		})
	}
}
