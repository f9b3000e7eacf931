//go:build faiss && !faiss_system

package faisslocal

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"twostage"
	"twostage/adapters/storetest"
)

// BenchmarkSIMDSearch compares, in one process and interleaved query by
// query, batch-1 searches through the store with the AVX2+FMA kernels and
// with FAISS's scalar ones on the same index, FAISSLOCAL_SIMD_DOCS documents
// (default 20,000) of dimension 384, cosine. It reports the QPS ratio
// avx2/scalar over the whole run and the median of the ratios of chunks of
// 16 queries, and each side's µs per search.
//
//	go test -tags faiss -run '^$' -bench BenchmarkSIMDSearch -benchtime 2000x ./faisslocal/
func BenchmarkSIMDSearch(b *testing.B) {
	needAVX2(b)
	n := 20_000
	if s := os.Getenv("FAISSLOCAL_SIMD_DOCS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	const dim = 384
	r := rand.New(rand.NewPCG(20, 5))
	docs := make([]twostage.Document, n)
	for i := range docs {
		docs[i] = twostage.Document{ID: fmt.Sprintf("d%07d", i), Text: "some text", Vector: storetest.RandomVector(r, dim)}
	}
	queries := make([]twostage.Query, 64)
	for i := range queries {
		queries[i] = twostage.Query{Vector: storetest.RandomVector(r, dim), K: 10}
	}
	for _, kind := range []struct {
		name string
		spec IndexSpec
	}{{"flat", Flat{}}, {"hnsw", HNSW{}}} {
		b.Run(kind.name, func(b *testing.B) {
			d := simdDriver(b, twostage.Cosine, kind.spec, docs)
			ctx := context.Background()
			timed := func(mode string, q twostage.Query) time.Duration {
				restore, err := setSIMD(mode, false)
				if err != nil {
					b.Fatal(err)
				}
				defer restore()
				start := time.Now()
				if _, err := d.Search(ctx, q); err != nil {
					b.Fatal(err)
				}
				return time.Since(start)
			}
			const chunk = 16
			var tAVX2, tScalar, cAVX2, cScalar time.Duration
			var ratios []float64
			b.ResetTimer()
			for i := range b.N {
				q := queries[i%len(queries)]
				if i%2 == 0 {
					cAVX2 += timed("avx2+fma", q)
					cScalar += timed("scalar", q)
				} else {
					cScalar += timed("scalar", q)
					cAVX2 += timed("avx2+fma", q)
				}
				if (i+1)%chunk == 0 || i == b.N-1 {
					ratios = append(ratios, float64(cScalar)/float64(cAVX2))
					tAVX2, tScalar, cAVX2, cScalar = tAVX2+cAVX2, tScalar+cScalar, 0, 0
				}
			}
			slices.Sort(ratios)
			b.ReportMetric(float64(tScalar)/float64(tAVX2), "avx2/scalar-qps")
			b.ReportMetric(ratios[len(ratios)/2], "median-chunk-ratio")
			b.ReportMetric(float64(tAVX2.Microseconds())/float64(b.N), "avx2-µs/search")
			b.ReportMetric(float64(tScalar.Microseconds())/float64(b.N), "scalar-µs/search")
		})
	}
}

// BenchmarkSIMDKernels times each kernel on 256 pairs of vectors of
// dimension 384 (768 KiB) in one cgo call: the AVX2+FMA one
// against FAISS's scalar one, interleaved, with their ratio.
//
//	go test -tags faiss -run '^$' -bench BenchmarkSIMDKernels ./faisslocal/
func BenchmarkSIMDKernels(b *testing.B) {
	needAVX2(b)
	const dim, rows = 384, 256
	r := rand.New(rand.NewPCG(20, 6))
	x, y := make([]float32, dim*rows), make([]float32, dim*rows)
	for i := range x {
		x[i], y[i] = float32(r.NormFloat64()), float32(r.NormFloat64())
	}
	for _, kernel := range []int{kernelIP, kernelL2, kernelNorm} {
		b.Run(kernelNames[kernel], func(b *testing.B) {
			run := func(impl int) time.Duration {
				start := time.Now()
				simdRows(kernel, impl, x, y, dim)
				return time.Since(start)
			}
			var tAVX2, tScalar time.Duration
			b.ResetTimer()
			for i := range b.N {
				if i%2 == 0 {
					tAVX2 += run(implAVX2)
					tScalar += run(implFAISS)
				} else {
					tScalar += run(implFAISS)
					tAVX2 += run(implAVX2)
				}
			}
			b.ReportMetric(float64(tScalar)/float64(tAVX2), "avx2/scalar-speed")
			b.ReportMetric(float64(tAVX2.Nanoseconds())/float64(b.N*rows), "avx2-ns/call")
			b.ReportMetric(float64(tScalar.Nanoseconds())/float64(b.N*rows), "scalar-ns/call")
		})
	}
}
