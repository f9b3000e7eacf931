//go:build faiss

package faisslocal_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"testing"

	"twostage"
	"twostage/adapters/storetest"
	"twostage/faisslocal"
)

var ctx = context.Background()

// clustered returns n documents in 20 clusters, with metadata "group"
// (id index mod 100) and "lang".
func clustered(seed uint64, n, dim int) []twostage.Document {
	r := rand.New(rand.NewPCG(seed, 7))
	centers := make([][]float32, 20)
	for i := range centers {
		centers[i] = storetest.RandomVector(r, dim)
	}
	docs := make([]twostage.Document, n)
	for i := range docs {
		c := centers[r.IntN(len(centers))]
		v := storetest.RandomVector(r, dim)
		for j := range v {
			v[j] = c[j] + 0.3*v[j]
		}
		docs[i] = twostage.Document{ID: fmt.Sprintf("d%05d", i), Text: fmt.Sprint("text ", i), Vector: v,
			Metadata: map[string]any{"group": int64(i % 100), "lang": []string{"en", "de"}[i%2]}}
	}
	return docs
}

func openDriver(t *testing.T, dir string, opts *faisslocal.Options) *faisslocal.Driver {
	t.Helper()
	d, err := faisslocal.OpenDriver(dir, opts)
	if err != nil {
		t.Fatalf("OpenDriver(%s): %v", dir, err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// eachKind runs test as a subtest for every index kind in kinds, on a
// fresh driver of dim-dimensional vectors (default options) holding docs.
func eachKind(t *testing.T, dim int, docs []twostage.Document, test func(t *testing.T, d *faisslocal.Driver)) {
	for _, kind := range kinds {
		t.Run(kind.name, func(t *testing.T) {
			d := openDriver(t, t.TempDir(), &faisslocal.Options{Dim: dim, Index: kind.spec})
			upsert(t, d, docs)
			test(t, d)
		})
	}
}

func upsert(t *testing.T, d *faisslocal.Driver, docs []twostage.Document) {
	t.Helper()
	for i := 0; i < len(docs); i += 500 {
		if err := d.Upsert(ctx, docs[i:min(i+500, len(docs))]); err != nil {
			t.Fatalf("Upsert: %v", err)
		}
	}
}

func hitIDs(hits []twostage.Hit) []string {
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = h.ID
	}
	return out
}

// exact is the brute-force answer over docs.
func exact(docs []twostage.Document, m twostage.Metric, q []float32, k int, f *twostage.Filter) []string {
	type sc struct {
		id string
		s  float64
	}
	var all []sc
	for _, d := range docs {
		if f.Match(d.Metadata) {
			all = append(all, sc{d.ID, m.Similarity(q, d.Vector)})
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].s > all[j].s || all[i].s == all[j].s && all[i].id < all[j].id })
	var out []string
	for i := 0; i < k && i < len(all); i++ {
		out = append(out, all[i].id)
	}
	return out
}

func search(t *testing.T, d *faisslocal.Driver, q twostage.Query) []string {
	t.Helper()
	hits, err := d.Search(ctx, q)
	if err != nil {
		t.Fatalf("Search: %v", err)
	}
	sort.SliceStable(hits, func(i, j int) bool { return hits[i].RetrievalScore > hits[j].RetrievalScore })
	return hitIDs(hits)
}

var kinds = []struct {
	name string
	spec faisslocal.IndexSpec
}{
	{"flat", faisslocal.Flat{}},
	{"hnsw", faisslocal.HNSW{M: 16, EfSearch: 64}},
	{"ivfflat", faisslocal.IVFFlat{NList: 16, NProbe: 16, TrainSize: 500}},
	{"ivfpq", faisslocal.IVFPQ{NList: 16, NProbe: 16, M: 8, NBits: 6, TrainSize: 500}},
	{"ivfpq-mem", faisslocal.IVFPQ{NList: 16, NProbe: 16, M: 8, NBits: 6, TrainSize: 500, RefineInMemory: true}},
}

// TestReopen checks that every kind reopens, without options, to the same
// documents and the same search answers, after Close and after compaction.
func TestReopen(t *testing.T) {
	const dim = 16
	docs := clustered(1, 1500, dim)
	for _, kind := range kinds {
		t.Run(kind.name, func(t *testing.T) {
			dir := t.TempDir()
			d := openDriver(t, dir, &faisslocal.Options{Dim: dim, Metric: twostage.L2, Index: kind.spec, CompactRatio: -1})
			upsert(t, d, docs)
			// Overwrite 100 and delete 100: dead slots to compact later.
			over := slices.Clone(docs[:100])
			r := rand.New(rand.NewPCG(2, 2))
			for i := range over {
				over[i].Vector = storetest.RandomVector(r, dim)
				over[i].Text = "new"
			}
			upsert(t, d, over)
			if err := d.Delete(ctx, hitIDs(toHits(docs[100:200]))); err != nil {
				t.Fatal(err)
			}
			want := append(slices.Clone(over), docs[200:]...)
			st := d.Stats()
			if st.Documents != 1400 || st.Dead != 200 || !st.Trained {
				t.Fatalf("Stats = %+v, want 1400 documents, 200 dead, trained", st)
			}
			queries := make([][]float32, 10)
			before := make([][]string, 10)
			for i := range queries {
				queries[i] = slices.Clone(want[r.IntN(len(want))].Vector)
				queries[i][0] += 0.1
				before[i] = search(t, d, twostage.Query{Vector: queries[i], K: 10})
			}
			if err := d.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			d2 := openDriver(t, dir, nil)
			if got := d2.Info(); got.Dim != dim || got.Metric != twostage.L2 {
				t.Fatalf("reopened Info = %+v", got)
			}
			if st := d2.Stats(); st.Documents != 1400 || st.Dead != 200 || st.Seq != st.LogSeq {
				t.Fatalf("reopened Stats = %+v, want 1400 documents, 200 dead, empty log", st)
			}
			for i, q := range queries {
				if got := search(t, d2, twostage.Query{Vector: q, K: 10}); !slices.Equal(got, before[i]) {
					t.Errorf("query %d after reopen: %v, before %v", i, got, before[i])
				}
			}
			got, err := d2.Get(ctx, []string{"d00000", "d00150", "d01499"})
			if err != nil || len(got) != 2 || got[0].Text != "new" || !slices.Equal(got[0].Vector, over[0].Vector) {
				t.Fatalf("Get after reopen = %+v, %v", got, err)
			}
			// Compaction drops the dead slots and keeps the answers.
			if err := d2.Compact(ctx); err != nil {
				t.Fatalf("Compact: %v", err)
			}
			if st := d2.Stats(); st.Dead != 0 || st.Slots != 1400 {
				t.Fatalf("after Compact Stats = %+v, want 0 dead of 1400 slots", st)
			}
			var sum float64
			for i, q := range queries {
				got := search(t, d2, twostage.Query{Vector: q, K: 10})
				if kind.name == "flat" || kind.name == "ivfflat" {
					if !slices.Equal(got, before[i]) {
						t.Errorf("query %d after compaction: %v, before %v", i, got, before[i])
					}
				}
				sum += recall(got, exact(want, twostage.L2, q, 10, nil))
			}
			if r := sum / float64(len(queries)); r < 0.9 {
				t.Errorf("recall@10 after compaction %.2f, want >= 0.9", r)
			}
			if err := d2.Close(); err != nil {
				t.Fatal(err)
			}
			d3 := openDriver(t, dir, nil)
			if st := d3.Stats(); st.Dead != 0 || st.Documents != 1400 {
				t.Fatalf("reopened after compaction: %+v", st)
			}
			if n := len(glob(t, dir, "index-*.faiss")); n != 1 {
				t.Errorf("%d index files left, want 1", n)
			}
		})
	}
}

func toHits(docs []twostage.Document) []twostage.Hit {
	out := make([]twostage.Hit, len(docs))
	for i, d := range docs {
		out[i].Document = d
	}
	return out
}

func glob(t *testing.T, dir, pattern string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func recall(got, want []string) float64 {
	if len(want) == 0 {
		return 1
	}
	n := 0
	for _, g := range got {
		if slices.Contains(want, g) {
			n++
		}
	}
	return float64(n) / float64(len(want))
}

// TestSaveCompactsOnRatio checks that Save compacts once dead slots pass
// CompactRatio, and not before.
func TestSaveCompactsOnRatio(t *testing.T) {
	const dim = 8
	docs := clustered(3, 100, dim)
	d := openDriver(t, t.TempDir(), &faisslocal.Options{Dim: dim, Index: faisslocal.HNSW{}, CompactRatio: 0.3})
	upsert(t, d, docs)
	steps := []struct {
		deleteN  int
		wantDead int
		slots    int
	}{
		{20, 20, 100}, // 20 of 100 dead: below 0.3
		{20, 0, 60},   // 40 of 100: compacted
	}
	next := 0
	for i, s := range steps {
		if err := d.Delete(ctx, hitIDs(toHits(docs[next:next+s.deleteN]))); err != nil {
			t.Fatal(err)
		}
		next += s.deleteN
		if err := d.Save(ctx); err != nil {
			t.Fatal(err)
		}
		if st := d.Stats(); st.Dead != s.wantDead || st.Slots != s.slots {
			t.Errorf("step %d: Stats = %+v, want %d dead of %d slots", i, st, s.wantDead, s.slots)
		}
	}
	// Deleted documents never come back from search.
	got := search(t, d, twostage.Query{Vector: docs[0].Vector, K: 100})
	if len(got) != 60 || slices.Contains(got, docs[0].ID) {
		t.Errorf("search after deletes: %d hits (want 60), contains deleted %q: %v", len(got), docs[0].ID, slices.Contains(got, docs[0].ID))
	}
}

// TestFilteredSearchReturnsK checks that a selective filter still gets k
// exact hits from every kind (over-fetch, then the exact scan).
func TestFilteredSearchReturnsK(t *testing.T) {
	const dim = 16
	docs := clustered(4, 3000, dim)
	eachKind(t, dim, docs, func(t *testing.T, d *faisslocal.Driver) {
		r := rand.New(rand.NewPCG(5, 5))
		filters := []struct {
			name string
			f    *twostage.Filter
			k    int
		}{
			{"1% match", twostage.Eq("group", int64(42)), 10},    // 30 docs
			{"exactly k", twostage.Eq("group", int64(7)), 30},    // 30 docs
			{"fewer than k", twostage.Eq("group", int64(7)), 50}, // 30 docs
			{"half", twostage.Eq("lang", "de"), 10},
			{"none", twostage.Eq("group", int64(1000)), 10},
		}
		for _, tc := range filters {
			q := storetest.RandomVector(r, dim)
			nf, err := tc.f.Normalize()
			if err != nil {
				t.Fatal(err)
			}
			got := search(t, d, twostage.Query{Vector: q, K: tc.k, Filter: nf})
			want := exact(docs, twostage.Cosine, q, tc.k, nf)
			if len(got) != len(want) {
				t.Errorf("%s: %d hits, want %d", tc.name, len(got), len(want))
			}
			if rc := recall(got, want); rc < 0.9 {
				t.Errorf("%s: recall %.2f: got %v, want %v", tc.name, rc, got, want)
			}
		}
	})
}

// TestIVFTraining checks the deferred training: exact until TrainSize, then
// trained; Train before that fails clearly with too few vectors.
func TestIVFTraining(t *testing.T) {
	const dim = 8
	docs := clustered(6, 400, dim)
	d := openDriver(t, t.TempDir(), &faisslocal.Options{Dim: dim, Index: faisslocal.IVFPQ{NList: 8, M: 4, NBits: 5, TrainSize: 300}})
	upsert(t, d, docs[:20])
	err := d.Train(ctx)
	if !errors.Is(err, faisslocal.ErrTooFewVectors) || !errors.Is(err, twostage.ErrInvalidInput) {
		t.Fatalf("Train with 20 vectors: %v, want ErrTooFewVectors", err)
	}
	if d.Stats().Trained {
		t.Fatal("trained with 20 vectors")
	}
	// Untrained: exact answers from the flat buffer.
	q := docs[3].Vector
	if got, want := search(t, d, twostage.Query{Vector: q, K: 5}), exact(docs[:20], twostage.Cosine, q, 5, nil); !slices.Equal(got, want) {
		t.Errorf("untrained search %v, want %v", got, want)
	}
	upsert(t, d, docs[20:299])
	if d.Stats().Trained {
		t.Fatal("trained below TrainSize")
	}
	upsert(t, d, docs[299:])
	if st := d.Stats(); !st.Trained || st.Documents != 400 || st.Slots != 400 {
		t.Fatalf("after reaching TrainSize: %+v", st)
	}
	if got := search(t, d, twostage.Query{Vector: q, K: 1}); len(got) != 1 || got[0] != docs[3].ID {
		t.Errorf("trained search for a stored vector: %v, want [%s]", got, docs[3].ID)
	}
	// Train explicitly, below TrainSize but above the minimum.
	d2 := openDriver(t, t.TempDir(), &faisslocal.Options{Dim: dim, Index: faisslocal.IVFFlat{NList: 8, TrainSize: 1000}})
	upsert(t, d2, docs[:50])
	if err := d2.Train(ctx); err != nil {
		t.Fatalf("Train with 50 vectors, 8 lists: %v", err)
	}
	if !d2.Stats().Trained {
		t.Fatal("not trained after Train")
	}
}

func TestOptions(t *testing.T) {
	dir := t.TempDir()
	d, err := faisslocal.OpenDriver(dir, &faisslocal.Options{Dim: 8, Metric: twostage.Dot, Index: faisslocal.HNSW{M: 8, EfSearch: 20}})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		opts *faisslocal.Options
		err  error // nil: opens
	}{
		{"no options", nil, nil},
		{"same", &faisslocal.Options{Dim: 8, Metric: twostage.Dot, Index: faisslocal.HNSW{M: 8}}, nil},
		{"new efSearch", &faisslocal.Options{Index: faisslocal.HNSW{EfSearch: 100}}, nil},
		{"other dim", &faisslocal.Options{Dim: 16}, twostage.ErrInvalidInput},
		{"other metric", &faisslocal.Options{Metric: twostage.L2}, twostage.ErrInvalidInput},
		{"other kind", &faisslocal.Options{Index: faisslocal.Flat{}}, twostage.ErrInvalidInput},
		{"other M", &faisslocal.Options{Index: faisslocal.HNSW{M: 16}}, twostage.ErrInvalidInput},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := faisslocal.OpenDriver(dir, tc.opts)
			if tc.err == nil {
				if err != nil {
					t.Fatalf("OpenDriver: %v", err)
				}
				if err := d.Close(); err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tc.err) {
				t.Fatalf("OpenDriver = %v, want %v", err, tc.err)
			}
		})
	}
	bad := []struct {
		name string
		opts *faisslocal.Options
	}{
		{"no dim", &faisslocal.Options{}},
		{"bad metric", &faisslocal.Options{Dim: 8, Metric: "hamming"}},
		{"pq m not dividing", &faisslocal.Options{Dim: 10, Index: faisslocal.IVFPQ{M: 3}}},
		{"train size too small", &faisslocal.Options{Dim: 8, Index: faisslocal.IVFFlat{NList: 100, TrainSize: 50}}},
		{"negative hnsw", &faisslocal.Options{Dim: 8, Index: faisslocal.HNSW{M: -1}}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := faisslocal.OpenDriver(dir, tc.opts); !errors.Is(err, twostage.ErrInvalidInput) {
				t.Fatalf("OpenDriver = %v, want ErrInvalidInput", err)
			}
			if _, err := os.Stat(filepath.Join(dir, "MANIFEST")); err == nil {
				t.Error("a failed create left a MANIFEST")
			}
		})
	}
}

