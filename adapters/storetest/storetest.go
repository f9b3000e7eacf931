// Package storetest is the conformance suite every twostage Store backend
// passes. A backend's test calls RunConformanceTests with a Harness that
// makes fresh, empty drivers:
//
//	func TestConformance(t *testing.T) {
//		storetest.RunConformanceTests(t, storetest.Harness{
//			New: func(t *testing.T, dim int, m twostage.Metric) (driver.Driver, error) {
//				return mybackend.NewDriver(dim, m)
//			},
//		})
//	}
//
// The suite drives the backend through twostage.Store, so it checks the
// backend and the portable layer together: round trips of text, vectors and
// every metadata type, overwrite, delete, count, search order for every
// metric against an exact brute-force answer, every filter operator, bad
// input, cancellation, concurrency (run it with -race) and Close; and the
// edges (edges.go): extreme and empty values, odd keys and ids, ids a
// backend's id derivation could confuse (Harness.IDAlias), filters of the
// wrong type, one key holding every type, Close during calls. The
// Driver* tests call the driver directly, for what the Driver contract
// promises and Store would otherwise hide: at most K hits, best first, and
// ctx honoured, also when it is canceled during the call.
//
// Its expected answers do not come from the code the backends use: scores
// from a separate evaluator of the metric definitions plus hand-worked
// values (KnownScores), filter matches from predicates stated over the test
// documents' construction rather than from twostage.Filter.Match.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"sync"
	"testing"

	"twostage"
	"twostage/driver"
)

// Harness tells the suite how to make the backend under test.
type Harness struct {
	// New returns a new, empty driver for vectors of dim dimensions compared
	// by m. It registers any cleanup with t.Cleanup; the suite closes the
	// Store it wraps the driver in.
	New func(t *testing.T, dim int, m twostage.Metric) (driver.Driver, error)
	// Metrics lists the metrics the backend supports; nil means all three.
	Metrics []twostage.Metric
	// MinRecall is the recall@k, against exact search, that an approximate
	// backend must reach; 0 means 1 (exact: same ids in the same order).
	MinRecall float64
	// ScoreTolerance is the largest absolute difference allowed between a
	// reported RetrievalScore and the exact one; 0 means 1e-4.
	ScoreTolerance float64
	// IDAlias, for a backend that derives its record ids from document ids,
	// returns another document id whose record id is id's (a collision of
	// the derivation); nil when distinct ids never share a record.
	IDAlias func(id string) string
}

func (h Harness) metrics() []twostage.Metric {
	if len(h.Metrics) == 0 {
		return []twostage.Metric{twostage.Cosine, twostage.Dot, twostage.L2}
	}
	return h.Metrics
}

func (h Harness) exact() bool { return h.MinRecall == 0 || h.MinRecall >= 1 }

func (h Harness) tol() float64 {
	if h.ScoreTolerance == 0 {
		return 1e-4
	}
	return h.ScoreTolerance
}

