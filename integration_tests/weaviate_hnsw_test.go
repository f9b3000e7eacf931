package integration

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/weaviate/weaviate-go-client/v4/weaviate"

	"twostage"
	"twostage/adapters/storetest"
	"twostage/adapters/weaviatestore"
	"twostage/spec"
)

// classHNSW reads a class's HNSW settings back from Weaviate's schema.
func classHNSW(t *testing.T, c *weaviate.Client, class string) (indexType string, h weaviatestore.HNSW) {
	t.Helper()
	cl, err := c.Schema().ClassGetter().WithClassName(class).Do(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := cl.VectorIndexConfig.(map[string]any)
	num := func(k string) int { f, _ := cfg[k].(float64); return int(f) }
	return cl.VectorIndexType, weaviatestore.HNSW{Ef: num("ef"), EfConstruction: num("efConstruction"), MaxConnections: num("maxConnections")}
}

// TestWeaviateHNSWSettings checks that Options.HNSW and the spec's ef,
// ef_construction and max_connections reach the class Weaviate creates
// (read back from its schema), that Driver.HNSW reports a class's
// settings, and that options differing from an existing class fail Open
// and leave the class as it was.
func TestWeaviateHNSWSettings(t *testing.T) {
	srv, c := needWeaviate(t)
	drop := func(class string) {
		t.Cleanup(func() { c.Schema().ClassDeleter().WithClassName(class).Do(context.Background()) })
	}

	class := freshClass("Hnsw")
	drop(class)
	set := weaviatestore.HNSW{Ef: 777, EfConstruction: 64, MaxConnections: 16}
	d, err := weaviatestore.NewDriver(ctx, c, class, &weaviatestore.Options{Dim: 4, HNSW: set})
	if err != nil {
		t.Fatal(err)
	}
	if typ, got := classHNSW(t, c, class); typ != "hnsw" || got != set {
		t.Fatalf("schema of the created class: %s %+v, want hnsw %+v", typ, got, set)
	}
	if got := d.HNSW(); got != set {
		t.Errorf("Driver.HNSW = %+v, want %+v", got, set)
	}

	// Reopening: zero fields accept the class's values; a different value
	// is refused and the class keeps its settings.
	for _, tt := range []struct {
		h    weaviatestore.HNSW
		fail bool
	}{
		{weaviatestore.HNSW{}, false},
		{weaviatestore.HNSW{Ef: 777}, false},
		{set, false},
		{weaviatestore.HNSW{Ef: 100}, true},
		{weaviatestore.HNSW{EfConstruction: 128}, true},
		{weaviatestore.HNSW{MaxConnections: 32}, true},
	} {
		d, err := weaviatestore.NewDriver(ctx, c, class, &weaviatestore.Options{HNSW: tt.h})
		switch {
		case tt.fail && !errors.Is(err, twostage.ErrInvalidInput):
			t.Errorf("reopen with %+v: err = %v, want ErrInvalidInput", tt.h, err)
		case !tt.fail && err != nil:
			t.Errorf("reopen with %+v: %v", tt.h, err)
		case !tt.fail && d.HNSW() != set:
			t.Errorf("reopen with %+v: Driver.HNSW = %+v, want the class's %+v", tt.h, d.HNSW(), set)
		}
	}
	if _, got := classHNSW(t, c, class); got != set {
		t.Errorf("schema after refused reopens: %+v, want %+v unchanged", got, set)
	}

	// Weaviate's defaults, reported for a class created without settings.
	plain := freshClass("HnswDefault")
	drop(plain)
	d, err = weaviatestore.NewDriver(ctx, c, plain, &weaviatestore.Options{Dim: 4})
	if err != nil {
		t.Fatal(err)
	}
	if want := (weaviatestore.HNSW{Ef: -1, EfConstruction: 128, MaxConnections: 32}); d.HNSW() != want {
		t.Errorf("Driver.HNSW of a default class = %+v, want Weaviate 1.35's defaults %+v", d.HNSW(), want)
	}
	flat := freshClass("HnswFlat")
	drop(flat)
	d, err = weaviatestore.NewDriver(ctx, c, flat, &weaviatestore.Options{Dim: 4, IndexType: "flat"})
	if err != nil {
		t.Fatal(err)
	}
	if !d.HNSW().IsZero() {
		t.Errorf("Driver.HNSW of a flat class = %+v, want zero", d.HNSW())
	}
	if _, err := weaviatestore.NewDriver(ctx, c, flat, &weaviatestore.Options{HNSW: weaviatestore.HNSW{Ef: 64}}); !errors.Is(err, twostage.ErrInvalidInput) {
		t.Errorf("hnsw settings on a flat class: err = %v, want ErrInvalidInput", err)
	}

	// Through the spec string.
	viaSpec := freshClass("HnswSpec")
	drop(viaSpec)
	s, err := spec.OpenStore(ctx, "weaviate://"+srv.Addr()+"/"+viaSpec+"?ef=300&ef_construction=96&max_connections=8",
		twostage.Info{Dim: 4, Metric: twostage.Cosine})
	if err != nil {
		t.Fatal(err)
	}
	var sd *weaviatestore.Driver
	if !s.As(&sd) {
		t.Error("Store.As(**weaviatestore.Driver) = false, want the driver")
	} else if got := sd.HNSW(); got != (weaviatestore.HNSW{Ef: 300, EfConstruction: 96, MaxConnections: 8}) {
		t.Errorf("Driver.HNSW of a spec-opened store = %+v, want ef 300, efConstruction 96, maxConnections 8", got)
	}
	s.Close()
	if _, got := classHNSW(t, c, viaSpec); got != (weaviatestore.HNSW{Ef: 300, EfConstruction: 96, MaxConnections: 8}) {
		t.Errorf("schema of a class a spec created: %+v, want ef 300, efConstruction 96, maxConnections 8", got)
	}
	if _, err := spec.OpenStore(ctx, "weaviate://"+srv.Addr()+"/"+viaSpec+"?ef=301", twostage.Info{Dim: 4}); !errors.Is(err, twostage.ErrInvalidInput) {
		t.Errorf("spec with ef=301 on a class with ef 300: err = %v, want ErrInvalidInput", err)
	}
}

// setClassEf changes the search ef of an existing class through Weaviate's
// class update (ef is the one HNSW setting Weaviate lets change; Open
// never does), so a test can search one graph with two ef values.
func setClassEf(t *testing.T, c *weaviate.Client, class string, ef int) {
	t.Helper()
	cl, err := c.Schema().ClassGetter().WithClassName(class).Do(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cfg, ok := cl.VectorIndexConfig.(map[string]any)
	if !ok {
		t.Fatalf("class %s has no vectorIndexConfig", class)
	}
	cfg["ef"] = ef
	if err := c.Schema().ClassUpdater().WithClass(cl).Do(ctx); err != nil {
		t.Fatalf("set ef of %s to %d: %v", class, ef, err)
	}
	if _, got := classHNSW(t, c, class); got.Ef != ef {
		t.Fatalf("ef of %s after the update = %d, want %d", class, got.Ef, ef)
	}
}

// TestWeaviateHNSWEf checks that a class's ef decides its searches, on one
// graph: with ef above the number of objects every top 10 is the exact
// (brute-force) one; with ef 10 on the same graph (2,000 random
// 64-dimensional vectors, hard for HNSW) some are not, so the exact
// results come from the setting and not from an easy data set.
func TestWeaviateHNSWEf(t *testing.T) {
	_, c := needWeaviate(t)
	const dim, n, queries = 64, 2000, 50
	r := rand.New(rand.NewPCG(22, 19))
	docs := make([]twostage.Document, n)
	for i := range docs {
		docs[i] = twostage.Document{ID: fmt.Sprintf("e%04d", i), Vector: storetest.RandomVector(r, dim)}
	}
	qs := make([][]float32, queries)
	exact := make([][]string, queries)
	for i := range qs {
		qs[i] = storetest.RandomVector(r, dim)
		exact[i] = exactTopK(docs, qs[i], 10)
	}
	class := freshClass("HnswEf")
	t.Cleanup(func() { c.Schema().ClassDeleter().WithClassName(class).Do(context.Background()) })
	s, err := weaviatestore.Open(ctx, c, class, &weaviatestore.Options{Dim: dim, HNSW: weaviatestore.HNSW{Ef: 2 * n}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Upsert(ctx, docs); err != nil {
		t.Fatal(err)
	}
	for i, ef := range []int{2 * n, 10, -1, 2 * n} { // the first as created
		if i > 0 {
			setClassEf(t, c, class, ef)
		}
		got := searchTopK(t, s, qs, 10)
		found := placesFound(got, exact)
		t.Logf("ef %d: %d of %d exact top-10 places found", ef, found, queries*10)
		switch {
		case ef == 2*n:
			for i := range got {
				if !slices.Equal(got[i], exact[i]) {
					t.Errorf("ef %d, query %d: top 10 %v, want the exact %v", ef, i, got[i], exact[i])
				}
			}
		case ef == 10 && found == queries*10:
			t.Errorf("ef 10: every top 10 exact; want some places missed (is ef applied?)")
		}
	}
}

// exactTopK returns the ids of q's k nearest docs by cosine similarity,
// by brute force.
func exactTopK(docs []twostage.Document, q []float32, k int) []string {
	type scored struct {
		id string
		s  float64
	}
	all := make([]scored, len(docs))
	for j, d := range docs {
		all[j] = scored{d.ID, twostage.Cosine.Similarity(q, d.Vector)}
	}
	slices.SortFunc(all, func(a, b scored) int { return cmp.Compare(b.s, a.s) })
	out := make([]string, 0, k)
	for _, a := range all[:min(k, len(all))] {
		out = append(out, a.id)
	}
	return out
}

// searchTopK returns the ids of each query's top k from s.
func searchTopK(t *testing.T, s *twostage.Store, qs [][]float32, k int) [][]string {
	t.Helper()
	out := make([][]string, len(qs))
	for i, q := range qs {
		hits, err := s.Search(ctx, twostage.Query{Vector: q, K: k})
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hits {
			out[i] = append(out[i], h.ID)
		}
	}
	return out
}

// placesFound counts the ids of got that are in the same query's exact
// list (recall, in places).
func placesFound(got, exact [][]string) int {
	n := 0
	for i := range got {
		for _, id := range got[i] {
			if slices.Contains(exact[i], id) {
				n++
			}
		}
	}
	return n
}
