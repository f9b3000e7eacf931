package storetest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"twostage"
	"twostage/driver"
)

// specScore is the RetrievalScore the Metric documentation defines, written
// here apart from twostage.Metric.Similarity (which memstore and faisslocal
// use), so that a wrong similarity shared by a backend and the portable
// layer still fails the suite: cosine is the dot product of the two vectors
// each scaled to unit length, dot the plain dot product, l2 the negative
// squared Euclidean distance.
func specScore(m twostage.Metric, q, v []float32) float64 {
	switch m {
	case twostage.Cosine:
		qn, vn := unit(q), unit(v)
		var s float64
		for i := range qn {
			s += qn[i] * vn[i]
		}
		return s
	case twostage.Dot:
		var s float64
		for i := range q {
			s += float64(q[i]) * float64(v[i])
		}
		return s
	case twostage.L2:
		var s float64
		for i := range q {
			d := float64(v[i]) - float64(q[i])
			s -= d * d
		}
		return s
	}
	panic(fmt.Sprintf("storetest: no spec score for metric %q", m))
}

func unit(v []float32) []float64 {
	var n float64
	for _, x := range v {
		n += float64(x) * float64(x)
	}
	n = math.Sqrt(n)
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x) / n
	}
	return out
}

// testKnownScores checks scores worked out by hand. q = (1,2,0,0,0,0,0,2)
// has norm 3; a = (3,0,...,4,0) norm 5; b = 2q; c = e3; d = -q.
func testKnownScores(t *testing.T, h Harness) {
	q := []float32{1, 2, 0, 0, 0, 0, 0, 2}
	docs := []twostage.Document{
		{ID: "a", Vector: []float32{3, 0, 0, 0, 0, 0, 4, 0}},
		{ID: "b", Vector: []float32{2, 4, 0, 0, 0, 0, 0, 4}},
		{ID: "c", Vector: []float32{0, 0, 1, 0, 0, 0, 0, 0}},
		{ID: "d", Vector: []float32{-1, -2, 0, 0, 0, 0, 0, -2}},
	}
	want := map[twostage.Metric][]struct {
		id    string
		score float64
	}{
		// q·a = 3, |q||a| = 15; q·b = 18 = |q||b|; q·c = 0; q·d = -9.
		twostage.Cosine: {{"b", 1}, {"a", 0.2}, {"c", 0}, {"d", -1}},
		twostage.Dot:    {{"b", 18}, {"a", 3}, {"c", 0}, {"d", -9}},
		// |q-b|² = 1+4+4, |q-c|² = 9+1, |q-a|² = 4+4+16+4, |q-d|² = 4+16+16.
		twostage.L2: {{"b", -9}, {"c", -10}, {"a", -28}, {"d", -36}},
	}
	for _, m := range h.metrics() {
		t.Run(string(m), func(t *testing.T) {
			s := h.open(t, dim, m)
			must(t, s.Upsert(ctx, docs), "Upsert")
			got, err := s.Search(ctx, twostage.Query{Vector: q, K: 4})
			must(t, err, "Search")
			w := want[m]
			if len(got) != len(w) {
				t.Fatalf("got %d hits %v, want 4", len(got), ids(got))
			}
			for i, g := range got {
				if h.exact() && g.ID != w[i].id {
					t.Errorf("hit %d: got %q, want %q (all: %v)", i, g.ID, w[i].id, ids(got))
				}
			}
			for _, g := range got {
				for _, x := range w {
					if x.id == g.ID && math.Abs(g.RetrievalScore-x.score) > h.tol()*math.Max(1, math.Abs(x.score)) {
						t.Errorf("hit %q: score %v, want %v", g.ID, g.RetrievalScore, x.score)
					}
				}
			}
		})
	}
}

