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
// 256-dimensional vectors, hard for HNSW) some are not, so the exact
// results come from the setting and not from an easy data set.
//
// ef -1 is Weaviate's dynamic ef: a search with limit k explores
// k*dynamicEfFactor candidates, kept within [dynamicEfMin, dynamicEfMax]
// and never below k (Weaviate 1.35, adapters/repos/db/vector/hnsw/search.go
// autoEfFromK; defaults 8, 100 and 500 from entities/vectorindex/hnsw). With
// limit 10 that is 100, so on this graph ef -1 must return exactly what a
// fixed ef of 100 returns (a search of one graph with one ef is
// deterministic; at 256 dimensions ef 100 still misses a few places, so
// another dynamic ef would show), and find more exact places than ef 10.
func TestWeaviateHNSWEf(t *testing.T) {
	_, c := needWeaviate(t)
	const dim, n, queries, k = 256, 2000, 50, 10
	r := rand.New(rand.NewPCG(22, 19))
	docs := make([]twostage.Document, n)
	for i := range docs {
		docs[i] = twostage.Document{ID: fmt.Sprintf("e%04d", i), Vector: storetest.RandomVector(r, dim)}
	}
	qs := make([][]float32, queries)
	exact := make([][]string, queries)
	for i := range qs {
		qs[i] = storetest.RandomVector(r, dim)
		exact[i] = exactTopK(docs, qs[i], k)
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
	// The dynamic-ef bounds of this class, as Weaviate reports them: its
	// documented defaults, since Open sets none of them.
	dyn := classDynamicEf(t, c, class)
	if want := (dynamicEf{Min: 100, Max: 500, Factor: 8}); dyn != want {
		t.Fatalf("dynamic ef settings %+v, want Weaviate 1.35's defaults %+v", dyn, want)
	}
	dynEf := min(max(k*dyn.Factor, dyn.Min), dyn.Max)
	dynEf = max(dynEf, k) // 100 for limit 10

	got := map[int][][]string{}
	found := map[int]int{}
	for i, ef := range []int{2 * n, 10, -1, dynEf, 2 * n} { // the first as created
		if i > 0 {
			setClassEf(t, c, class, ef)
		}
		got[ef] = searchTopK(t, s, qs, k)
		found[ef] = placesFound(got[ef], exact)
		t.Logf("ef %d: %d of %d exact top-10 places found", ef, found[ef], queries*k)
		if ef == 2*n {
			for i := range got[ef] {
				if !slices.Equal(got[ef][i], exact[i]) {
					t.Errorf("ef %d, query %d: top 10 %v, want the exact %v", ef, i, got[ef][i], exact[i])
				}
			}
		}
	}
	if found[10] == queries*k {
		t.Errorf("ef 10: every top 10 exact; want some places missed (is ef applied?)")
	}
	if found[-1] <= found[10] {
		t.Errorf("dynamic ef (-1) found %d exact places, ef 10 %d: want more, as dynamic ef is %d for limit %d", found[-1], found[10], dynEf, k)
	}
	for i := range qs {
		if !slices.Equal(got[-1][i], got[dynEf][i]) {
			t.Errorf("query %d: dynamic ef (-1) gave %v, a fixed ef of %d %v: want the same search", i, got[-1][i], dynEf, got[dynEf][i])
		}
	}
}

// dynamicEf holds a class's dynamic-ef settings (vectorIndexConfig
// dynamicEfMin, dynamicEfMax, dynamicEfFactor).
type dynamicEf struct{ Min, Max, Factor int }

// classDynamicEf reads a class's dynamic-ef settings back from Weaviate's
// schema.
func classDynamicEf(t *testing.T, c *weaviate.Client, class string) dynamicEf {
	t.Helper()
	cl, err := c.Schema().ClassGetter().WithClassName(class).Do(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := cl.VectorIndexConfig.(map[string]any)
	num := func(k string) int {
		f, ok := cfg[k].(float64)
		if !ok {
			t.Fatalf("class %s: vectorIndexConfig %s = %v, want a number", class, k, cfg[k])
		}
		return int(f)
	}
	return dynamicEf{Min: num("dynamicEfMin"), Max: num("dynamicEfMax"), Factor: num("dynamicEfFactor")}
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