// open makes a fresh Store and closes it when the test ends.
func (h Harness) open(t *testing.T, dim int, m twostage.Metric) *twostage.Store {
	t.Helper()
	d, err := h.New(t, dim, m)
	if err != nil {
		t.Fatalf("harness New(%d, %s): %v", dim, m, err)
	}
	s := twostage.NewStore(d)
	t.Cleanup(func() {
		if err := s.Close(); err != nil && !errors.Is(err, twostage.ErrClosed) {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// RunConformanceTests runs the whole suite against the backend h makes.
func RunConformanceTests(t *testing.T, h Harness) {
	t.Helper()
	if h.New == nil {
		t.Fatal("storetest: Harness.New is nil")
	}
	tests := []struct {
		name string
		fn   func(*testing.T, Harness)
	}{
		{"UpsertGet", testUpsertGet},
		{"Overwrite", testOverwrite},
		{"Delete", testDelete},
		{"Count", testCount},
		{"SearchOrder", testSearchOrder},
		{"KLargerThanCollection", testKLarge},
		{"Filter", testFilter},
		{"BadIDs", testBadIDs},
		{"Dimension", testDimension},
		{"NonFinite", testNonFinite},
		{"BadText", testBadText},
		{"BadMetadata", testBadMetadata},
		{"GetMissing", testGetMissing},
		{"Cancel", testCancel},
		{"Concurrent", testConcurrent},
		{"Closed", testClosed},
		{"KnownScores", testKnownScores},
		{"EdgeValues", testEdgeValues},
		{"IDForms", testIDForms},
		{"FilterTypeMismatch", testFilterTypeMismatch},
		{"CloseDuringCalls", testCloseDuringCalls},
		{"FilterOddKeys", testFilterOddKeys},
		{"MixedKeyTypes", testMixedKeyTypes},
		{"SearchBatch", testSearchBatch},
		{"DriverSearch", testDriverSearch},
		{"DriverCancel", testDriverCancel},
		{"DriverCancelDuring", testDriverCancelDuring},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, h) })
	}
}

const dim = 8

var ctx = context.Background()

// vec returns a deterministic pseudo-random vector.
func vec(r *rand.Rand, n int) []float32 { return RandomVector(r, n) }

// plainDocs returns n documents with ids prefix+"0" to prefix+(n-1), text
// "t", random vectors of dimension dim and no metadata.
func plainDocs(r *rand.Rand, prefix string, n int) []twostage.Document {
	docs := make([]twostage.Document, n)
	for i := range docs {
		docs[i] = twostage.Document{ID: fmt.Sprint(prefix, i), Text: "t", Vector: vec(r, dim)}
	}
	return docs
}

// RandomVector returns a vector of n standard normal components drawn from
// r: deterministic for a seeded r.
func RandomVector(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

func must(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func wantErr(t *testing.T, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want one wrapping %v", what, err, target)
	}
}

func count(t *testing.T, s *twostage.Store) int {
	t.Helper()
	n, err := s.Count(ctx)
	must(t, err, "Count")
	return n
}

func sameVector(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(float64(a[i]-b[i])) > 1e-6*math.Max(1, math.Abs(float64(a[i]))) {
			return false
		}
	}
	return true
}

func checkDoc(t *testing.T, got, want twostage.Document) {
	t.Helper()
	if got.ID != want.ID || got.Text != want.Text {
		t.Errorf("document: got id %q text %q, want id %q text %q", got.ID, got.Text, want.ID, want.Text)
	}
	if !sameVector(got.Vector, want.Vector) {
		t.Errorf("document %q: got vector %v, want %v", want.ID, got.Vector, want.Vector)
	}
	wantMD, _ := driver.NormalizeMetadata(want.Metadata)
	if len(got.Metadata) == 0 && len(wantMD) == 0 {
		return
	}
	if !reflect.DeepEqual(got.Metadata, wantMD) {
		t.Errorf("document %q: got metadata %#v, want %#v", want.ID, got.Metadata, wantMD)
	}
}

func testUpsertGet(t *testing.T, h Harness) {
	s := h.open(t, dim, h.metrics()[0])
	r := rand.New(rand.NewPCG(1, 2))
	docs := []twostage.Document{
		{ID: "a", Text: "plain ascii text", Vector: vec(r, dim)},
		{ID: "b", Text: "Ünïcödé: 日本語のテキスト, emoji 👩‍👩‍👧 and ﷽", Vector: vec(r, dim), Metadata: map[string]any{
			"str": "value", "bool": true, "int": int64(-42), "float": 3.25, "list": []string{"x", "y"},
			"big": int64(1) << 53, "zero": int64(0), "empty": "",
		}},
		{ID: "c/with:odd chars?&=", Text: "", Vector: vec(r, dim), Metadata: map[string]any{"int_from_int": 7, "f32": float32(0.5)}},
		{ID: "数字-42", Text: "id in CJK", Vector: vec(r, dim), Metadata: map[string]any{"neg": -1.5, "false": false}},
	}
	must(t, s.Upsert(ctx, docs), "Upsert")
	ids := []string{"c/with:odd chars?&=", "a", "数字-42", "b"}
	got, err := s.Get(ctx, ids)
	must(t, err, "Get")
	if len(got) != len(ids) {
		t.Fatalf("Get returned %d documents, want %d", len(got), len(ids))
	}
	byID := map[string]twostage.Document{}
	for _, d := range docs {
		byID[d.ID] = d
	}
	for i, id := range ids {
		if got[i].ID != id {
			t.Fatalf("Get order: position %d has %q, want %q", i, got[i].ID, id)
		}
		checkDoc(t, got[i], byID[id])
	}
	if n := count(t, s); n != len(docs) {
		t.Errorf("Count = %d, want %d", n, len(docs))
	}
}

func testOverwrite(t *testing.T, h Harness) {
	s := h.open(t, dim, h.metrics()[0])
	r := rand.New(rand.NewPCG(3, 4))
	old := twostage.Document{ID: "x", Text: "old", Vector: vec(r, dim), Metadata: map[string]any{"v": int64(1), "gone": "yes"}}
	other := twostage.Document{ID: "y", Text: "other", Vector: vec(r, dim)}
	must(t, s.Upsert(ctx, []twostage.Document{old, other}), "Upsert")
	neu := twostage.Document{ID: "x", Text: "new", Vector: vec(r, dim), Metadata: map[string]any{"v": int64(2)}}
	must(t, s.Upsert(ctx, []twostage.Document{neu}), "Upsert overwrite")
	got, err := s.Get(ctx, []string{"x"})
	must(t, err, "Get")
	checkDoc(t, got[0], neu)
	if n := count(t, s); n != 2 {
		t.Errorf("Count after overwrite = %d, want 2", n)
	}
	// The old vector must be gone from the index: searching with it finds x
	// only at the new vector's score.
	hits, err := s.Search(ctx, twostage.Query{Vector: neu.Vector, K: 2})
	must(t, err, "Search")
	if len(hits) != 2 || hits[0].ID != "x" {
		t.Fatalf("search for the new vector: got %v, want x first of 2", ids(hits))
	}
	hits, err = s.Search(ctx, twostage.Query{Vector: neu.Vector, K: 5, Filter: twostage.Eq("v", 1)})
	must(t, err, "Search")
	if len(hits) != 0 {
		t.Errorf("filter on the overwritten value: got %v, want none", ids(hits))
	}
}

func testDelete(t *testing.T, h Harness) {
	s := h.open(t, dim, h.metrics()[0])
	r := rand.New(rand.NewPCG(5, 6))
	docs := plainDocs(r, "d", 10)
	must(t, s.Upsert(ctx, docs), "Upsert")
	must(t, s.Delete(ctx, []string{"d3", "d7", "never-existed"}), "Delete")
	if n := count(t, s); n != 8 {
		t.Errorf("Count after delete = %d, want 8", n)
	}
	_, err := s.Get(ctx, []string{"d3"})
	wantErr(t, err, twostage.ErrNotFound, "Get deleted id")
	hits, err := s.Search(ctx, twostage.Query{Vector: docs[3].Vector, K: 10})
	must(t, err, "Search")
	if slices.Contains(ids(hits), "d3") || slices.Contains(ids(hits), "d7") {
		t.Errorf("search returned deleted ids: %v", ids(hits))
	}
	if len(hits) != 8 {
		t.Errorf("search after delete returned %d hits, want 8", len(hits))
	}
	must(t, s.Delete(ctx, []string{"d3"}), "Delete again")
	must(t, s.Delete(ctx, nil), "Delete nothing")
	// Re-adding a deleted id works.
	must(t, s.Upsert(ctx, docs[3:4]), "Upsert deleted id")
	if n := count(t, s); n != 9 {
		t.Errorf("Count after re-add = %d, want 9", n)
	}
}

func testCount(t *testing.T, h Harness) {
	s := h.open(t, dim, h.metrics()[0])
	if n := count(t, s); n != 0 {
		t.Fatalf("Count of an empty store = %d", n)
	}
	r := rand.New(rand.NewPCG(7, 8))
	hits, err := s.Search(ctx, twostage.Query{Vector: vec(r, dim), K: 3})
	must(t, err, "Search on an empty store")
	if len(hits) != 0 {
		t.Errorf("search on an empty store: got %v, want no hits", ids(hits))
	}
	for i := range 3 {
		var docs []twostage.Document
		for j := range 50 {
			docs = append(docs, twostage.Document{ID: fmt.Sprintf("b%d-%d", i, j), Vector: vec(r, dim)})
		}
		must(t, s.Upsert(ctx, docs), "Upsert")
		if n := count(t, s); n != 50*(i+1) {
			t.Errorf("Count = %d, want %d", n, 50*(i+1))
		}
	}
	hits, err = s.Search(ctx, twostage.Query{Vector: vec(r, dim), K: 1})
	must(t, err, "Search")
	if len(hits) != 1 {
		t.Errorf("got %d hits, want 1", len(hits))
	}
	must(t, s.Delete(ctx, ids(mustSearch(t, s, twostage.Query{Vector: vec(r, dim), K: 150}))), "Delete all")
	if n := count(t, s); n != 0 {
		t.Errorf("Count after deleting every document = %d, want 0", n)
	}
	hits, err = s.Search(ctx, twostage.Query{Vector: vec(r, dim), K: 3})
	must(t, err, "Search on an emptied store")
	if len(hits) != 0 {
		t.Errorf("search on an emptied store: got %v, want no hits", ids(hits))
	}
}

func mustSearch(t *testing.T, s *twostage.Store, q twostage.Query) []twostage.Hit {
	t.Helper()
	hits, err := s.Search(ctx, q)
	must(t, err, "Search")
	return hits
}

func ids(hits []twostage.Hit) []string {
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = h.ID
	}
	return out
}

