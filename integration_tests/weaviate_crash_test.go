package integration

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"twostage"
	"twostage/adapters/weaviatestore"
	"twostage/integration_tests/weaviateserver"
	"twostage/internal/testassets"
)

// TestWeaviateCrashAfterWriterGone is issue 19's scenario: a batch job
// writes 2,000 documents and goes away; Weaviate is then killed with
// SIGKILL and restarted on the same data. Weaviate keeps the objects but
// loses the vector-index entries of the last ones it acknowledged. Another
// process (here: fresh Drivers with their own client, so no state of the
// writer survives but what Weaviate stored) must find every document by its
// own vector again, with every query's top 10 as before the crash: through
// the journal on Open for a class written with it, through Check with
// Repair for one written without, and through the journal check a Driver
// runs after it found the server unreachable, for a process (a server)
// that had the class open across the crash while a batch job wrote it.
func TestWeaviateCrashAfterWriterGone(t *testing.T) {
	bin, ok := weaviateserver.Binary(testassets.Deps())
	if !ok {
		testassets.Missing(t, bin+" (run scripts/deps.sh weaviate)")
	}
	srv, err := weaviateserver.Start(bin, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	const dim, n, queries = 16, 2000, 20
	r := rand.New(rand.NewPCG(19, 19))
	docs := make([]twostage.Document, n)
	for i := range docs {
		id := fmt.Sprintf("d%04d", i)
		docs[i] = twostage.Document{ID: id, Text: "text of " + id, Vector: randVec(r, dim), Metadata: map[string]any{"i": int64(i)}}
	}
	qs := make([][]float32, queries)
	for i := range qs {
		qs[i] = randVec(r, dim)
	}
	classes := map[string]*weaviatestore.Options{
		"Journaled":   {Dim: dim},
		"Unjournaled": {Dim: dim, NoJournal: true},
	}
	top10 := func(s *twostage.Store) [][]string {
		t.Helper()
		out := make([][]string, len(qs))
		for i, q := range qs {
			hits, err := s.Search(ctx, twostage.Query{Vector: q, K: 10})
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range hits {
				out[i] = append(out[i], h.ID)
			}
		}
		return out
	}
	// findable returns the documents a search with their own vector misses.
	notFindable := func(s *twostage.Store) []string {
		t.Helper()
		var out []string
		for _, d := range docs {
			hits, err := s.Search(ctx, twostage.Query{Vector: d.Vector, K: 1})
			if err != nil {
				t.Fatal(err)
			}
			if len(hits) == 0 || hits[0].ID != d.ID {
				out = append(out, d.ID)
			}
		}
		return out
	}
	before := map[string][][]string{}
	for class, opts := range classes {
		c := client(t, srv.Addr())
		s, err := weaviatestore.Open(ctx, c, class, opts)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i += 100 { // the job's batches
			if err := s.Upsert(ctx, docs[i:i+100]); err != nil {
				t.Fatal(err)
			}
		}
		before[class] = top10(s)
		if lost := notFindable(s); len(lost) > 0 {
			t.Fatalf("%s before the crash: %d documents not found by their own vectors: %v", class, len(lost), lost[:min(5, len(lost))])
		}
		s.Close() // the writer is gone
		if !opts.NoJournal {
			// What the journal costs an Open when nothing was lost.
			start := time.Now()
			s, err := weaviatestore.Open(ctx, client(t, srv.Addr()), class, opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: open with the journal's check, nothing lost: %v", class, time.Since(start).Round(time.Millisecond))
			s.Close()
		}
	}

	// A process that keeps the class open across the crash (a server that
	// serves what a batch job wrote): it has no replay of the job's
	// writes, and it makes a call while Weaviate is down, so it knows to
	// check the journal again once Weaviate is back.
	const longLived = "LongLived"
	ll, err := weaviatestore.Open(ctx, client(t, srv.Addr()), longLived, &weaviatestore.Options{Dim: dim,
		Retry: weaviatestore.Retry{Attempts: 2, Initial: 10 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer ll.Close()
	job, err := weaviatestore.Open(ctx, client(t, srv.Addr()), longLived, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i += 100 {
		if err := job.Upsert(ctx, docs[i:i+100]); err != nil {
			t.Fatal(err)
		}
	}
	job.Close()
	before[longLived] = top10(ll)

	srv.Kill()
	if _, err := ll.Count(ctx); !errors.Is(err, twostage.ErrUnavailable) {
		t.Fatalf("count while Weaviate is down: %v, want ErrUnavailable", err)
	}
	if err := srv.Start(0); err != nil {
		t.Fatal(err)
	}
	{
		probe, err := weaviatestore.Open(ctx, client(t, srv.Addr()), longLived, &weaviatestore.Options{NoJournal: true})
		if err != nil {
			t.Fatal(err)
		}
		lost := notFindable(probe)
		probe.Close()
		t.Logf("%s after the crash, before the server's next call: %d documents not found by their own vectors", longLived, len(lost))
		if len(lost) == 0 {
			t.Errorf("%s: the crash lost no index entries: the scenario did not reproduce", longLived)
		}
	}
	if got := top10(ll); !slices.EqualFunc(got, before[longLived], slices.Equal) {
		t.Errorf("%s after the restart: top 10s differ from before the crash:\n got %v\nwant %v", longLived, got, before[longLived])
	}
	if lost := notFindable(ll); len(lost) > 0 {
		t.Errorf("%s after the restart: %d documents not found by their own vectors: %v", longLived, len(lost), lost[:min(5, len(lost))])
	}

	// Without the journal: the loss is there, Check reports it and repairs it.
	{
		class := "Unjournaled"
		s, err := weaviatestore.Open(ctx, client(t, srv.Addr()), class, classes[class])
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if n, err := s.Count(ctx); err != nil || n != len(docs) {
			t.Fatalf("%s: count after the crash = %d, %v; want %d", class, n, err, len(docs))
		}
		lost := notFindable(s)
		rep, err := s.Check(ctx, twostage.CheckOptions{FirstIDs: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s after the crash: %d documents not found by their own vectors; check: %v", class, len(lost), rep.String()[:min(200, len(rep.String()))])
		if len(lost) == 0 {
			t.Errorf("%s: the crash lost no index entries: the scenario did not reproduce", class)
		}
		if rep.Checked != len(docs) || rep.Missing.Count+rep.Mismatched.Count == 0 {
			t.Errorf("%s: check = %v, want %d checked and the lost documents missing", class, rep, len(docs))
		}
		for _, id := range lost {
			if !slices.Contains(rep.Missing.First, id) && !slices.Contains(rep.Mismatched.First, id) {
				t.Errorf("%s: %s is not found by its own vector, but check does not report it", class, id)
			}
		}
		// Re-indexing changes the approximate HNSW graph (the deleted nodes
		// stay as tombstones until Weaviate cleans them up), which can
		// leave another, borderline object unreachable: check --repair is
		// run until a check finds nothing, at most three times.
		for round := 1; ; round++ {
			rep, err = s.Check(ctx, twostage.CheckOptions{Repair: true})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Repaired != rep.Problems() {
				t.Errorf("%s: check --repair = %v, want every finding repaired", class, rep)
			}
			rep, err := s.Check(ctx, twostage.CheckOptions{})
			if err == nil && rep.OK() && rep.Checked == len(docs) {
				t.Logf("%s: clean after %d rounds of check --repair", class, round)
				break
			}
			if round == 3 {
				t.Fatalf("%s: check after %d rounds of repair = %v, %v; want %d checked, nothing wrong", class, round, rep, err, len(docs))
			}
		}
		if lost := notFindable(s); len(lost) > 0 {
			t.Errorf("%s after check --repair: %d documents not found by their own vectors: %v", class, len(lost), lost[:min(5, len(lost))])
		}
		if got := top10(s); !slices.EqualFunc(got, before[class], slices.Equal) {
			t.Errorf("%s after check --repair: top 10s differ from before the crash:\n got %v\nwant %v", class, got, before[class])
		}
	}

	// With the journal: opening the class repairs it.
	{
		class := "Journaled"
		start := time.Now()
		s, err := weaviatestore.Open(ctx, client(t, srv.Addr()), class, classes[class])
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		t.Logf("%s: open with the journal's check took %v", class, time.Since(start).Round(time.Millisecond))
		if lost := notFindable(s); len(lost) > 0 {
			t.Errorf("%s after open: %d documents not found by their own vectors: %v", class, len(lost), lost[:min(5, len(lost))])
		}
		if got := top10(s); !slices.EqualFunc(got, before[class], slices.Equal) {
			t.Errorf("%s after open: top 10s differ from before the crash:\n got %v\nwant %v", class, got, before[class])
		}
		if rep, err := s.Check(ctx, twostage.CheckOptions{}); err != nil || !rep.OK() || rep.Checked != len(docs) {
			t.Errorf("%s: check after open = %v, %v; want %d checked, nothing wrong", class, rep, err, len(docs))
		}
	}
}