// TestSearchBatch checks that batched searches, through Store.SearchBatch
// and the driver.BatchSearcher capability, answer as single ones do.
func TestSearchBatch(t *testing.T) {
	const dim = 16
	docs := clustered(8, 1000, dim)
	eachKind(t, dim, docs, func(t *testing.T, d *faisslocal.Driver) {
		r := rand.New(rand.NewPCG(9, 9))
		var qs []twostage.Query
		for i := range 40 {
			q := twostage.Query{Vector: storetest.RandomVector(r, dim), K: 5 + i%3}
			if i%4 == 0 {
				q.Filter = twostage.Eq("group", int64(i))
			}
			qs = append(qs, q)
		}
		s := twostage.NewStore(d) // not closed: openDriver's cleanup closes d
		batch, err := s.SearchBatch(ctx, qs)
		if err != nil {
			t.Fatal(err)
		}
		// Twice over, more than 250 single searches (HNSW's visited
		// table, kept between single searches, is cleared every 250).
		for range 7 {
			for i, q := range qs {
				q.Filter, _ = q.Filter.Normalize()
				if got, want := hitIDs(batch[i]), search(t, d, q); !slices.Equal(got, want) {
					t.Fatalf("query %d: batch %v, single %v", i, got, want)
				}
			}
		}
		for i, q := range qs {
			q.Filter, _ = q.Filter.Normalize()
			if got, want := hitIDs(batch[i]), search(t, d, q); !slices.Equal(got, want) {
				t.Errorf("query %d: batch %v, single %v", i, got, want)
			}
		}
		if _, err := s.SearchBatch(ctx, []twostage.Query{{Vector: make([]float32, 3), K: 1}}); !errors.Is(err, twostage.ErrDimension) {
			t.Errorf("bad dimension: %v, want ErrDimension", err)
		}
	})
}