// exactSearch is the brute-force answer: the documents keep accepts, scored
// by specScore (written from the Metric documentation, not with
// Metric.Similarity), best first, ties by id, the first k. keep nil keeps
// every document.
func exactSearch(docs []twostage.Document, m twostage.Metric, q []float32, k int, keep func(i int) bool) []twostage.Hit {
	var hits []twostage.Hit
	for i, d := range docs {
		if keep == nil || keep(i) {
			hits = append(hits, twostage.Hit{Document: d, RetrievalScore: specScore(m, q, d.Vector)})
		}
	}
	sort.SliceStable(hits, func(i, j int) bool {
		if hits[i].RetrievalScore != hits[j].RetrievalScore {
			return hits[i].RetrievalScore > hits[j].RetrievalScore
		}
		return hits[i].ID < hits[j].ID
	})
	if len(hits) > k {
		hits = hits[:k]
	}
	return hits
}

// compare checks got against the exact answer: same ids in the same order
// for exact backends, recall for approximate ones, and scores within the
// tolerance either way.
func compare(t *testing.T, h Harness, what string, got, want []twostage.Hit) {
	t.Helper()
	exactScore := map[string]float64{}
	for _, w := range want {
		exactScore[w.ID] = w.RetrievalScore
	}
	for i, g := range got {
		if i > 0 && got[i-1].Score < g.Score {
			t.Errorf("%s: hits not sorted by score at %d: %v then %v", what, i, got[i-1].Score, g.Score)
		}
		if g.Score != g.RetrievalScore {
			t.Errorf("%s: hit %q has Score %v but RetrievalScore %v", what, g.ID, g.Score, g.RetrievalScore)
		}
		if s, ok := exactScore[g.ID]; ok && math.Abs(s-g.RetrievalScore) > h.tol()*math.Max(1, math.Abs(s)) {
			t.Errorf("%s: hit %q score %v, exact %v", what, g.ID, g.RetrievalScore, s)
		}
	}
	if h.exact() {
		if !slices.Equal(ids(got), ids(want)) {
			// Allow swaps only between exact ties within tolerance.
			if len(got) != len(want) || !sameUpToTies(got, want, h.tol()) {
				t.Errorf("%s: got ids %v, want %v", what, ids(got), ids(want))
			}
		}
		return
	}
	if len(want) == 0 {
		if len(got) != 0 {
			t.Errorf("%s: got %v, want no hits", what, ids(got))
		}
		return
	}
	found := 0
	wantSet := map[string]bool{}
	for _, w := range want {
		wantSet[w.ID] = true
	}
	for _, g := range got {
		if wantSet[g.ID] {
			found++
		}
	}
	if recall := float64(found) / float64(len(want)); recall < h.MinRecall {
		t.Errorf("%s: recall %.3f below %.3f (got %v, want %v)", what, recall, h.MinRecall, ids(got), ids(want))
	}
}

