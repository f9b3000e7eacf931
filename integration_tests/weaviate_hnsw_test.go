package integration

import (
	"context"
	"errors"
	"testing"

	"github.com/weaviate/weaviate-go-client/v4/weaviate"

	"twostage"
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
	s.Close()
	if _, got := classHNSW(t, c, viaSpec); got != (weaviatestore.HNSW{Ef: 300, EfConstruction: 96, MaxConnections: 8}) {
		t.Errorf("schema of a class a spec created: %+v, want ef 300, efConstruction 96, maxConnections 8", got)
	}
	if _, err := spec.OpenStore(ctx, "weaviate://"+srv.Addr()+"/"+viaSpec+"?ef=301", twostage.Info{Dim: 4}); !errors.Is(err, twostage.ErrInvalidInput) {
		t.Errorf("spec with ef=301 on a class with ef 300: err = %v, want ErrInvalidInput", err)
	}
}