// TestHNSWEfSearch checks that EfSearch reaches FAISS (1.7.3 ignores the
// value in SearchParametersHNSW) and can be changed on reopen.
func TestHNSWEfSearch(t *testing.T) {
	const dim = 32
	r := rand.New(rand.NewPCG(12, 12))
	docs := make([]twostage.Document, 3000)
	for i := range docs {
		docs[i] = twostage.Document{ID: fmt.Sprintf("h%04d", i), Vector: storetest.RandomVector(r, dim)} // unclustered: hard for HNSW
	}
	queries := make([][]float32, 50)
	for i := range queries {
		queries[i] = storetest.RandomVector(r, dim)
	}
	dir := t.TempDir()
	meanRecall := func(d *faisslocal.Driver) float64 {
		var sum float64
		for _, q := range queries {
			sum += recall(search(t, d, twostage.Query{Vector: q, K: 10}), exact(docs, twostage.L2, q, 10, nil))
		}
		return sum / float64(len(queries))
	}
	d := openDriver(t, dir, &faisslocal.Options{Dim: dim, Metric: twostage.L2, Index: faisslocal.HNSW{M: 4, EfConstruction: 16, EfSearch: 10}})
	upsert(t, d, docs)
	low := meanRecall(d)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d = openDriver(t, dir, &faisslocal.Options{Index: faisslocal.HNSW{EfSearch: 400}})
	high := meanRecall(d)
	if high < 0.85 || high < low+0.2 {
		t.Errorf("recall@10 with efSearch 10: %.3f, with 400: %.3f; want the second >= 0.85 and 0.2 above the first", low, high)
	}
	t.Logf("recall@10: efSearch 10 %.3f, efSearch 400 %.3f", low, high)
}