func sameUpToTies(got, want []twostage.Hit, tol float64) bool {
	for i := range got {
		if got[i].ID != want[i].ID && math.Abs(got[i].RetrievalScore-want[i].RetrievalScore) > tol {
			return false
		}
	}
	return true
}

func testSearchOrder(t *testing.T, h Harness) {
	for _, m := range h.metrics() {
		t.Run(string(m), func(t *testing.T) {
			s := h.open(t, dim, m)
			r := rand.New(rand.NewPCG(9, uint64(len(m))))
			var docs []twostage.Document
			for i := range 300 {
				v := vec(r, dim)
				if i%3 == 0 { // varied norms, so dot, cosine and l2 disagree
					for j := range v {
						v[j] *= 4
					}
				}
				docs = append(docs, twostage.Document{ID: fmt.Sprintf("v%03d", i), Text: "t", Vector: v})
			}
			must(t, s.Upsert(ctx, docs), "Upsert")
			for qi := range 10 {
				q := vec(r, dim)
				for _, k := range []int{1, 10} {
					got, err := s.Search(ctx, twostage.Query{Vector: q, K: k})
					must(t, err, "Search")
					compare(t, h, fmt.Sprintf("%s query %d k=%d", m, qi, k), got, exactSearch(docs, m, q, k, nil))
				}
			}
			// Hits carry text and no vector unless asked.
			got, err := s.Search(ctx, twostage.Query{Vector: docs[5].Vector, K: 3})
			must(t, err, "Search")
			if got[0].Text != "t" || got[0].Vector != nil {
				t.Errorf("hit: text %q vector %v, want text %q and no vector", got[0].Text, got[0].Vector, "t")
			}
			got, err = s.Search(ctx, twostage.Query{Vector: docs[5].Vector, K: 3, WithVectors: true})
			must(t, err, "Search with vectors")
			for _, hit := range got {
				if want := docs[idIndex(hit.ID)].Vector; !sameVector(hit.Vector, want) {
					t.Errorf("hit %q vector %v, want %v", hit.ID, hit.Vector, want)
				}
			}
		})
	}
}

