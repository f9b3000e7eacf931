//go:build faiss && !faiss_system

package faisslocal

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"twostage"
)

// withSIMD runs the rest of the test with the named kernels, counting calls
// when count is set, and restores the previous mode at cleanup.
func withSIMD(t testing.TB, name string, count bool) {
	t.Helper()
	restore, err := setSIMD(name, count)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(restore)
}

func needAVX2(t testing.TB) {
	t.Helper()
	if !simdAVX2() {
		t.Skip("this CPU has no AVX2 and FMA: only FAISS's scalar kernels can run")
	}
}

var kernelNames = map[int]string{kernelIP: "inner product", kernelL2: "L2 squared", kernelNorm: "norm squared"}

// terms is the sum of the magnitudes of the terms a kernel adds up, in
// float64: |x_i*y_i|, (x_i-y_i)^2 or x_i^2.
func terms(kernel int, x, y []float32) float64 {
	var s float64
	for i := range x {
		switch kernel {
		case kernelIP:
			s += math.Abs(float64(x[i]) * float64(y[i]))
		case kernelL2:
			t := float64(x[i]) - float64(y[i])
			s += t * t
		default:
			s += float64(x[i]) * float64(x[i])
		}
	}
	return s
}

// tolerance is how far the AVX2 kernel may be from FAISS's scalar one on x
// and y: for the inner product and L2, d * 2^-23 * terms (a sum of d float
// terms in any order is within (d-1) * 2^-24 * terms of the exact sum, and
// both kernels are such sums); for the norm, which both sum in double and
// round once to float, one float ulp of the result.
func tolerance(kernel int, x, y []float32, got float32) float64 {
	if kernel == kernelNorm {
		return float64(math.Nextafter32(got, float32(math.Inf(1))) - got)
	}
	return float64(len(x)) * 0x1p-23 * terms(kernel, x, y)
}

// TestSIMDKernelsAgree compares the AVX2+FMA kernels with FAISS's scalar
// ones (faiss::fvec_*_ref) over lengths 0 to 70 and every misalignment of
// both pointers modulo 32 bytes: within tolerance on random values, exactly
// on small integers (every partial sum is then exact), and it checks that
// the symbol FAISS calls runs the AVX2 kernel or FAISS's own bit for bit,
// as the mode says.
func TestSIMDKernelsAgree(t *testing.T) {
	needAVX2(t)
	r := rand.New(rand.NewPCG(20, 3))
	const maxLen, maxOff = 70, 8
	rnd := make([]float32, 2*(maxLen+maxOff))
	for i := range rnd {
		// Magnitudes from 1e-3 to 1e3, both signs.
		rnd[i] = float32((r.Float64()*2 - 1) * math.Pow(10, r.Float64()*6-3))
	}
	ints := make([]float32, len(rnd))
	for i := range ints {
		ints[i] = float32(r.IntN(17) - 8)
	}
	differ := map[int]int{}
	for _, kernel := range []int{kernelIP, kernelL2, kernelNorm} {
		for n := 0; n <= maxLen; n++ {
			for off := range maxOff {
				xo, yo := off, maxLen+maxOff+(off*3)%maxOff
				x, y := rnd[xo:xo+n], rnd[yo:yo+n]
				ref := simdCall(kernel, implFAISS, x, y)
				got := simdCall(kernel, implAVX2, x, y)
				if diff, tol := math.Abs(float64(got)-float64(ref)), tolerance(kernel, x, y, max(got, ref)); diff > tol {
					t.Errorf("%s, d=%d, offsets %d,%d: AVX2 %g, FAISS %g: differ by %g, tolerance %g",
						kernelNames[kernel], n, xo, yo, got, ref, diff, tol)
				}
				if got != ref {
					differ[kernel]++
				}
				xi, yi := ints[xo:xo+n], ints[yo:yo+n]
				if got, want := simdCall(kernel, implAVX2, xi, yi), simdCall(kernel, implFAISS, xi, yi); got != want {
					t.Errorf("%s, d=%d, integers: AVX2 %g, FAISS %g, want equal", kernelNames[kernel], n, got, want)
				}
			}
		}
	}
	// The kernels are not the same code: on random values the inner
	// product and L2 (float sums in another order) differ in the last bits.
	for _, kernel := range []int{kernelIP, kernelL2} {
		if differ[kernel] == 0 {
			t.Errorf("%s: AVX2 and FAISS's scalar kernel agree bit for bit on every input", kernelNames[kernel])
		}
	}

	// The symbol FAISS calls follows the mode, bit for bit.
	for _, mode := range []struct {
		name string
		impl int
	}{{"avx2+fma", implAVX2}, {"scalar", implFAISS}} {
		restore, err := setSIMD(mode.name, false)
		if err != nil {
			t.Fatal(err)
		}
		if got := SIMD(); got != mode.name {
			t.Errorf("SIMD() = %q after setSIMD(%q)", got, mode.name)
		}
		for _, kernel := range []int{kernelIP, kernelL2, kernelNorm} {
			for n := 0; n <= maxLen; n++ {
				x, y := rnd[n%maxOff:n%maxOff+n], rnd[maxLen+maxOff:maxLen+maxOff+n]
				got, want := simdCall(kernel, implSymbol, x, y), simdCall(kernel, mode.impl, x, y)
				if math.Float32bits(got) != math.Float32bits(want) {
					t.Errorf("%s kernels, d=%d: faiss::fvec_ %s = %g, want %g", mode.name, n, kernelNames[kernel], got, want)
				}
			}
		}
		restore()
	}
}

