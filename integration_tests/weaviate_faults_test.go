package integration

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weaviate/weaviate-go-client/v4/weaviate/fault"
	"github.com/weaviate/weaviate/entities/models"

	"twostage"
	"twostage/adapters/memstore"
	"twostage/adapters/storetest"
	"twostage/adapters/weaviatestore"
	"twostage/embed"
	"twostage/internal/storefault"
	"twostage/rerank"
)

// TestWeaviateRestart kills a real weaviate-server (SIGKILL) while a writer
// is upserting, checks that calls during the outage fail with
// ErrUnavailable after bounded retries, restarts it on the same data
// directory, and checks that every acknowledged write is there.
func TestWeaviateRestart(t *testing.T) {
	srv := ownWeaviate(t)
	c := client(t, srv.Addr())
	const class, dim = "Restart", 16
	patient, err := weaviatestore.Open(ctx, c, class, &weaviatestore.Options{Dim: dim,
		Retry: weaviatestore.Retry{Attempts: 200, Initial: 50 * time.Millisecond, Max: 500 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer patient.Close()
	impatient, err := weaviatestore.Open(ctx, c, class, &weaviatestore.Options{
		Retry: weaviatestore.Retry{Attempts: 3, Initial: 20 * time.Millisecond, Max: 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer impatient.Close()

	// The writer upserts batches of 20 until stopped, recording what was
	// acknowledged.
	w := storefault.StartWriter(ctx, patient, storefault.WriterOptions{Dim: dim, Batch: 20, Seed: 1,
		Document: func(id string, batch int, v []float32) twostage.Document {
			return twostage.Document{ID: id, Text: "text of " + id, Vector: v,
				Metadata: map[string]any{"batch": int64(batch), "tag": []string{"x", id}}}
		}})
	defer w.Stop()
	if err := w.Wait(5, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	killedAt := w.Batches()

	// During the outage: bounded retries, then ErrUnavailable with the
	// client's error reachable.
	_, err = impatient.Search(ctx, twostage.Query{Vector: storetest.RandomVector(rand.New(rand.NewPCG(2, 2)), dim), K: 3})
	if !errors.Is(err, twostage.ErrUnavailable) {
		t.Fatalf("search during the outage: got %v, want ErrUnavailable", err)
	}
	var we *fault.WeaviateClientError
	if !errors.As(err, &we) {
		t.Errorf("the client's *fault.WeaviateClientError is not reachable: %v", err)
	}
	if !strings.Contains(err.Error(), "after 3 attempts") {
		t.Errorf("search during the outage: %v, want it to report 3 attempts", err)
	}
	_, err = impatient.Count(ctx)
	if !errors.Is(err, twostage.ErrUnavailable) {
		t.Errorf("count during the outage: got %v, want ErrUnavailable", err)
	}
	err = impatient.Upsert(ctx, []twostage.Document{{ID: "during-outage", Vector: storetest.RandomVector(rand.New(rand.NewPCG(3, 3)), dim)}})
	var be *weaviatestore.BatchError
	if !errors.Is(err, twostage.ErrUnavailable) || !errors.As(err, &be) || !slices.Equal(be.Failed, []string{"during-outage"}) {
		t.Errorf("upsert during the outage: got %v, want ErrUnavailable naming during-outage", err)
	}

	if err := srv.Start(0); err != nil {
		t.Fatalf("restart: %v", err)
	}
	if err := w.Wait(killedAt+5, 2*time.Minute); err != nil { // the writer carries on after the restart
		t.Fatal(err)
	}
	acked, failed := w.Stop()
	if len(failed) > 0 {
		t.Errorf("the patient writer saw %d failures, first: %v", len(failed), failed[0])
	}
	n, err := patient.Count(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != len(acked) {
		t.Errorf("Count after restart = %d, want the %d acknowledged", n, len(acked))
	}
	ids := make([]string, 0, len(acked))
	for id := range acked {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	got, err := patient.Get(ctx, ids)
	if err != nil {
		t.Fatalf("Get of every acknowledged id: %v", err)
	}
	// Searchability. Weaviate does not keep its vector and inverted indexes
	// crash-consistent with its object store (weaviate/weaviate#4262): a
	// SIGKILL can drop the index entries of the last writes it acknowledged,
	// and of a batch cut off mid-way. The adapter replays its last
	// acknowledged batches after an outage and re-imports cut-off ones, so
	// every acknowledged document must be findable by its vector and tag.
	findable := map[string]bool{}
	for _, id := range ids {
		hits, err := patient.Search(ctx, twostage.Query{Vector: acked[id].Vector, K: 1, Filter: twostage.Eq("tag", id)})
		if err != nil {
			t.Fatalf("search after restart: %v", err)
		}
		if len(hits) == 1 && hits[0].ID == id {
			findable[id] = true
			continue
		}
		t.Errorf("%s (batch %v; %d batches acknowledged before the kill) is stored but not findable by its vector and tag",
			id, acked[id].Metadata["batch"], killedAt)
	}

	// A graceful restart (SIGTERM) loses nothing: the same documents are
	// stored and findable afterwards.
	srv.Terminate(30 * time.Second)
	if err := srv.Start(0); err != nil {
		t.Fatalf("restart after SIGTERM: %v", err)
	}
	if n, err := patient.Count(ctx); err != nil || n != len(acked) {
		t.Errorf("Count after a graceful restart = %d, %v; want %d", n, err, len(acked))
	}
	for _, id := range ids {
		hits, err := patient.Search(ctx, twostage.Query{Vector: acked[id].Vector, K: 1, Filter: twostage.Eq("tag", id)})
		if got := err == nil && len(hits) == 1 && hits[0].ID == id; got != findable[id] {
			t.Errorf("%s findable %v before the graceful restart, %v after (%v)", id, findable[id], got, err)
		}
	}
	for _, d := range got {
		w := acked[d.ID]
		if d.Text != w.Text || fmt.Sprint(d.Metadata) != fmt.Sprint(w.Metadata) || !slices.Equal(d.Vector, w.Vector) {
			t.Errorf("document %q after restart: got %+v, want %+v", d.ID, d, w)
			break
		}
	}
	t.Logf("%d documents acknowledged (%d before the kill), all stored after the restarts", len(acked), killedAt*20)
}

// stallProxy forwards TCP to upstream; while stalled it holds every byte.
type stallProxy struct {
	ln      net.Listener
	stalled atomic.Bool
}

func newStallProxy(t *testing.T, upstream string) *stallProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stallProxy{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() { // exits when the listener closes
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", upstream)
			if err != nil {
				c.Close()
				continue
			}
			go p.pipe(c, u)
			go p.pipe(u, c)
		}
	}()
	return p
}

func (p *stallProxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		for p.stalled.Load() {
			time.Sleep(5 * time.Millisecond)
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				return
			}
			return
		}
	}
}

func TestWeaviateDeadline(t *testing.T) {
	srv, _ := needWeaviate(t)
	proxy := newStallProxy(t, srv.Addr())
	c := client(t, proxy.ln.Addr().String())
	class := freshClass("Slow")
	s, err := weaviatestore.Open(ctx, c, class, &weaviatestore.Options{Dim: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Upsert(ctx, []twostage.Document{{ID: "a", Vector: []float32{1, 2, 3, 4}}}); err != nil {
		t.Fatal(err)
	}
	proxy.stalled.Store(true)
	defer proxy.stalled.Store(false)
	if err := storefault.Deadlines(ctx, s, 4, 100*time.Millisecond); err != nil {
		t.Error(err)
	}
}

func TestWeaviatePartialBatch(t *testing.T) {
	_, c := needWeaviate(t)
	class := freshClass("Partial")
	// A class made by another tool with a date property: the adapter
	// leaves its values to the server (a value of a type the adapter's
	// own properties cannot hold is refused before writing instead).
	err := c.Schema().ClassCreator().WithClass(&models.Class{
		Class: class, Vectorizer: "none", VectorIndexConfig: map[string]any{"distance": "cosine"},
		Properties: []*models.Property{{Name: "when", DataType: []string{"date"}}},
	}).Do(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s, err := weaviatestore.Open(ctx, c, class, &weaviatestore.Options{Dim: 2, BatchSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Upsert(ctx, []twostage.Document{{ID: "seed", Vector: []float32{1, 0}, Metadata: map[string]any{"when": "2001-01-01T00:00:00Z"}}}); err != nil {
		t.Fatal(err)
	}
	// A string that is not a date fails that object only.
	docs := []twostage.Document{
		{ID: "ok1", Vector: []float32{1, 1}, Metadata: map[string]any{"when": "1999-12-31T23:59:59Z"}},
		{ID: "bad1", Vector: []float32{1, 2}, Metadata: map[string]any{"when": "nineteen"}},
		{ID: "ok2", Vector: []float32{1, 3}},
		{ID: "ok3", Vector: []float32{1, 4}, Metadata: map[string]any{"when": "2020-02-29T00:00:00Z"}},
		{ID: "bad2", Vector: []float32{1, 5}, Metadata: map[string]any{"when": "soon"}},
	}
	err = s.Upsert(ctx, docs)
	var be *weaviatestore.BatchError
	if !errors.As(err, &be) || !errors.Is(err, weaviatestore.ErrRejected) {
		t.Fatalf("got %v, want a *BatchError wrapping ErrRejected", err)
	}
	if !slices.Equal(be.Failed, []string{"bad1", "bad2"}) || be.Causes["bad1"] == "" {
		t.Errorf("failed %v causes %v, want bad1 and bad2 with the server's messages", be.Failed, be.Causes)
	}
	if !strings.Contains(err.Error(), `"bad1"`) || !strings.Contains(err.Error(), `"bad2"`) {
		t.Errorf("message %q does not name the failed ids", err)
	}
	if n, err := s.Count(ctx); err != nil || n != 4 {
		t.Errorf("Count = %d, %v; want 4 (seed and the three good ones)", n, err)
	}
}

func TestWeaviateHybrid(t *testing.T) {
	_, c := needWeaviate(t)
	s, err := weaviatestore.Open(ctx, c, freshClass("Hybrid"), &weaviatestore.Options{Dim: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !s.SupportsHybrid() {
		t.Fatal("weaviate store does not offer hybrid search")
	}
	docs := []twostage.Document{
		{ID: "kw", Text: "the quick brown fox jumps over the lazy dog", Vector: []float32{0, 1}, Metadata: map[string]any{"lang": "en"}},
		{ID: "vec", Text: "a completely unrelated sentence", Vector: []float32{1, 0}, Metadata: map[string]any{"lang": "en"}},
		{ID: "mid", Text: "brown bears", Vector: []float32{0.7, 0.7}, Metadata: map[string]any{"lang": "de"}},
	}
	if err := s.Upsert(ctx, docs); err != nil {
		t.Fatal(err)
	}
	q := []float32{1, 0}
	for _, tc := range []struct {
		alpha float64
		first string
	}{{0, "kw"}, {1, "vec"}} {
		hits, err := s.HybridSearch(ctx, twostage.HybridQuery{Text: "quick fox", Vector: q, K: 3, Alpha: tc.alpha})
		if err != nil {
			t.Fatal(err)
		}
		if len(hits) == 0 || hits[0].ID != tc.first {
			t.Errorf("alpha %v: got %v, want %s first", tc.alpha, hitIDs(hits), tc.first)
		}
		for i := 1; i < len(hits); i++ {
			if hits[i].RetrievalScore > hits[i-1].RetrievalScore {
				t.Errorf("alpha %v: scores not descending: %v", tc.alpha, hits)
			}
		}
	}
	hits, err := s.HybridSearch(ctx, twostage.HybridQuery{Text: "brown", Vector: q, K: 3, Alpha: 0.5, Filter: twostage.Eq("lang", "de")})
	if err != nil || !slices.Equal(hitIDs(hits), []string{"mid"}) {
		t.Errorf("filtered hybrid: got %v, %v; want [mid]", hitIDs(hits), err)
	}
}

// sameRanking checks two reranked results rank by rank: equal rerank
// scores, and equal ids except where a score ties with a neighbour (ties
// keep first-stage order, which may differ between stores).
func sameRanking(t *testing.T, got, want []twostage.Hit) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d hits %v, want %d %v", len(got), hitIDs(got), len(want), hitIDs(want))
	}
	tied := func(i int) bool {
		return (i > 0 && want[i-1].RerankScore == want[i].RerankScore) ||
			(i+1 < len(want) && want[i+1].RerankScore == want[i].RerankScore)
	}
	for i := range got {
		if d := got[i].RerankScore - want[i].RerankScore; d > 1e-9 || d < -1e-9 {
			t.Errorf("rank %d: rerank score %v (%s), want %v (%s)", i, got[i].RerankScore, got[i].ID, want[i].RerankScore, want[i].ID)
		}
		if got[i].ID != want[i].ID && !tied(i) {
			t.Errorf("rank %d: got %s, want %s (got %v, want %v)", i, got[i].ID, want[i].ID, hitIDs(got), hitIDs(want))
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

// TestWeaviatePipeline runs whole Pipeline searches over Weaviate and over
// the exact in-memory store with the same embedder and reranker: the
// results must agree.
func TestWeaviatePipeline(t *testing.T) {
	_, c := needWeaviate(t)
	emb, err := embed.NewHashing(64)
	if err != nil {
		t.Fatal(err)
	}
	rr := rerank.NewLexical()
	ws, err := weaviatestore.Open(ctx, c, freshClass("Pipe"), &weaviatestore.Options{Dim: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	ms, err := memstore.New(64, twostage.Cosine)
	if err != nil {
		t.Fatal(err)
	}
	defer ms.Close()
	topics := []string{"weaviate vector database", "qdrant similarity search", "cross encoder reranking", "go programming language", "retrieval augmented generation"}
	var docs []twostage.Document
	for i := range 60 {
		docs = append(docs, twostage.Document{
			ID:       fmt.Sprintf("d%02d", i),
			Text:     fmt.Sprintf("%s note %d about %s", topics[i%len(topics)], i, topics[(i*3+1)%len(topics)]),
			Metadata: map[string]any{"topic": int64(i % len(topics))},
		})
	}
	var results [2]*twostage.Result
	for i, st := range []*twostage.Store{ws, ms} {
		p, err := twostage.NewPipeline(st, emb, rr, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Index(ctx, docs, nil); err != nil {
			t.Fatalf("index: %v", err)
		}
		res, err := p.Search(ctx, "reranking with a cross encoder", twostage.SearchOptions{TopN: 5, CandidateK: 60, Filter: twostage.Not(twostage.Eq("topic", 3))})
		if err != nil {
			t.Fatalf("search: %v", err)
		}
		results[i] = res
	}
	w, m := results[0], results[1]
	if !w.Reranked || len(w.Hits) != 5 || w.Candidates != 48 {
		t.Fatalf("weaviate pipeline: reranked %v, %d hits, %d candidates; want reranked, 5, 48", w.Reranked, len(w.Hits), w.Candidates)
	}
	sameRanking(t, w.Hits, m.Hits)
	for i := range w.Hits {
		if w.Hits[i].Metadata["topic"] == int64(3) {
			t.Errorf("hit %s has the excluded topic", w.Hits[i].ID)
		}
	}
	if !strings.Contains(w.Hits[0].Text, "cross encoder reranking") {
		t.Errorf("top hit %q is not about cross-encoder reranking", w.Hits[0].Text)
	}
	// The pipeline's hybrid first stage uses Weaviate's native hybrid search.
	alpha := 0.0
	p, _ := twostage.NewPipeline(ws, emb, rr, nil)
	res, err := p.Search(ctx, "golang programming", twostage.SearchOptions{TopN: 3, Hybrid: &alpha, NoRerank: true})
	if err != nil || len(res.Hits) == 0 || !strings.Contains(res.Hits[0].Text, "go programming language") {
		t.Errorf("hybrid pipeline search: %v, %v", res, err)
	}
}

// TestWeaviateAttach attaches to a class created by other tools: its own
// text property, an int property, objects without the twostage properties.
func TestWeaviateAttach(t *testing.T) {
	_, c := needWeaviate(t)
	class := freshClass("Legacy")
	f, tr := false, true
	err := c.Schema().ClassCreator().WithClass(&models.Class{
		Class: class, Vectorizer: "none", VectorIndexConfig: map[string]any{"distance": "dot"},
		InvertedIndexConfig: &models.InvertedIndexConfig{IndexNullState: true},
		Properties: []*models.Property{
			{Name: "body", DataType: []string{"text"}},
			{Name: "year", DataType: []string{"int"}},
			{Name: "lang", DataType: []string{"text"}, Tokenization: "field"},
			{Name: "secret", DataType: []string{"text"}, IndexFilterable: &tr, IndexSearchable: &f},
		},
	}).Do(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const u1, u2 = "00000000-0000-0000-0000-0000000000a1", "00000000-0000-0000-0000-0000000000a2"
	_, err = c.Batch().ObjectsBatcher().WithObjects(
		&models.Object{Class: class, ID: u1, Vector: []float32{1, 0, 0}, Properties: map[string]any{"body": "first", "year": 1999, "lang": "en", "secret": "s"}},
		&models.Object{Class: class, ID: u2, Vector: []float32{0, 2, 0}, Properties: map[string]any{"body": "second", "year": 2005}},
	).Do(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := weaviatestore.Open(ctx, c, class, &weaviatestore.Options{Dim: 4}); !errors.Is(err, twostage.ErrDimension) {
		t.Errorf("wrong Dim for a class with 3-dimensional vectors: got %v, want ErrDimension", err)
	}
	s, err := weaviatestore.Open(ctx, c, class, &weaviatestore.Options{TextKey: "body", MetadataKeys: []string{"year", "lang"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.Info(); got.Dim != 3 || got.Metric != twostage.Dot {
		t.Errorf("Info = %+v, want dim 3 (from a stored vector), dot", got)
	}
	docs, err := s.Get(ctx, []string{u1, u2})
	if err != nil {
		t.Fatal(err)
	}
	want := []twostage.Document{
		{ID: u1, Text: "first", Vector: []float32{1, 0, 0}, Metadata: map[string]any{"lang": "en", "year": int64(1999)}},
		{ID: u2, Text: "second", Vector: []float32{0, 2, 0}, Metadata: map[string]any{"year": int64(2005)}},
	}
	if fmt.Sprint(docs) != fmt.Sprint(want) {
		t.Errorf("Get:\n got %v\nwant %v", docs, want)
	}
	for _, tc := range []struct {
		f    *twostage.Filter
		want []string
	}{
		{twostage.Gt("year", 1999.5), []string{u2}},
		{twostage.Eq("year", 1999.0), []string{u1}},
		{twostage.Eq("year", 1999.5), nil},
		{twostage.Exists("lang"), []string{u1}},
		{twostage.Not(twostage.Exists("lang")), []string{u2}},
		{twostage.Eq("secret", "s"), nil}, // not among MetadataKeys
	} {
		hits, err := s.Search(ctx, twostage.Query{Vector: []float32{1, 1, 0}, K: 5, Filter: tc.f})
		if err != nil {
			t.Errorf("filter %+v: %v", tc.f, err)
			continue
		}
		got := hitIDs(hits)
		slices.Sort(got)
		if !slices.Equal(got, tc.want) {
			t.Errorf("filter %+v: got %v, want %v", tc.f, got, tc.want)
		}
	}
	// Writing through the adapter adds its bookkeeping properties.
	if err := s.Upsert(ctx, []twostage.Document{{ID: "mine", Text: "third", Vector: []float32{0, 0, 3}, Metadata: map[string]any{"year": int64(2010)}}}); err != nil {
		t.Fatal(err)
	}
	hits, err := s.Search(ctx, twostage.Query{Vector: []float32{0, 0, 1}, K: 1, Filter: twostage.Gte("year", 2010)})
	if err != nil || len(hits) != 1 || hits[0].ID != "mine" || hits[0].RetrievalScore != 3 {
		t.Errorf("search for the adapter's document: %v, %v; want mine with dot 3", hits, err)
	}
	// An integral float64 on the class's int property keeps its type (a
	// hint records it); a fractional one, which Weaviate would reject, is
	// refused by name before anything of its batch is written.
	err = s.Upsert(ctx, []twostage.Document{
		{ID: "float-year", Vector: []float32{0, 1, 1}, Metadata: map[string]any{"year": 2011.0}},
		{ID: "frac-year", Vector: []float32{0, 1, 1}, Metadata: map[string]any{"year": 2011.5}},
	})
	if !errors.Is(err, twostage.ErrInvalidInput) || !strings.Contains(err.Error(), `"frac-year"`) {
		t.Errorf("upsert of float years into an int property: got %v, want ErrInvalidInput naming frac-year", err)
	}
	if _, err := s.Get(ctx, []string{"float-year"}); !errors.Is(err, twostage.ErrNotFound) {
		t.Errorf("float-year of the refused batch: Get = %v, want ErrNotFound", err)
	}
	if err := s.Upsert(ctx, []twostage.Document{{ID: "float-year", Vector: []float32{0, 1, 1}, Metadata: map[string]any{"year": 2011.0}}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, []string{"float-year", "mine"})
	if err != nil || got[0].Metadata["year"] != 2011.0 || got[1].Metadata["year"] != int64(2010) {
		t.Errorf("years read back: %v, %v; want float64 2011 and int64 2010", got, err)
	}
}