func idIndex(id string) int {
	var i int
	fmt.Sscanf(id, "v%d", &i)
	return i
}

func testKLarge(t *testing.T, h Harness) {
	s := h.open(t, dim, h.metrics()[0])
	r := rand.New(rand.NewPCG(11, 12))
	var docs []twostage.Document
	for i := range 7 {
		docs = append(docs, twostage.Document{ID: fmt.Sprint("k", i), Vector: vec(r, dim)})
	}
	must(t, s.Upsert(ctx, docs), "Upsert")
	got, err := s.Search(ctx, twostage.Query{Vector: vec(r, dim), K: 1000})
	must(t, err, "Search")
	if len(got) != 7 {
		t.Errorf("K=1000 over 7 documents: got %d hits, want 7", len(got))
	}
	_, err = s.Search(ctx, twostage.Query{Vector: vec(r, dim), K: 0})
	wantErr(t, err, twostage.ErrInvalidInput, "Search with K=0")
}

func filterDocs(r *rand.Rand) []twostage.Document {
	langs := []string{"en", "de", "fr"}
	var docs []twostage.Document
	for i := range 120 {
		md := map[string]any{
			"lang":  langs[i%3],
			"year":  int64(1990 + i%30),
			"price": float64(i%17) + 0.5,
			"draft": i%4 == 0,
			"tags":  []string{fmt.Sprint("t", i%5), fmt.Sprint("u", i%7)},
		}
		if i%6 == 0 {
			delete(md, "lang") // a missing field
		}
		if i%10 == 0 {
			md["rare"] = "here"
		}
		docs = append(docs, twostage.Document{ID: fmt.Sprintf("f%03d", i), Text: "t", Vector: vec(r, dim), Metadata: md})
	}
	return docs
}

