package storetest

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"twostage"
)

// testEdgeValues round-trips the edges of the portable types: integral and
// signed-zero floats, int64 extremes, empty and odd lists, metadata keys
// that look like a backend's own fields or are not identifiers, texts with
// NUL bytes or of a megabyte. Each comes back as given (same Go type, same
// value) or the Upsert is refused with ErrInvalidInput; never a silent
// change.
func testEdgeValues(t *testing.T, h Harness) {
	s := h.open(t, dim, h.metrics()[0])
	r := rand.New(rand.NewPCG(41, 42))
	cases := []struct {
		name string
		doc  twostage.Document
	}{
		{"integral float", twostage.Document{Text: "t", Metadata: map[string]any{"f": 2.0, "g": -7.0, "h": 1e20}}},
		{"negative zero float", twostage.Document{Text: "t", Metadata: map[string]any{"z": math.Copysign(0, -1)}}},
		{"int64 extremes", twostage.Document{Text: "t", Metadata: map[string]any{"max": int64(math.MaxInt64), "min": int64(math.MinInt64), "odd": int64(1)<<53 + 1}}},
		{"float extremes", twostage.Document{Text: "t", Metadata: map[string]any{"tiny": 5e-324, "huge": math.MaxFloat64, "third": 1.0 / 3}}},
		{"lists", twostage.Document{Text: "t", Metadata: map[string]any{"empty": []string{}, "blank": []string{""}, "dups": []string{"a", "a", "b"}, "nil": []string(nil)}}},
		{"odd keys", twostage.Document{Text: "t", Metadata: map[string]any{"Upper": "u", "with space": "s", "a.b": "d", "id": "i", "_id": "j", "ключ": "c", "1lead": "n", "tsk_6869": "h"}}},
		{"key named text", twostage.Document{Text: "t", Metadata: map[string]any{"text": "k"}}},
		{"bookkeeping keys", twostage.Document{Text: "t", Metadata: map[string]any{"twostage_id": "x", "twostage_keys": []string{"y"}, "twostage_floats": 1.5, "twostage_ints": int64(2)}}},
		{"nul in text", twostage.Document{Text: "a\x00b", Metadata: map[string]any{"s": "x\x00y"}}},
		{"long text", twostage.Document{Text: strings.Repeat("long words, ", 1<<16)}},
		{"whitespace text", twostage.Document{Text: "  \n\t "}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc := tc.doc
			doc.ID = fmt.Sprint("e", i)
			doc.Vector = vec(r, dim)
			if err := s.Upsert(ctx, []twostage.Document{doc}); err != nil {
				if !errors.Is(err, twostage.ErrInvalidInput) {
					t.Fatalf("Upsert refused with %v, want success or an error wrapping ErrInvalidInput", err)
				}
				t.Logf("refused up front: %v", err)
				_, err := s.Get(ctx, []string{doc.ID})
				wantErr(t, err, twostage.ErrNotFound, "Get of a refused document")
				return
			}
			got, err := s.Get(ctx, []string{doc.ID})
			must(t, err, "Get")
			checkDoc(t, got[0], doc)
			for k, v := range doc.Metadata {
				if g, ok := got[0].Metadata[k]; ok {
					if f, ok := v.(float64); ok && f == 0 && math.Signbit(f) {
						if gf, _ := g.(float64); !math.Signbit(gf) {
							t.Errorf("metadata %q: -0 came back as %v", k, g)
						}
					}
				}
			}
		})
	}
}

// testIDForms stores ids that a backend deriving its record ids from them
// could confuse (numbers written differently, one UUID in several
// spellings) and checks that each stays its own document; with
// Harness.IDAlias, a batch holding an id and its alias is refused whole.
func testIDForms(t *testing.T, h Harness) {
	s := h.open(t, dim, h.metrics()[0])
	r := rand.New(rand.NewPCG(43, 44))
	forms := []string{
		"42", "042", "+42", "42.0", " 42", "18446744073709551616", "0",
		"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11",
		"{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}", "urn:uuid:a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
		"a0eebc999c0b4ef8bb6d6bb9bd380a11",
	}
	var docs []twostage.Document
	for _, id := range forms {
		docs = append(docs, twostage.Document{ID: id, Text: "text of " + id, Vector: vec(r, dim)})
	}
	must(t, s.Upsert(ctx, docs), "Upsert")
	if n := count(t, s); n != len(forms) {
		t.Errorf("Count = %d, want %d distinct documents", n, len(forms))
	}
	got, err := s.Get(ctx, forms)
	must(t, err, "Get")
	for i, d := range got {
		checkDoc(t, d, docs[i])
	}
	if h.IDAlias == nil {
		return
	}
	alias := h.IDAlias("plain-id")
	if alias == "" || alias == "plain-id" {
		t.Fatalf("Harness.IDAlias(%q) = %q, want another id", "plain-id", alias)
	}
	err = s.Upsert(ctx, []twostage.Document{
		{ID: "plain-id", Text: "one", Vector: vec(r, dim)},
		{ID: alias, Text: "two", Vector: vec(r, dim)},
	})
	wantErr(t, err, twostage.ErrInvalidInput, "Upsert of an id and its alias in one batch")
	if n := count(t, s); n != len(forms) {
		t.Errorf("Count = %d after the refused batch, want %d", n, len(forms))
	}
}