// newDriver makes a driver for the tests that call it directly, bypassing
// twostage.Store, and closes it when the test ends.
func (h Harness) newDriver(t *testing.T, m twostage.Metric) driver.Driver {
	t.Helper()
	d, err := h.New(t, dim, m)
	if err != nil {
		t.Fatalf("harness New(%d, %s): %v", dim, m, err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// driverDocs are n documents with a "g" field cycling through a, b, c, as
// Store would hand them to a driver (metadata normalized).
func driverDocs(n int) []twostage.Document {
	r := rand.New(rand.NewPCG(40, 41))
	docs := make([]twostage.Document, n)
	for i := range docs {
		docs[i] = twostage.Document{ID: fmt.Sprintf("g%03d", i), Text: "t", Vector: vec(r, dim),
			Metadata: map[string]any{"g": string(rune('a' + i%3))}}
	}
	return docs
}

// testDriverSearch checks what the Driver contract promises without the
// portable layer's help: at most K hits, best first, only matching ones,
// scores higher-is-better.
func testDriverSearch(t *testing.T, h Harness) {
	for _, m := range h.metrics() {
		t.Run(string(m), func(t *testing.T) {
			d := h.newDriver(t, m)
			docs := driverDocs(90)
			must(t, d.Upsert(ctx, docs), "driver Upsert")
			r := rand.New(rand.NewPCG(42, 43))
			eqB, _ := twostage.Eq("g", "b").Normalize()
			for qi := range 5 {
				q := vec(r, dim)
				for _, tc := range []struct {
					k    int
					f    *twostage.Filter
					keep func(i int) bool
				}{
					{1, nil, nil}, {7, nil, nil}, {200, nil, nil},
					{4, eqB, func(i int) bool { return i%3 == 1 }},
					{100, eqB, func(i int) bool { return i%3 == 1 }},
				} {
					what := fmt.Sprintf("query %d k=%d filter=%v", qi, tc.k, tc.f != nil)
					got, err := d.Search(ctx, twostage.Query{Vector: q, K: tc.k, Filter: tc.f})
					must(t, err, "driver Search "+what)
					if len(got) > tc.k {
						t.Fatalf("%s: driver returned %d hits, more than K", what, len(got))
					}
					for i := 1; i < len(got); i++ {
						if got[i-1].RetrievalScore < got[i].RetrievalScore {
							t.Fatalf("%s: driver hits not best first at %d: %v then %v", what, i, got[i-1].RetrievalScore, got[i].RetrievalScore)
						}
					}
					for i := range got {
						got[i].Score = got[i].RetrievalScore // the Store sets it; compare checks it
						if idx := idIndexG(got[i].ID); tc.keep != nil && !tc.keep(idx) {
							t.Errorf("%s: hit %q does not match the filter", what, got[i].ID)
						}
					}
					compare(t, h, "driver "+what, got, exactSearch(docs, m, q, tc.k, tc.keep))
				}
			}
		})
	}
}

func idIndexG(id string) int {
	var i int
	fmt.Sscanf(id, "g%d", &i)
	return i
}

// testDriverCancel calls the driver with a context canceled before the
// call: every method returns an error wrapping context.Canceled, and the
// writes change nothing.
func testDriverCancel(t *testing.T, h Harness) {
	d := h.newDriver(t, h.metrics()[0])
	docs := driverDocs(6)
	must(t, d.Upsert(ctx, docs[:3]), "driver Upsert")
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	wantErr(t, d.Upsert(cctx, docs[3:]), context.Canceled, "driver Upsert with a canceled ctx")
	wantErr(t, d.Delete(cctx, []string{docs[0].ID}), context.Canceled, "driver Delete with a canceled ctx")
	_, err := d.Get(cctx, []string{docs[0].ID})
	wantErr(t, err, context.Canceled, "driver Get with a canceled ctx")
	_, err = d.Search(cctx, twostage.Query{Vector: docs[0].Vector, K: 2})
	wantErr(t, err, context.Canceled, "driver Search with a canceled ctx")
	_, err = d.Count(cctx)
	wantErr(t, err, context.Canceled, "driver Count with a canceled ctx")
	if n, err := d.Count(ctx); err != nil || n != 3 {
		t.Errorf("driver Count after canceled writes = %d, %v; want 3", n, err)
	}
}

// testDriverCancelDuring searches with a context that is canceled while the
// driver runs: live when the driver first asks (tripCtx), canceled from then
// on. The driver must notice and return an error wrapping context.Canceled,
// not a result computed after the cancellation.
func testDriverCancelDuring(t *testing.T, h Harness) {
	d := h.newDriver(t, h.metrics()[0])
	docs := driverDocs(300)
	must(t, d.Upsert(ctx, docs), "driver Upsert")
	for _, f := range []*twostage.Filter{nil, twostage.Eq("g", "c")} {
		nf, _ := f.Normalize()
		tc := newTripCtx()
		hits, err := d.Search(tc, twostage.Query{Vector: docs[1].Vector, K: 10, Filter: nf})
		if !tc.tripped() {
			t.Errorf("search (filter %v) never looked at its context", f != nil)
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("search (filter %v) canceled during the call: got %d hits and error %v, want an error wrapping context.Canceled", f != nil, len(hits), err)
		}
	}
}

// tripCtx is a context that is canceled by being looked at: the first call
// to Err reports it live, and cancels it; the first call to Done cancels it
// and returns the closed channel. A driver that checks its context only
// before starting the work does not see the cancellation; one that checks
// again, or waits on Done, does.
type tripCtx struct {
	mu   sync.Mutex
	trip bool
	done chan struct{}
}

func newTripCtx() *tripCtx { return &tripCtx{done: make(chan struct{})} }

func (c *tripCtx) cancel() (was bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	was = c.trip
	if !c.trip {
		c.trip = true
		close(c.done)
	}
	return was
}

func (c *tripCtx) tripped() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.trip
}

func (c *tripCtx) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c *tripCtx) Value(any) any               { return nil }
func (c *tripCtx) Done() <-chan struct{}       { c.cancel(); return c.done }
func (c *tripCtx) Err() error {
	if c.cancel() {
		return context.Canceled
	}
	return nil
}
func (c *tripCtx) String() string { return "storetest.tripCtx" }