func testFilter(t *testing.T, h Harness) {
	m := h.metrics()[0]
	s := h.open(t, dim, m)
	r := rand.New(rand.NewPCG(13, 14))
	docs := filterDocs(r)
	must(t, s.Upsert(ctx, docs), "Upsert")
	// The expected matches are stated over filterDocs' arithmetic (document i
	// has lang langs[i%3] unless i%6 == 0, year 1990+i%30, price i%17+0.5,
	// draft i%4 == 0, tags t(i%5) and u(i%7), rare when i%10 == 0), not
	// computed with Filter.Match, so a backend that shares Match with the
	// portable layer is still checked against the filter semantics.
	cases := []struct {
		name string
		f    *twostage.Filter
		want func(i int) bool
		n    int // how many of the 120 documents match (guards the predicate)
	}{
		{"eq string", twostage.Eq("lang", "de"), func(i int) bool { return i%3 == 1 }, 40},
		{"eq int", twostage.Eq("year", 1995), func(i int) bool { return i%30 == 5 }, 4},
		{"eq int as float", twostage.Eq("year", 1995.0), func(i int) bool { return i%30 == 5 }, 4},
		{"eq float", twostage.Eq("price", 3.5), func(i int) bool { return i%17 == 3 }, 7},
		{"eq bool", twostage.Eq("draft", true), func(i int) bool { return i%4 == 0 }, 30},
		{"eq bool false", twostage.Eq("draft", false), func(i int) bool { return i%4 != 0 }, 90},
		{"eq list contains", twostage.Eq("tags", "t2"), func(i int) bool { return i%5 == 2 }, 24},
		{"eq no match", twostage.Eq("lang", "xx"), func(int) bool { return false }, 0},
		{"eq missing field", twostage.Eq("nosuch", "x"), func(int) bool { return false }, 0},
		{"in strings", twostage.In("lang", "en", "fr"), func(i int) bool { return i%6 == 3 || i%3 == 2 }, 60},
		{"in ints", twostage.In("year", 1990, 2001, 2019), func(i int) bool { return i%30 == 0 || i%30 == 11 || i%30 == 29 }, 12},
		{"in list", twostage.In("tags", "u3", "t4"), func(i int) bool { return i%7 == 3 || i%5 == 4 }, 38},
		{"gt", twostage.Gt("year", 2010), func(i int) bool { return i%30 > 20 }, 36},
		{"gte", twostage.Gte("year", 2010), func(i int) bool { return i%30 >= 20 }, 40},
		{"lt float", twostage.Lt("price", 4.5), func(i int) bool { return i%17 <= 3 }, 29},
		{"lte float", twostage.Lte("price", 4.5), func(i int) bool { return i%17 <= 4 }, 36},
		{"lt int bound on float", twostage.Lt("price", 4), func(i int) bool { return i%17 <= 3 }, 29},
		{"between", twostage.Between("year", 1995, 1999), func(i int) bool { return i%30 >= 5 && i%30 <= 9 }, 20},
		{"range two sided open", &twostage.Filter{Op: twostage.OpRange, Field: "price", Gt: ptr(2.5), Lt: ptr(6.5)},
			func(i int) bool { return i%17 >= 3 && i%17 <= 5 }, 21},
		{"exists", twostage.Exists("rare"), func(i int) bool { return i%10 == 0 }, 12},
		{"exists partial", twostage.Exists("lang"), func(i int) bool { return i%6 != 0 }, 100},
		{"not exists", twostage.Not(twostage.Exists("lang")), func(i int) bool { return i%6 == 0 }, 20},
		{"not eq includes missing", twostage.Not(twostage.Eq("lang", "en")), func(i int) bool { return i%6 != 3 }, 100},
		{"and", twostage.And(twostage.Eq("lang", "en"), twostage.Gte("year", 2000)), func(i int) bool { return i%6 == 3 && i%30 >= 10 }, 12},
		{"or", twostage.Or(twostage.Eq("lang", "fr"), twostage.Eq("draft", true)), func(i int) bool { return i%3 == 2 || i%4 == 0 }, 60},
		{"nested", twostage.And(
			twostage.Or(twostage.Eq("lang", "de"), twostage.Not(twostage.Exists("lang"))),
			twostage.Not(twostage.In("tags", "t0", "t1")),
			twostage.Lt("price", 12)), func(i int) bool { return (i%3 == 1 || i%6 == 0) && i%5 >= 2 && i%17 <= 11 }, 25},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := exactSearch(docs, m, docs[0].Vector, len(docs), tc.want)
			if len(want) != tc.n {
				t.Fatalf("test data: the expected predicate matches %d documents, want %d", len(want), tc.n)
			}
			got, err := s.Search(ctx, twostage.Query{Vector: docs[0].Vector, K: len(docs), Filter: tc.f})
			must(t, err, "Search")
			compare(t, h, tc.name, got, want)
			// A small K still fills up when enough documents match.
			k := 5
			got, err = s.Search(ctx, twostage.Query{Vector: docs[0].Vector, K: k, Filter: tc.f})
			must(t, err, "Search small k")
			if wantN := min(k, len(want)); len(got) < wantN && h.exact() {
				t.Errorf("K=%d: got %d hits, want %d", k, len(got), wantN)
			}
			for _, g := range got {
				if !tc.want(idIndexF(g.ID)) {
					t.Errorf("hit %q does not match the filter", g.ID)
				}
			}
		})
	}
	t.Run("invalid", func(t *testing.T) {
		for _, f := range []*twostage.Filter{
			{Op: "like", Field: "lang"},
			{Op: twostage.OpEq, Value: "x"},
			twostage.In("lang"),
			{Op: twostage.OpRange, Field: "year"},
			twostage.Gt("year", math.NaN()),
			twostage.And(),
			{Op: twostage.OpNot, Filters: []*twostage.Filter{twostage.Exists("a"), twostage.Exists("b")}},
			twostage.Eq("tags", []string{"t1"}),
			twostage.Eq("lang", struct{}{}),
		} {
			_, err := s.Search(ctx, twostage.Query{Vector: docs[0].Vector, K: 3, Filter: f})
			wantErr(t, err, twostage.ErrInvalidInput, fmt.Sprintf("filter %+v", f))
		}
	})
}