// testFilterTypeMismatch filters filterDocs on values of another type than
// the field holds (a string for a number, a number for a string or a bool,
// a range over strings): no document matches, on every backend alike,
// rather than one backend erroring, coercing, or matching everything.
func testFilterTypeMismatch(t *testing.T, h Harness) {
	s := h.open(t, dim, h.metrics()[0])
	r := rand.New(rand.NewPCG(13, 14))
	docs := filterDocs(r)
	must(t, s.Upsert(ctx, docs), "Upsert")
	for _, f := range []*twostage.Filter{
		twostage.Eq("year", "1995"),
		twostage.Eq("lang", 1),
		twostage.Eq("draft", 1),
		twostage.Eq("draft", "true"),
		twostage.Eq("price", true),
		twostage.In("year", "1995", "2000"),
		twostage.In("tags", 1, 2),
		twostage.Gt("lang", 0),
		twostage.Lt("draft", 2),
		twostage.Gte("tags", 0),
	} {
		hits, err := s.Search(ctx, twostage.Query{Vector: docs[0].Vector, K: len(docs), Filter: f})
		if err != nil {
			t.Errorf("filter %s %s %v%v: %v, want no hits and no error", f.Op, f.Field, f.Value, f.Values, err)
			continue
		}
		if len(hits) != 0 {
			t.Errorf("filter %s %s %v%v: got %d hits (%v...), want none", f.Op, f.Field, f.Value, f.Values, len(hits), hits[0].ID)
		}
	}
	// The negation of a mismatched filter matches every document.
	hits, err := s.Search(ctx, twostage.Query{Vector: docs[0].Vector, K: len(docs), Filter: twostage.Not(twostage.Eq("year", "1995"))})
	must(t, err, "Search not(mismatch)")
	if h.exact() && len(hits) != len(docs) {
		t.Errorf("not(eq year \"1995\"): got %d hits, want all %d", len(hits), len(docs))
	}
}

// testCloseDuringCalls closes the store while goroutines upsert, delete,
// get and search: every call returns either its normal answer or
// ErrClosed (never another error, never a panic), Close itself succeeds,
// and every call after it fails with ErrClosed. Run it with -race.
func testCloseDuringCalls(t *testing.T, h Harness) {
	s := h.open(t, dim, h.metrics()[0])
	r := rand.New(rand.NewPCG(45, 46))
	must(t, s.Upsert(ctx, plainDocs(r, "s", 20)), "Upsert")
	const workers = 4
	var calls atomic.Int64
	started := make(chan struct{}, workers)
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			r := rand.New(rand.NewPCG(47, uint64(w)))
			started <- struct{}{}
			for i := 0; ; i++ {
				calls.Add(1)
				var err error
				switch i % 4 {
				case 0:
					err = s.Upsert(ctx, []twostage.Document{{ID: fmt.Sprintf("w%d-%d", w, i), Text: "t", Vector: vec(r, dim)}})
				case 1:
					_, err = s.Search(ctx, twostage.Query{Vector: vec(r, dim), K: 5})
				case 2:
					_, err = s.Get(ctx, []string{fmt.Sprint("s", i%20)})
					if errors.Is(err, twostage.ErrNotFound) {
						err = nil // deleted by another worker
					}
				case 3:
					err = s.Delete(ctx, []string{fmt.Sprint("s", (i+w)%20)})
				}
				if err != nil {
					if errors.Is(err, twostage.ErrClosed) {
						err = nil
					}
					errs <- err
					return
				}
			}
		}()
	}
	for range workers {
		<-started
	}
	for calls.Load() < 8*workers && len(errs) == 0 { // calls in flight on every kind
		runtime.Gosched()
	}
	must(t, s.Close(), "Close during calls")
	for range workers {
		if err := <-errs; err != nil {
			t.Errorf("call during Close: %v, want its answer or ErrClosed", err)
		}
	}
	wantEveryCall(t, ctx, s, r, twostage.ErrClosed, "after Close during calls")
}

