package integration

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/weaviate/weaviate/entities/models"

	"twostage"
	"twostage/adapters/storetest"
	"twostage/adapters/weaviatestore"
	"twostage/driver"
)

func TestWeaviateConformance(t *testing.T) {
	_, c := needWeaviate(t)
	storetest.RunConformanceTests(t, storetest.Harness{
		New: func(t *testing.T, dim int, m twostage.Metric) (driver.Driver, error) {
			class := freshClass("Conf")
			t.Cleanup(func() { c.Schema().ClassDeleter().WithClassName(class).Do(context.Background()) })
			return weaviatestore.NewDriver(ctx, c, class, &weaviatestore.Options{Dim: dim, Metric: m})
		},
		IDAlias: weaviatestore.ObjectID,
	})
}

// TestWeaviateNumericTypes checks that int64 and float64 metadata come back
// with their Go types from Get and Search, however a key mixes them, and
// that a class whose numeric keys only ever held int64 values carries no
// per-object type hint (its properties are marked as int64 instead).
func TestWeaviateNumericTypes(t *testing.T) {
	_, c := needWeaviate(t)
	class := freshClass("Nums")
	t.Cleanup(func() { c.Schema().ClassDeleter().WithClassName(class).Do(context.Background()) })
	s, err := weaviatestore.Open(ctx, c, class, &weaviatestore.Options{Dim: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	props := func() map[string]*models.Property {
		cl, err := c.Schema().ClassGetter().WithClassName(class).Do(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]*models.Property{}
		for _, p := range cl.Properties {
			out[p.Name] = p
		}
		return out
	}
	first := []twostage.Document{
		{ID: "a", Vector: []float32{1, 0}, Metadata: map[string]any{"n": int64(5), "big": int64(1) << 53}},
		{ID: "b", Vector: []float32{0, 1}, Metadata: map[string]any{"n": int64(-7)}},
	}
	if err := s.Upsert(ctx, first); err != nil {
		t.Fatal(err)
	}
	p := props()
	if p["n"] == nil || p["n"].DataType[0] != "number" || p["twostage_ints"] != nil || p["twostage_floats"] != nil {
		t.Fatalf("after int64-only writes: n=%+v, hint properties ints=%v floats=%v; want a number property and no hints",
			p["n"], p["twostage_ints"] != nil, p["twostage_floats"] != nil)
	}
	mixed := []twostage.Document{
		{ID: "c", Vector: []float32{1, 1}, Metadata: map[string]any{"n": 7.0, "x": 2.5}},      // integral float on an int64 key
		{ID: "d", Vector: []float32{1, 2}, Metadata: map[string]any{"n": 1.5, "x": int64(3)}}, // int64 on a float key
	}
	if err := s.Upsert(ctx, mixed); err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]any{}
	for _, d := range append(first, mixed...) {
		want[d.ID] = d.Metadata
	}
	check := func(how string, docs []twostage.Document) {
		t.Helper()
		if len(docs) != len(want) {
			t.Fatalf("%s: %d documents, want %d", how, len(docs), len(want))
		}
		for _, d := range docs {
			if got, w := fmt.Sprintf("%#v", d.Metadata), fmt.Sprintf("%#v", want[d.ID]); got != w {
				t.Errorf("%s %s: metadata %s, want %s", how, d.ID, got, w)
			}
		}
	}
	docs, err := s.Get(ctx, []string{"a", "b", "c", "d"})
	if err != nil {
		t.Fatal(err)
	}
	check("Get", docs)
	hits, err := s.Search(ctx, twostage.Query{Vector: []float32{1, 1}, K: 10})
	if err != nil {
		t.Fatal(err)
	}
	docs = docs[:0]
	for _, h := range hits {
		docs = append(docs, h.Document)
	}
	check("Search", docs)
	// Filters compare numbers by value whatever the Go type.
	hits, err = s.Search(ctx, twostage.Query{Vector: []float32{1, 1}, K: 10, Filter: twostage.Gte("n", 5)})
	if got := hitIDs(hits); err != nil || !sameSet(got, []string{"a", "c"}) {
		t.Errorf("n >= 5: %v, %v; want a and c", got, err)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// TestWeaviateAttachedIntRange: an int64 outside the 32-bit range on an
// attached class's int property (which Weaviate's GraphQL answers with
// null) reads back as given or is refused before writing; never lost.
func TestWeaviateAttachedIntRange(t *testing.T) {
	_, c := needWeaviate(t)
	class := freshClass("IntRange")
	t.Cleanup(func() { c.Schema().ClassDeleter().WithClassName(class).Do(context.Background()) })
	err := c.Schema().ClassCreator().WithClass(&models.Class{
		Class: class, Vectorizer: "none", VectorIndexConfig: map[string]any{"distance": "dot"},
		Properties: []*models.Property{{Name: "n", DataType: []string{"int"}}},
	}).Do(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s, err := weaviatestore.Open(ctx, c, class, &weaviatestore.Options{Dim: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i, n := range []int64{1 << 31, -(1 << 31) - 1, 1 << 40, 7} {
		id := fmt.Sprint("d", i)
		err := s.Upsert(ctx, []twostage.Document{{ID: id, Vector: []float32{1, 0}, Metadata: map[string]any{"n": n}}})
		if err != nil {
			if n >= math.MinInt32 && n <= math.MaxInt32 {
				t.Errorf("n=%d: Upsert = %v, want success: the value fits an int property", n, err)
			} else if !errors.Is(err, twostage.ErrInvalidInput) {
				t.Errorf("n=%d: Upsert = %v, want success or ErrInvalidInput", n, err)
			}
			if _, err := s.Get(ctx, []string{id}); !errors.Is(err, twostage.ErrNotFound) {
				t.Errorf("n=%d: refused document: Get = %v, want ErrNotFound", n, err)
			}
			continue
		}
		got, err := s.Get(ctx, []string{id})
		if err != nil || got[0].Metadata["n"] != n {
			t.Errorf("n=%d: read back %v, %v; want %d", n, got, err, n)
		}
	}
}