func idIndexF(id string) int {
	var i int
	fmt.Sscanf(id, "f%d", &i)
	return i
}

func ptr(x float64) *float64 { return &x }

func testBadIDs(t *testing.T, h Harness) {
	s := h.open(t, dim, h.metrics()[0])
	r := rand.New(rand.NewPCG(15, 16))
	err := s.Upsert(ctx, []twostage.Document{{ID: "ok", Vector: vec(r, dim)}, {ID: "", Vector: vec(r, dim)}})
	wantErr(t, err, twostage.ErrInvalidInput, "Upsert with an empty id")
	err = s.Upsert(ctx, []twostage.Document{{ID: "dup", Vector: vec(r, dim)}, {ID: "dup", Vector: vec(r, dim)}})
	wantErr(t, err, twostage.ErrInvalidInput, "Upsert with duplicate ids")
	if n := count(t, s); n != 0 {
		t.Errorf("rejected batches wrote %d documents", n)
	}
	_, err = s.Get(ctx, []string{""})
	wantErr(t, err, twostage.ErrInvalidInput, "Get empty id")
	wantErr(t, s.Delete(ctx, []string{"x", ""}), twostage.ErrInvalidInput, "Delete empty id")
	must(t, s.Upsert(ctx, nil), "Upsert of nothing")
}

func testDimension(t *testing.T, h Harness) {
	s := h.open(t, dim, h.metrics()[0])
	r := rand.New(rand.NewPCG(17, 18))
	must(t, s.Upsert(ctx, []twostage.Document{{ID: "a", Vector: vec(r, dim)}}), "Upsert")
	for _, n := range []int{0, dim - 1, dim + 1} {
		err := s.Upsert(ctx, []twostage.Document{{ID: "b", Vector: vec(r, n)}})
		wantErr(t, err, twostage.ErrDimension, fmt.Sprintf("Upsert %d-dim vector", n))
		_, err = s.Search(ctx, twostage.Query{Vector: vec(r, n), K: 1})
		wantErr(t, err, twostage.ErrDimension, fmt.Sprintf("Search %d-dim vector", n))
	}
	if n := count(t, s); n != 1 {
		t.Errorf("Count = %d after rejected upserts, want 1", n)
	}
	if got := s.Info().Dim; got != dim {
		t.Errorf("Info().Dim = %d, want %d", got, dim)
	}
}

func testNonFinite(t *testing.T, h Harness) {
	s := h.open(t, dim, h.metrics()[0])
	r := rand.New(rand.NewPCG(19, 20))
	for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))} {
		v := vec(r, dim)
		v[3] = bad
		err := s.Upsert(ctx, []twostage.Document{{ID: "good", Vector: vec(r, dim)}, {ID: "bad", Vector: v}})
		wantErr(t, err, twostage.ErrInvalidInput, fmt.Sprintf("Upsert vector with %v", bad))
		_, err = s.Search(ctx, twostage.Query{Vector: v, K: 1})
		wantErr(t, err, twostage.ErrInvalidInput, fmt.Sprintf("Search vector with %v", bad))
	}
	if n := count(t, s); n != 0 {
		t.Errorf("rejected batches wrote %d documents", n)
	}
}

func testBadText(t *testing.T, h Harness) {
	s := h.open(t, dim, h.metrics()[0])
	r := rand.New(rand.NewPCG(21, 22))
	err := s.Upsert(ctx, []twostage.Document{{ID: "a", Text: "bad \xff\xfe", Vector: vec(r, dim)}})
	wantErr(t, err, twostage.ErrInvalidInput, "Upsert invalid UTF-8 text")
	err = s.Upsert(ctx, []twostage.Document{{ID: "a\xff", Vector: vec(r, dim)}})
	wantErr(t, err, twostage.ErrInvalidInput, "Upsert invalid UTF-8 id")
}

