package qdrantstore_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/qdrant/go-client/qdrant"

	"twostage"
	"twostage/adapters/qdrantstore"
	"twostage/adapters/storetest"
	"twostage/internal/storefault"
)

func TestCheck(t *testing.T) {
	for _, metric := range []twostage.Metric{twostage.Cosine, twostage.Dot, twostage.L2} {
		t.Run(string(metric), func(t *testing.T) {
			_, client, _ := standIn(t)
			name := freshName("check")
			s := openStore(t, client, name, &qdrantstore.Options{Dim: 8, Metric: metric, VectorName: "dense"})
			r := rand.New(rand.NewPCG(3, 3))
			var docs []twostage.Document
			for i := range 520 { // two scroll pages
				docs = append(docs, twostage.Document{ID: fmt.Sprintf("p%04d", i), Text: "t", Vector: storetest.RandomVector(r, 8)})
			}
			if err := s.Upsert(ctx, docs); err != nil {
				t.Fatal(err)
			}
			var calls, last int
			rep, err := s.Check(ctx, twostage.CheckOptions{Exhaustive: true, Progress: func(n int) { calls++; last = n }})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Checked != 520 || !rep.OK() || calls != 2 || last != 520 {
				t.Fatalf("check = %v (progress called %d times, last %d); want 520 checked, nothing wrong, 2 pages", rep, calls, last)
			}
			// A point written by another tool without the store's vector
			// cannot be found by it: missing, and not repairable.
			_, err = client.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: name, Wait: qdrant.PtrOf(true), Points: []*qdrant.PointStruct{{
				Id: qdrantstore.PointID("novec"), Payload: qdrant.NewValueMap(map[string]any{"twostage_id": "novec"}),
				Vectors: qdrant.NewVectorsMap(map[string]*qdrant.Vector{}),
			}}})
			if err != nil {
				t.Fatal(err)
			}
			rep, err = s.Check(ctx, twostage.CheckOptions{Repair: true})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Checked != 521 || rep.Missing.Count != 1 || !slices.Equal(rep.Missing.First, []string{"novec"}) || rep.Repaired != 0 {
				t.Errorf("check with a vectorless point = %v, want it missing and not repaired", rep)
			}
		})
	}
}

// TestRestartUnderWrites stops and restarts the stand-in (its data
// survives, as a Qdrant restart on its storage) three times while a writer
// upserts; every acknowledged upsert must be there afterwards, found by
// its own vector, and the check must find nothing wrong.
func TestRestartUnderWrites(t *testing.T) {
	srv, client, _ := standIn(t)
	s := openStore(t, client, "restart", &qdrantstore.Options{Dim: 4,
		Retry: qdrantstore.Retry{Attempts: 100, Initial: 5 * time.Millisecond, Max: 50 * time.Millisecond}})
	w := storefault.StartWriter(ctx, s, storefault.WriterOptions{Dim: 4, Seed: 4})
	defer w.Stop()
	for range 3 {
		if err := w.Wait(w.Batches()+5, 30*time.Second); err != nil {
			t.Fatal(err)
		}
		srv.Stop()
		time.Sleep(30 * time.Millisecond)
		if err := srv.Start(srv.Addr()); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Wait(w.Batches()+5, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	acked, failed := w.Stop()
	if len(failed) > 0 {
		t.Errorf("%d upserts failed across the restarts (the retry policy should carry them), first: %v", len(failed), failed[0])
	}
	if n, err := s.Count(ctx); err != nil || n < len(acked) {
		t.Errorf("count after the restarts = %d, %v; want at least the %d acknowledged", n, err, len(acked))
	}
	for id, d := range acked {
		hits, err := s.Search(ctx, twostage.Query{Vector: d.Vector, K: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(hits) != 1 || hits[0].ID != id {
			t.Errorf("acknowledged %s is not found by its own vector: %v", id, hits)
		}
	}
	if rep, err := s.Check(ctx, twostage.CheckOptions{}); err != nil || !rep.OK() || rep.Checked < len(acked) {
		t.Errorf("check after the restarts = %v, %v; want at least %d checked, nothing wrong", rep, err, len(acked))
	}
}
