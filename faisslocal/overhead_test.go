//go:build faiss

package faisslocal

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"twostage"
)

// BenchmarkBindingOverhead compares, in one process and interleaved, a
// single-query search through twostage.Store (validation, the cgo bridge,
// hydration from bbolt) with the bare FAISS search underneath it, and
// reports their ratio: the binding's overhead at batch 1.
//
//	go test -tags faiss -run '^$' -bench BindingOverhead ./faisslocal
func BenchmarkBindingOverhead(b *testing.B) {
	const dim, n = 384, 20000
	for _, kind := range []struct {
		name string
		spec IndexSpec
	}{
		{"flat", Flat{}},
		{"hnsw", HNSW{}},
		{"ivfflat", IVFFlat{NList: 64, TrainSize: 2496}},
		{"ivfpq", IVFPQ{NList: 64, TrainSize: 9984}},
	} {
		b.Run(kind.name, func(b *testing.B) {
			d, err := OpenDriver(b.TempDir(), &Options{Dim: dim, Index: kind.spec})
			if err != nil {
				b.Fatal(err)
			}
			s := twostage.NewStore(d)
			defer s.Close()
			r := rand.New(rand.NewPCG(1, 1))
			ctx := context.Background()
			for i := 0; i < n; i += 2000 {
				docs := make([]twostage.Document, 2000)
				for j := range docs {
					v := make([]float32, dim)
					for k := range v {
						v[k] = float32(r.NormFloat64())
					}
					docs[j] = twostage.Document{ID: fmt.Sprintf("d%06d", i+j), Text: "some text", Vector: v,
						Metadata: map[string]any{"n": int64(j)}}
				}
				if err := s.Upsert(ctx, docs); err != nil {
					b.Fatal(err)
				}
			}
			queries := make([][]float32, 64)
			for i := range queries {
				queries[i] = make([]float32, dim)
				for k := range queries[i] {
					queries[i][k] = float32(r.NormFloat64())
				}
			}
			const k = 10
			fetch := k * max(1, d.refine())
			dist, labels := make([]float32, fetch), make([]int64, fetch)
			var tStore, tRaw time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				q := queries[i%len(queries)]
				t0 := time.Now()
				if _, err := s.Search(ctx, twostage.Query{Vector: q, K: k}); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				// Another query, so neither search finds the other's cache.
				qv := normalized(queries[(i+len(queries)/2)%len(queries)], dim)
				p := searchParams{efSearch: d.man.Index.EfSearch, nprobe: d.man.Index.NProbe, refine: d.memRefine(), threads: 1}
				if err := d.index.search(qv, dim, fetch, p, dist, labels); err != nil {
					b.Fatal(err)
				}
				tRaw += time.Since(t1)
				tStore += t1.Sub(t0)
			}
			b.ReportMetric(float64(tRaw)/float64(tStore), "store-qps/raw-qps")
			b.ReportMetric(float64(tStore.Microseconds())/float64(b.N), "store-µs/op")
			b.ReportMetric(float64(tRaw.Microseconds())/float64(b.N), "raw-µs/op")
		})
	}
}
