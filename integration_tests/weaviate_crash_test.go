package integration

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"twostage"
	"twostage/adapters/storetest"
	"twostage/adapters/weaviatestore"
)

// TestWeaviateCrashAfterWriterGone is issue 19's scenario: a batch job
// writes 2,000 documents and goes away; Weaviate is then killed with
// SIGKILL and restarted on the same data. Weaviate keeps the objects but
// loses the vector-index entries of the last ones it acknowledged. Another
// process (here: fresh Drivers with their own client, so no state of the
// writer survives but what Weaviate stored) must find every document by its
// own vector again: through
// the journal on Open for a class written with it, through Check with
// Repair for one written without, and through the journal check a Driver
// runs after it found the server unreachable, for a process (a server)
// that had the class open across the crash while a batch job wrote it.
//
// The classes are created with HNSW ef above the number of objects
// (crashEf): a search then explores every node reachable from where it
// enters layer 0, so before the crash its results are the exact ones
// (asserted). After the crash and a clean exhaustive repair they are not
// always: the crash can split the layer-0 graph, which own-vector searches
// do not see (see checkRepairUntilClean), so the top 10s after repair, and
// those with Weaviate's default (dynamic) ef, are measured and logged.
func TestWeaviateCrashAfterWriterGone(t *testing.T) {
	srv := ownWeaviate(t)
	const dim, n, queries = 16, 2000, 20
	// crashEf is above the objects a class holds and the tombstones a
	// repair leaves (a search's result list then never fills up, so it
	// never stops early).
	const crashEf = 2 * n
	hnsw := weaviatestore.HNSW{Ef: crashEf}
	r := rand.New(rand.NewPCG(19, 19))
	docs := make([]twostage.Document, n)
	for i := range docs {
		id := fmt.Sprintf("d%04d", i)
		docs[i] = twostage.Document{ID: id, Text: "text of " + id, Vector: storetest.RandomVector(r, dim), Metadata: map[string]any{"i": int64(i)}}
	}
	qs := make([][]float32, queries)
	for i := range qs {
		qs[i] = storetest.RandomVector(r, dim)
	}
	classes := map[string]*weaviatestore.Options{
		"Journaled":   {Dim: dim, HNSW: hnsw},
		"Unjournaled": {Dim: dim, NoJournal: true, HNSW: hnsw},
	}
	top10 := func(s *twostage.Store) [][]string {
		t.Helper()
		return searchTopK(t, s, qs, 10)
	}
	// exact holds each query's true top 10 (cosine, brute force);
	// recall counts the places of a result that are in it.
	exact := make([][]string, len(qs))
	for i, q := range qs {
		exact[i] = exactTopK(docs, q, 10)
	}
	recall := func(got [][]string) int { return placesFound(got, exact) }
	differ := func(a, b [][]string) int {
		n := 0
		for i := range a {
			for j := range a[i] {
				if j >= len(b[i]) || a[i][j] != b[i][j] {
					n++
				}
			}
		}
		return n
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
	// assertExact checks that every top 10 of got is the exact one.
	assertExact := func(class, when string, got [][]string) {
		t.Helper()
		for i := range got {
			if !slices.Equal(got[i], exact[i]) {
				t.Errorf("%s %s, query %d: top 10 %v, want the exact %v", class, when, i, got[i], exact[i])
			}
		}
	}
	// defaultEf logs what the same graph gives with Weaviate's default
	// (dynamic) ef, for information: the class's ef is set to -1 for the
	// searches and back to crashEf after.
	defaultEf := func(class, when string, s *twostage.Store) {
		t.Helper()
		c := client(t, srv.Addr())
		setClassEf(t, c, class, -1)
		got := top10(s)
		setClassEf(t, c, class, crashEf)
		t.Logf("%s %s, default ef (for information): %d of %d exact top-10 places found", class, when, recall(got), len(qs)*10)
	}
	// journaledLost returns the documents of lost among the last
	// journalCover (1,024) a writer wrote in order (docs[n-1024:]): the
	// writes the journal is sure to list, so the ones the automatic
	// repair must make findable again.
	journaledLost := func(lost []string) []string {
		var out []string
		for _, id := range lost {
			if id >= docs[n-1024].ID {
				out = append(out, id)
			}
		}
		return out
	}
	// checkRepairUntilClean runs an exhaustive check --repair (an own-vector
	// search for every object) until an exhaustive check finds nothing, at
	// most three rounds: re-indexing changes Weaviate's approximate HNSW
	// graph (the deleted nodes stay as tombstones until Weaviate cleans
	// them up), which can leave another, borderline object, also an old
	// one outside the journal, unreachable. Then every document must be
	// findable by its own vector.
	checkRepairUntilClean := func(class string, s *twostage.Store) {
		t.Helper()
		for round := 1; ; round++ {
			rep, err := s.Check(ctx, twostage.CheckOptions{Repair: true, Exhaustive: true})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Repaired != rep.Problems() {
				t.Errorf("%s: check --repair = %v, want every finding repaired", class, rep)
			}
			rep, err = s.Check(ctx, twostage.CheckOptions{Exhaustive: true})
			if err == nil && rep.OK() && rep.Checked == len(docs) {
				t.Logf("%s: clean after %d rounds of check --repair --exhaustive", class, round)
				break
			}
			if round == 3 {
				t.Fatalf("%s: check after %d rounds of repair = %v, %v; want %d checked, nothing wrong", class, round, rep, err, len(docs))
			}
		}
		if lost := notFindable(s); len(lost) > 0 {
			t.Errorf("%s after check --repair: %d documents not found by their own vectors: %v", class, len(lost), lost[:min(5, len(lost))])
		}
		// Not asserted: that every top 10 equals the one before the crash.
		// Even with ef above the objects (crashEf) it does not hold every
		// time: in about one run in three under -race, 9 to 124 of the 200
		// places differ after a clean exhaustive check, and waiting does
		// not change them. Our reading: an own-vector search descends the upper layers
		// to its own object's neighbourhood, so every object can be found
		// by its own vector while Weaviate's layer-0 graph is split after
		// the crash, and a query that lands in one part never reaches the
		// other. The figures are logged; see adapters/weaviatestore's README.
		got := top10(s)
		t.Logf("%s after check --repair, ef %d (for information): top 10s differ from before the crash in %d of %d places, %d of %d exact places found",
			class, crashEf, differ(got, before[class]), len(qs)*10, recall(got), len(qs)*10)
		defaultEf(class, "after check --repair", s)
	}
	// afterAutomaticRepair states what the journal guarantees: every
	// document the crash lost among the journaled writes is findable by
	// its own vector. Documents still not findable (older ones whose
	// graph links the crash or the re-indexing changed: outside the
	// journal) must be reported by an exhaustive Check; check --repair
	// then makes the class whole.
	afterAutomaticRepair := func(class string, s *twostage.Store, lost []string) {
		t.Helper()
		now := notFindable(s)
		for _, id := range journaledLost(lost) {
			if slices.Contains(now, id) {
				t.Errorf("%s after the automatic repair: %s (journaled, lost in the crash) is not found by its own vector", class, id)
			}
		}
		t.Logf("%s after the automatic repair: %d of the %d lost were journaled; %d documents not found by their own vectors: %v",
			class, len(journaledLost(lost)), len(lost), len(now), now[:min(5, len(now))])
		if len(now) > 0 {
			rep, err := s.Check(ctx, twostage.CheckOptions{FirstIDs: 1 << 20, Exhaustive: true})
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range now {
				if !slices.Contains(rep.Missing.First, id) && !slices.Contains(rep.Mismatched.First, id) {
					t.Errorf("%s: %s is not found by its own vector, but check --exhaustive does not report it", class, id)
				}
			}
		}
		checkRepairUntilClean(class, s)
	}
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
		if _, h := classHNSW(t, c, class); h.Ef != crashEf {
			t.Fatalf("%s: ef %d in the schema, want %d", class, h.Ef, crashEf)
		}
		before[class] = top10(s)
		assertExact(class, "before the crash", before[class])
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
	ll, err := weaviatestore.Open(ctx, client(t, srv.Addr()), longLived, &weaviatestore.Options{Dim: dim, HNSW: hnsw,
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
	assertExact(longLived, "before the crash", before[longLived])

	srv.Kill()
	if _, err := ll.Count(ctx); !errors.Is(err, twostage.ErrUnavailable) {
		t.Fatalf("count while Weaviate is down: %v, want ErrUnavailable", err)
	}
	if err := srv.Start(0); err != nil {
		t.Fatal(err)
	}
	var lost []string
	{
		probe, err := weaviatestore.Open(ctx, client(t, srv.Addr()), longLived, &weaviatestore.Options{NoJournal: true})
		if err != nil {
			t.Fatal(err)
		}
		lost = notFindable(probe)
		probe.Close()
		t.Logf("%s after the crash, before the server's next call: %d documents not found by their own vectors", longLived, len(lost))
		if len(lost) == 0 {
			t.Errorf("%s: the crash lost no index entries: the scenario did not reproduce", longLived)
		}
	}
	// The server's next call runs the journal check (afterOutage).
	if n, err := ll.Count(ctx); err != nil || n != len(docs) {
		t.Fatalf("%s: count after the restart = %d, %v; want %d", longLived, n, err, len(docs))
	}
	afterAutomaticRepair(longLived, ll, lost)

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
		checkRepairUntilClean(class, s)
	}

	// With the journal: opening the class repairs it.
	{
		class := "Journaled"
		probe, err := weaviatestore.Open(ctx, client(t, srv.Addr()), class, &weaviatestore.Options{Dim: dim, NoJournal: true})
		if err != nil {
			t.Fatal(err)
		}
		lost := notFindable(probe)
		probe.Close()
		t.Logf("%s after the crash, before open: %d documents not found by their own vectors", class, len(lost))
		start := time.Now()
		s, err := weaviatestore.Open(ctx, client(t, srv.Addr()), class, classes[class])
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		t.Logf("%s: open with the journal's check took %v", class, time.Since(start).Round(time.Millisecond))
		afterAutomaticRepair(class, s, lost)
	}
}