// testFilterOddKeys filters on metadata keys that are not identifiers
// (spaces, dots, brackets, quotes, capitals, non-ASCII, a backend's own
// names): each finds exactly its document, or the backend refuses the
// filter with ErrUnsupported; it never answers wrong.
func testFilterOddKeys(t *testing.T, h Harness) {
	s := h.open(t, dim, h.metrics()[0])
	r := rand.New(rand.NewPCG(49, 50))
	keys := []string{"with space", "a.b", "x[0]", `q"uote`, "Upper", "upper", "ключ", "_id", "id", "1lead", "tsk_6869"}
	var docs []twostage.Document
	for i, k := range keys {
		docs = append(docs, twostage.Document{ID: fmt.Sprint("k", i), Text: "t", Vector: vec(r, dim), Metadata: map[string]any{k: "v", "n": int64(i)}})
	}
	must(t, s.Upsert(ctx, docs), "Upsert")
	for i, k := range keys {
		for _, f := range []*twostage.Filter{twostage.Eq(k, "v"), twostage.Exists(k)} {
			hits, err := s.Search(ctx, twostage.Query{Vector: docs[i].Vector, K: len(docs), Filter: f})
			if errors.Is(err, twostage.ErrUnsupported) {
				t.Logf("filter %s %q refused: %v", f.Op, k, err)
				continue
			}
			if err != nil {
				t.Errorf("filter %s %q: %v, want its document or ErrUnsupported", f.Op, k, err)
				continue
			}
			if got := ids(hits); len(got) != 1 || got[0] != docs[i].ID {
				t.Errorf("filter %s %q: got %v, want [%s]", f.Op, k, got, docs[i].ID)
			}
		}
	}
}

// testMixedKeyTypes gives one metadata key values of every portable type
// across documents, in one batch and in later ones: each document reads
// back as given, or the backend refuses the batch with
// ErrInvalidInput or ErrUnsupported and writes none of it.
func testMixedKeyTypes(t *testing.T, h Harness) {
	s := h.open(t, dim, h.metrics()[0])
	r := rand.New(rand.NewPCG(51, 52))
	values := []any{int64(1), "one", true, 2.5, []string{"x"}}
	var docs []twostage.Document
	for i, v := range values {
		docs = append(docs, twostage.Document{ID: fmt.Sprint("m", i), Text: "t", Vector: vec(r, dim), Metadata: map[string]any{"k": v}})
	}
	for _, batch := range [][]twostage.Document{docs[:1], docs[1:]} {
		before := count(t, s)
		if err := s.Upsert(ctx, batch); err != nil {
			if !errors.Is(err, twostage.ErrInvalidInput) && !errors.Is(err, twostage.ErrUnsupported) {
				t.Errorf("Upsert of mixed types: %v, want success, ErrInvalidInput or ErrUnsupported", err)
			}
			if n := count(t, s); n != before {
				t.Errorf("refused Upsert of mixed types wrote %d of %d documents (%v)", n-before, len(batch), err)
			}
			continue
		}
		batchIDs := make([]string, len(batch))
		for i, d := range batch {
			batchIDs[i] = d.ID
		}
		got, err := s.Get(ctx, batchIDs)
		must(t, err, "Get")
		if len(got) != len(batch) {
			t.Fatalf("Get of the %d documents written: got %d", len(batch), len(got))
		}
		for i := range batch {
			checkDoc(t, got[i], batch[i])
		}
	}
}

// testSearchBatch checks SearchBatch against one Search per query (a
// backend's batch capability must not change an answer): mixed K, with and
// without filters and vectors; and that one bad query fails the batch.
func testSearchBatch(t *testing.T, h Harness) {
	s := h.open(t, dim, h.metrics()[0])
	r := rand.New(rand.NewPCG(53, 54))
	docs := filterDocs(r)
	must(t, s.Upsert(ctx, docs), "Upsert")
	qs := []twostage.Query{
		{Vector: vec(r, dim), K: 1},
		{Vector: vec(r, dim), K: 7, Filter: twostage.Eq("lang", "de")},
		{Vector: vec(r, dim), K: 200},
		{Vector: vec(r, dim), K: 3, WithVectors: true},
		{Vector: vec(r, dim), K: 5, Filter: twostage.Eq("lang", "xx")},
	}
	got, err := s.SearchBatch(ctx, qs)
	must(t, err, "SearchBatch")
	if len(got) != len(qs) {
		t.Fatalf("SearchBatch answered %d of %d queries", len(got), len(qs))
	}
	for i, q := range qs {
		want := mustSearch(t, s, q)
		if !slices.Equal(ids(got[i]), ids(want)) {
			t.Errorf("query %d: batch ids %v, single search %v", i, ids(got[i]), ids(want))
		}
		for j := range min(len(got[i]), len(want)) {
			g, w := got[i][j], want[j]
			if math.Abs(g.RetrievalScore-w.RetrievalScore) > h.tol() || g.Text != w.Text || !sameVector(g.Vector, w.Vector) {
				t.Errorf("query %d hit %q: batch %v %q %v, single %v %q %v", i, g.ID, g.RetrievalScore, g.Text, g.Vector, w.RetrievalScore, w.Text, w.Vector)
			}
		}
	}
	bad := append(slices.Clone(qs), twostage.Query{Vector: vec(r, dim), K: 0})
	_, err = s.SearchBatch(ctx, bad)
	wantErr(t, err, twostage.ErrInvalidInput, "SearchBatch with a K=0 query")
}