// TestSaveEvery checks that writes save a snapshot once the log holds
// SaveEvery entries.
func TestSaveEvery(t *testing.T) {
	docs := clustered(13, 100, 8)
	d := openDriver(t, t.TempDir(), &faisslocal.Options{Dim: 8, SaveEvery: 25})
	steps := []struct {
		upto    int
		wantLog uint64 // sequence of the last snapshot
	}{{10, 0}, {24, 0}, {30, 30}, {50, 30}, {60, 60}}
	prev := 0
	for _, s := range steps {
		upsert(t, d, docs[prev:s.upto])
		prev = s.upto
		if st := d.Stats(); st.LogSeq != s.wantLog || st.Seq != uint64(s.upto) {
			t.Errorf("after %d writes: Stats %+v, want snapshot at %d", s.upto, st, s.wantLog)
		}
	}
	if err := d.Delete(ctx, []string{docs[0].ID}); err != nil {
		t.Fatal(err)
	}
	if st := d.Stats(); st.LogSeq != 60 {
		t.Errorf("after a delete: snapshot at %d, want 60", st.LogSeq)
	}
}

// TestConcurrentMaintenance runs writes, searches (single, filtered and
// batched), Save and Compact at once; run it with -race. The final state
// must survive a reopen.
func TestConcurrentMaintenance(t *testing.T) {
	const dim = 8
	docs := clustered(14, 400, dim)
	dir := t.TempDir()
	d := openDriver(t, dir, &faisslocal.Options{Dim: dim, Index: faisslocal.HNSW{M: 8}})
	upsert(t, d, docs[:200])
	done := make(chan error, 8)
	go func() { // writer: adds 200..399, deletes 0..99
		var err error
		for i := 200; i < 400 && err == nil; i += 10 {
			err = d.Upsert(ctx, docs[i:i+10])
			if err == nil {
				j := (i - 200) / 2
				err = d.Delete(ctx, hitIDs(toHits(docs[j:j+5])))
			}
		}
		done <- err
	}()
	for g := range 3 {
		go func() { // searchers
			r := rand.New(rand.NewPCG(15, uint64(g)))
			var err error
			for i := 0; i < 60 && err == nil; i++ {
				q := twostage.Query{Vector: storetest.RandomVector(r, dim), K: 5}
				switch i % 3 {
				case 0:
					_, err = d.Search(ctx, q)
				case 1:
					q.Filter, _ = twostage.Eq("lang", "de").Normalize()
					_, err = d.Search(ctx, q)
				default:
					_, err = d.SearchBatch(ctx, []twostage.Query{q, q})
				}
			}
			done <- err
		}()
	}
	go func() { // maintenance
		var err error
		for i := 0; i < 5 && err == nil; i++ {
			if err = d.Save(ctx); err == nil {
				err = d.Compact(ctx)
			}
		}
		done <- err
	}()
	for range 5 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	want := docs[100:]
	if n, _ := d.Count(ctx); n != len(want) {
		t.Fatalf("Count = %d, want %d", n, len(want))
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d = openDriver(t, dir, nil)
	got, err := d.Get(ctx, hitIDs(toHits(docs)))
	if err != nil || len(got) != len(want) {
		t.Fatalf("after reopen Get found %d of %d (%v)", len(got), len(want), err)
	}
	hits, err := d.Search(ctx, twostage.Query{Vector: docs[0].Vector, K: 400})
	if err != nil || len(hits) != len(want) {
		t.Fatalf("after reopen search found %d, want %d (%v)", len(hits), len(want), err)
	}
}

// TestRecordCache checks that hits read through a small record cache carry
// the current text and metadata of their documents across overwrites,
// deletes and compaction, that the cache stays within its budget, and that
// answers match those of a store without the cache.
func TestRecordCache(t *testing.T) {
	const dim, budget = 8, 6000
	docs := clustered(21, 300, dim)
	cached := openDriver(t, t.TempDir(), &faisslocal.Options{Dim: dim, RecordCacheBytes: budget})
	plain := openDriver(t, t.TempDir(), &faisslocal.Options{Dim: dim, RecordCacheBytes: -1})
	both := func(f func(d *faisslocal.Driver)) { f(cached); f(plain) }
	both(func(d *faisslocal.Driver) { upsert(t, d, docs) })
	r := rand.New(rand.NewPCG(22, 1))
	compare := func(step string) {
		t.Helper()
		for range 40 {
			q := twostage.Query{Vector: storetest.RandomVector(r, dim), K: 10}
			a, err1 := cached.Search(ctx, q)
			b, err2 := plain.Search(ctx, q)
			if err1 != nil || err2 != nil {
				t.Fatalf("%s: search: %v, %v", step, err1, err2)
			}
			if fmt.Sprint(a) != fmt.Sprint(b) {
				t.Fatalf("%s: cached store answered\n%v\nthe uncached one\n%v", step, a, b)
			}
		}
		st := cached.Stats()
		if st.CacheBytes > budget || st.CachedRecords == 0 {
			t.Errorf("%s: cache holds %d records in %d bytes, want some within %d", step, st.CachedRecords, st.CacheBytes, budget)
		}
		if st := plain.Stats(); st.CachedRecords != 0 {
			t.Errorf("%s: disabled cache holds %d records", step, st.CachedRecords)
		}
	}
	compare("fresh")
	// Overwrite every other document with new text and metadata, delete
	// some: the cache must not answer with what it held.
	var over []twostage.Document
	for i := 0; i < len(docs); i += 2 {
		d := docs[i]
		d.Text, d.Metadata = "rewritten "+d.ID, map[string]any{"v": int64(2)}
		over = append(over, d)
	}
	both(func(d *faisslocal.Driver) { upsert(t, d, over) })
	var gone []string
	for i := 1; i < len(docs); i += 6 {
		gone = append(gone, docs[i].ID)
	}
	both(func(d *faisslocal.Driver) {
		if err := d.Delete(ctx, gone); err != nil {
			t.Fatal(err)
		}
	})
	compare("after overwrites and deletes")
	hits, err := cached.Search(ctx, twostage.Query{Vector: docs[0].Vector, K: 300})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hits {
		if slices.Contains(gone, h.ID) {
			t.Errorf("deleted %s found", h.ID)
		}
		var n int
		fmt.Sscanf(h.ID, "d%d", &n)
		if n%2 == 0 && (h.Text != "rewritten "+h.ID || h.Metadata["v"] != int64(2)) {
			t.Errorf("%s: text %q metadata %v, want the rewritten ones", h.ID, h.Text, h.Metadata)
		}
	}
	both(func(d *faisslocal.Driver) {
		if err := d.Compact(ctx); err != nil {
			t.Fatal(err)
		}
	})
	compare("after compaction")
}

// TestBackgroundCompaction checks that deletes past CompactRatio start a
// compaction that runs while searches and writes go on, that writes made
// during it (new documents, overwrites, deletes) are all in the compacted
// index, and that it survives a reopen.
func TestBackgroundCompaction(t *testing.T) {
	const dim = 8
	docs := clustered(31, 1200, dim)
	dir := t.TempDir()
	d := openDriver(t, dir, &faisslocal.Options{Dim: dim, Index: faisslocal.HNSW{M: 8, EfSearch: 200}, CompactRatio: 0.25})
	upsert(t, d, docs[:800])
	built, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	faisslocal.SetCompactHook(func() { once.Do(func() { close(built); <-release }) })
	defer faisslocal.SetCompactHook(nil)
	// Deleting 300 of 800 slots passes the ratio: the compaction starts.
	if err := d.Delete(ctx, hitIDs(toHits(docs[:300]))); err != nil {
		t.Fatal(err)
	}
	if !d.Stats().Compacting {
		t.Fatal("no compaction running after deleting 300 of 800")
	}
	<-built // the new index is built; the old one still answers
	live := map[string]twostage.Document{}
	for _, doc := range docs[300:800] {
		live[doc.ID] = doc
	}
	// Writes while it waits to swap: new documents, overwrites, deletes.
	upsert(t, d, docs[800:1000])
	for _, doc := range docs[800:1000] {
		live[doc.ID] = doc
	}
	over := docs[400:450]
	for i := range over {
		over[i].Text = "rewritten"
		live[over[i].ID] = over[i]
	}
	upsert(t, d, over)
	if err := d.Delete(ctx, hitIDs(toHits(docs[450:500]))); err != nil {
		t.Fatal(err)
	}
	for _, doc := range docs[450:500] {
		delete(live, doc.ID)
	}
	check := func(step string) {
		t.Helper()
		hits, err := d.Search(ctx, twostage.Query{Vector: docs[600].Vector, K: 2000})
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		if len(hits) != len(live) {
			t.Errorf("%s: %d hits, want %d", step, len(hits), len(live))
		}
		for _, h := range hits {
			want, ok := live[h.ID]
			if !ok || h.Text != want.Text {
				t.Errorf("%s: hit %s %q, want live %v with %q", step, h.ID, h.Text, ok, want.Text)
				break
			}
		}
	}
	check("during compaction")
	close(release)
	if err := d.Compact(ctx); err != nil { // waits for the running one, then compacts what is left
		t.Fatal(err)
	}
	if st := d.Stats(); st.Compacting || st.Dead != 0 || st.Slots != len(live) {
		t.Errorf("after compaction: %+v, want %d slots and none dead", st, len(live))
	}
	check("after compaction")
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d = openDriver(t, dir, nil)
	check("after reopen")
}

// TestRefineInMemory checks that IVFPQ re-scoring from the vectors the
// index keeps (RefineInMemory) answers as re-scoring from docs.db does:
// the same candidates (same training, same PQ codes), the same exact
// scores, with deletes, filters and a reopen; and that the choice is fixed
// when the store is created.
func TestRefineInMemory(t *testing.T) {
	const dim = 16
	docs := clustered(3, 1200, dim)
	spec := faisslocal.IVFPQ{NList: 16, NProbe: 4, M: 4, NBits: 6, TrainSize: 600, RefineFactor: 4}
	memSpec := spec
	memSpec.RefineInMemory = true
	open := func(dir string, s faisslocal.IndexSpec) *faisslocal.Driver {
		return openDriver(t, dir, &faisslocal.Options{Dim: dim, Index: s, CompactRatio: -1})
	}
	disk, memDir := open(t.TempDir(), spec), t.TempDir()
	mem := open(memDir, memSpec)
	for _, d := range []*faisslocal.Driver{disk, mem} {
		upsert(t, d, docs)
		if err := d.Delete(ctx, []string{"d00003", "d00010", "d00500"}); err != nil {
			t.Fatal(err)
		}
	}
	r := rand.New(rand.NewPCG(4, 4))
	compare := func(t *testing.T, mem *faisslocal.Driver) {
		t.Helper()
		for i := 0; i < 20; i++ {
			q := twostage.Query{Vector: docs[r.IntN(len(docs))].Vector, K: 10}
			if i%4 == 0 {
				q.Filter = twostage.Eq("lang", "de")
			}
			want, err := disk.Search(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			got, err := mem.Search(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 10 || len(want) != 10 {
				t.Fatalf("query %d: %d hits in memory, %d from docs.db, want 10", i, len(got), len(want))
			}
			for j := range want {
				if got[j].ID != want[j].ID || math.Abs(got[j].RetrievalScore-want[j].RetrievalScore) > 1e-5 {
					t.Fatalf("query %d hit %d: %s %.6f in memory, %s %.6f from docs.db", i, j,
						got[j].ID, got[j].RetrievalScore, want[j].ID, want[j].RetrievalScore)
				}
				if got[j].ID == "d00003" || got[j].ID == "d00010" || got[j].ID == "d00500" {
					t.Fatalf("query %d: deleted %s returned", i, got[j].ID)
				}
				if q.Filter != nil && got[j].Metadata["lang"] != "de" {
					t.Fatalf("query %d: %s does not match the filter", i, got[j].ID)
				}
			}
		}
	}
	compare(t, mem)
	if err := mem.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := faisslocal.OpenDriver(memDir, &faisslocal.Options{Index: spec}); !errors.Is(err, twostage.ErrInvalidInput) {
		t.Fatalf("reopening without RefineInMemory = %v, want ErrInvalidInput", err)
	}
	compare(t, openDriver(t, memDir, nil))
}