func testBadMetadata(t *testing.T, h Harness) {
	s := h.open(t, dim, h.metrics()[0])
	r := rand.New(rand.NewPCG(23, 24))
	for _, md := range []map[string]any{
		{"m": map[string]any{"nested": 1}},
		{"f": math.NaN()},
		{"l": []any{"ok", 3}},
		{"": "empty key"},
	} {
		err := s.Upsert(ctx, []twostage.Document{{ID: "a", Vector: vec(r, dim), Metadata: md}})
		wantErr(t, err, twostage.ErrInvalidInput, fmt.Sprintf("Upsert metadata %v", md))
	}
}

func testGetMissing(t *testing.T, h Harness) {
	s := h.open(t, dim, h.metrics()[0])
	r := rand.New(rand.NewPCG(25, 26))
	must(t, s.Upsert(ctx, []twostage.Document{{ID: "here", Text: "h", Vector: vec(r, dim)}}), "Upsert")
	got, err := s.Get(ctx, []string{"gone", "here", "also-gone"})
	wantErr(t, err, twostage.ErrNotFound, "Get with missing ids")
	if len(got) != 1 || got[0].ID != "here" {
		t.Errorf("Get with missing ids returned %v, want the one found", got)
	}
}

func testCancel(t *testing.T, h Harness) {
	s := h.open(t, dim, h.metrics()[0])
	r := rand.New(rand.NewPCG(27, 28))
	must(t, s.Upsert(ctx, []twostage.Document{{ID: "a", Vector: vec(r, dim)}}), "Upsert")
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	wantEveryCall(t, cctx, s, r, context.Canceled, "with canceled ctx")
	if n := count(t, s); n != 1 {
		t.Errorf("Count = %d after canceled calls, want 1", n)
	}
}

func testConcurrent(t *testing.T, h Harness) {
	s := h.open(t, dim, h.metrics()[0])
	const writers, perWriter = 4, 40
	var wg sync.WaitGroup
	errs := make(chan error, 4*writers)
	for w := range writers {
		wg.Add(2)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(30, uint64(w)))
			for i := 0; i < perWriter; i += 10 {
				var docs []twostage.Document
				for j := i; j < i+10; j++ {
					docs = append(docs, twostage.Document{ID: fmt.Sprintf("w%d-%d", w, j), Text: "t", Vector: vec(r, dim)})
				}
				if err := s.Upsert(ctx, docs); err != nil {
					errs <- err
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(31, uint64(w)))
			for range 20 {
				if _, err := s.Search(ctx, twostage.Query{Vector: vec(r, dim), K: 5}); err != nil {
					errs <- err
					return
				}
				if _, err := s.Count(ctx); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent call: %v", err)
	}
	if n := count(t, s); n != writers*perWriter {
		t.Errorf("Count = %d after concurrent upserts, want %d", n, writers*perWriter)
	}
}

func testClosed(t *testing.T, h Harness) {
	s := h.open(t, dim, h.metrics()[0])
	r := rand.New(rand.NewPCG(32, 33))
	must(t, s.Upsert(ctx, []twostage.Document{{ID: "a", Vector: vec(r, dim)}}), "Upsert")
	must(t, s.Close(), "Close")
	wantErr(t, s.Close(), twostage.ErrClosed, "second Close")
	wantEveryCall(t, ctx, s, r, twostage.ErrClosed, "after Close")
}

// wantEveryCall checks that Upsert, Search, Get and Delete (of "a") and
// Count, called on s with ctx, each fail with want; what ends the messages
// ("after Close").
func wantEveryCall(t *testing.T, ctx context.Context, s *twostage.Store, r *rand.Rand, want error, what string) {
	t.Helper()
	wantErr(t, s.Upsert(ctx, []twostage.Document{{ID: "b", Vector: vec(r, dim)}}), want, "Upsert "+what)
	_, err := s.Search(ctx, twostage.Query{Vector: vec(r, dim), K: 1})
	wantErr(t, err, want, "Search "+what)
	_, err = s.Get(ctx, []string{"a"})
	wantErr(t, err, want, "Get "+what)
	wantErr(t, s.Delete(ctx, []string{"a"}), want, "Delete "+what)
	_, err = s.Count(ctx)
	wantErr(t, err, want, "Count "+what)
}