// simdData is a fixed dataset: n vectors and nq queries of dimension dim
// (not a multiple of 8, so the kernels' tails run), drawn around 30 centres.
func simdData(n, nq, dim int) (docs []twostage.Document, queries [][]float32) {
	r := rand.New(rand.NewPCG(20, 4))
	vec := func(c []float32, spread float64) []float32 {
		v := make([]float32, dim)
		for i := range v {
			v[i] = float32(r.NormFloat64() * spread)
			if c != nil {
				v[i] += c[i]
			}
		}
		return v
	}
	centres := make([][]float32, 30)
	for i := range centres {
		centres[i] = vec(nil, 1)
	}
	docs = make([]twostage.Document, n)
	for i := range docs {
		docs[i] = twostage.Document{ID: fmt.Sprintf("d%05d", i), Text: "t", Vector: vec(centres[r.IntN(len(centres))], 0.5)}
	}
	for range nq {
		queries = append(queries, vec(centres[r.IntN(len(centres))], 0.5))
	}
	return docs, queries
}

func simdDriver(t testing.TB, m twostage.Metric, spec IndexSpec, docs []twostage.Document) *Driver {
	t.Helper()
	d, err := OpenDriver(t.TempDir(), &Options{Dim: len(docs[0].Vector), Metric: m, Index: spec, RecordCacheBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	for i := 0; i < len(docs); i += 1000 {
		if err := d.Upsert(context.Background(), docs[i:min(i+1000, len(docs))]); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// TestSIMDInFAISS shows the override in effect inside FAISS: a batch-1
// Flat search (FAISS's exhaustive scan calls faiss::fvec_inner_product or
// faiss::fvec_L2sqr once per stored vector) makes exactly ntotal counted
// calls and returns, bit for bit, the distances of the kernel the mode
// names, AVX2's differing from FAISS's scalar ones; FAISS's
// fvec_norms_L2sqr makes one counted norm call per row with the same
// results as the kernel. With the weak symbols not replaced, the counts
// would stay at zero and the distances would be FAISS's.
func TestSIMDInFAISS(t *testing.T) {
	needAVX2(t)
	const n, dim = 500, 67
	docs, queries := simdData(n, 8, dim)
	for _, tc := range []struct {
		metric twostage.Metric
		kernel int
	}{{twostage.Dot, kernelIP}, {twostage.L2, kernelL2}} {
		d := simdDriver(t, tc.metric, Flat{}, docs)
		for _, mode := range []struct {
			name string
			impl int
		}{{"avx2+fma", implAVX2}, {"scalar", implFAISS}} {
			t.Run(fmt.Sprintf("%s/%s", tc.metric, mode.name), func(t *testing.T) {
				withSIMD(t, mode.name, true)
				const k = 20
				dist, labels := make([]float32, k), make([]int64, k)
				differ := 0
				for _, q := range queries {
					before := simdCalls(tc.kernel)
					if err := d.index.search(q, dim, k, searchParams{threads: 1}, dist, labels); err != nil {
						t.Fatal(err)
					}
					if calls := simdCalls(tc.kernel) - before; calls != n {
						t.Fatalf("one search made %d counted %s calls, want %d", calls, kernelNames[tc.kernel], n)
					}
					for j, l := range labels {
						if l < 0 || l >= n || d.slots[l] != docs[l].ID {
							t.Fatalf("label %d: slot %d is not document %d", j, l, l)
						}
						want := simdCall(tc.kernel, mode.impl, q, docs[l].Vector)
						if math.Float32bits(dist[j]) != math.Float32bits(want) {
							t.Fatalf("label %d: FAISS's distance %g, the %s kernel's %g", l, dist[j], mode.name, want)
						}
						if want != simdCall(tc.kernel, implFAISS, q, docs[l].Vector) {
							differ++
						}
					}
				}
				if mode.impl == implAVX2 && differ == 0 {
					t.Errorf("no distance differed from FAISS's scalar kernel's: the search cannot tell the kernels apart")
				}
			})
		}
	}
	t.Run("norms", func(t *testing.T) {
		withSIMD(t, "avx2+fma", true)
		x := make([]float32, 0, n*dim)
		for _, doc := range docs {
			x = append(x, doc.Vector...)
		}
		before := simdCalls(kernelNorm)
		norms := simdNorms(x, dim)
		if calls := simdCalls(kernelNorm) - before; calls != n {
			t.Fatalf("fvec_norms_L2sqr made %d counted norm calls, want %d", calls, n)
		}
		for i, got := range norms {
			if want := simdCall(kernelNorm, implAVX2, docs[i].Vector, nil); math.Float32bits(got) != math.Float32bits(want) {
				t.Fatalf("row %d: FAISS's norm %g, the AVX2 kernel's %g", i, got, want)
			}
		}
	})
}

// TestSIMDSameLabels searches a fixed dataset through the store with the
// AVX2 kernels and with FAISS's scalar ones, one query at a time and in a
// batch (which takes BLAS and the norm kernel for Flat), and wants the same
// top 10 documents in the same order; the scores may differ in the last
// bits. The index is built once, with the default kernels.
func TestSIMDSameLabels(t *testing.T) {
	needAVX2(t)
	const n, dim = 3000, 100
	docs, queries := simdData(n, 40, dim)
	for _, tc := range []struct {
		name   string
		metric twostage.Metric
		spec   IndexSpec
	}{
		{"flat-cosine", twostage.Cosine, Flat{}},
		{"flat-l2", twostage.L2, Flat{}},
		{"hnsw-cosine", twostage.Cosine, HNSW{M: 16, EfSearch: 64}},
		{"hnsw-l2", twostage.L2, HNSW{M: 16, EfSearch: 64}},
		{"ivfflat-cosine", twostage.Cosine, IVFFlat{NList: 16, NProbe: 4, TrainSize: 1000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := simdDriver(t, tc.metric, tc.spec, docs)
			qs := make([]twostage.Query, len(queries))
			for i, q := range queries {
				qs[i] = twostage.Query{Vector: q, K: 10}
			}
			run := func(mode string) (single, batch [][]string) {
				withSIMD(t, mode, false)
				for _, q := range qs {
					hits, err := d.Search(context.Background(), q)
					if err != nil {
						t.Fatal(err)
					}
					single = append(single, hitIDs(hits))
				}
				all, err := d.SearchBatch(context.Background(), qs)
				if err != nil {
					t.Fatal(err)
				}
				for _, hits := range all {
					batch = append(batch, hitIDs(hits))
				}
				return single, batch
			}
			s1, b1 := run("avx2+fma")
			s2, b2 := run("scalar")
			for i := range qs {
				if len(s1[i]) != 10 {
					t.Fatalf("query %d: %d hits, want 10", i, len(s1[i]))
				}
				if !slices.Equal(s1[i], s2[i]) {
					t.Errorf("query %d: AVX2 %v, scalar %v", i, s1[i], s2[i])
				}
				if !slices.Equal(b1[i], b2[i]) {
					t.Errorf("query %d, batch: AVX2 %v, scalar %v", i, b1[i], b2[i])
				}
			}
		})
	}
}

func hitIDs(hits []twostage.Hit) []string {
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = h.ID
	}
	return out
}

// TestSIMDEnvironment runs this test binary again with
// TWOSTAGE_FAISS_SIMD=scalar and without it, and checks what SIMD reports
// there.
func TestSIMDEnvironment(t *testing.T) {
	if os.Getenv("FAISSLOCAL_SIMD_CHILD") != "" {
		fmt.Printf("simd=%s\n", SIMD())
		return
	}
	want := "scalar"
	if simdAVX2() {
		want = "avx2+fma"
	}
	for _, tc := range []struct{ env, want string }{{"scalar", "scalar"}, {"", want}} {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestSIMDEnvironment$", "-test.count", "1")
		cmd.Env = append(os.Environ(), "FAISSLOCAL_SIMD_CHILD=1", "TWOSTAGE_FAISS_SIMD="+tc.env)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), "simd="+tc.want+"\n") {
			t.Errorf("TWOSTAGE_FAISS_SIMD=%q: child printed %q, want simd=%s", tc.env, out, tc.want)
		}
	}
}
