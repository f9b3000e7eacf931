//go:build faiss

package faisslocal

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	bolt "go.etcd.io/bbolt"

	"twostage"
	"twostage/adapters/storetest"
)

// TestCheckRepair damages a store's index in each way Check knows (a
// document without a live slot, a slot holding another vector, a slot whose
// document is gone, a tombstone marked live) and checks the report, the
// repair, and that the repaired store finds every document by its own
// vector, also after a reopen.
func TestCheckRepair(t *testing.T) {
	const dim, n = 8, 400
	kinds := map[string]IndexSpec{
		"flat":          Flat{},
		"hnsw":          HNSW{M: 8},
		"ivfflat":       IVFFlat{NList: 4, NProbe: 4, TrainSize: 120},
		"ivfpq":         IVFPQ{NList: 4, NProbe: 4, M: 2, NBits: 4, TrainSize: 200},
		"ivfpq-refined": IVFPQ{NList: 4, NProbe: 4, M: 2, NBits: 4, TrainSize: 200, RefineInMemory: true},
	}
	for name, spec := range kinds {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			d, err := OpenDriver(dir, &Options{Dim: dim, Metric: twostage.Cosine, Index: spec, CompactRatio: -1})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { d.Close() }()
			r := rand.New(rand.NewPCG(7, 7))
			vecs := map[string][]float32{}
			var docs []twostage.Document
			for i := range n {
				id := fmt.Sprintf("d%03d", i)
				vecs[id] = storetest.RandomVector(r, dim)
				docs = append(docs, twostage.Document{ID: id, Text: id, Vector: vecs[id]})
			}
			if err := d.Upsert(ctx, docs); err != nil {
				t.Fatal(err)
			}
			if err := d.Delete(ctx, []string{"d399"}); err != nil { // a tombstone
				t.Fatal(err)
			}
			delete(vecs, "d399")
			var progress int
			rep, err := d.Check(ctx, twostage.CheckOptions{Progress: func(c int) { progress = c }})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Checked != n-1 || !rep.OK() || progress != n-1 {
				t.Fatalf("check of an intact store = %v (progress %d), want %d checked and nothing wrong", rep, progress, n-1)
			}

			// Damage: d010 loses its slot; d020 is indexed under another
			// vector (exact kinds only); d030's document vanishes from
			// docs.db; the tombstone of d399 is marked live.
			d.mu.Lock()
			d.kill(d.slotOf["d010"])
			exact := name != "ivfpq"
			if exact {
				d.kill(d.slotOf["d020"])
				if err := d.appendVectors([]string{"d020"}, storetest.RandomVector(r, dim), 1); err != nil {
					d.mu.Unlock()
					t.Fatal(err)
				}
			}
			tomb := int64(slices.Index(d.slots, "")) // d399's slot, the first dead one
			d.live[tomb/8] |= 1 << (tomb % 8)
			d.mu.Unlock()
			err = d.db.Update(func(tx *bolt.Tx) error {
				return tx.Bucket(bucketDocs).Delete([]byte("d030"))
			})
			if err != nil {
				t.Fatal(err)
			}
			wantMissing, wantMismatched := []string{"d010"}, []string(nil)
			if exact {
				wantMismatched = []string{"d020"}
			}
			wantExtra := []string{"d030", fmt.Sprintf("slot %d", tomb)}
			rep, err = d.Check(ctx, twostage.CheckOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(rep.Missing.First, wantMissing) || !slices.Equal(rep.Mismatched.First, wantMismatched) ||
				!slices.Equal(rep.Extra.First, wantExtra) || rep.Checked != n-2 || rep.Repaired != 0 {
				t.Fatalf("check of the damaged store = %v, want missing %q, mismatched %q, extra %q, %d checked",
					rep, wantMissing, wantMismatched, wantExtra, n-2)
			}
			rep, err = d.Check(ctx, twostage.CheckOptions{Repair: true})
			if err != nil {
				t.Fatal(err)
			}
			if want := rep.Problems(); rep.Repaired != want || want != len(wantMissing)+len(wantMismatched)+len(wantExtra) {
				t.Errorf("repair = %v, want all %d findings repaired", rep, want)
			}
			delete(vecs, "d030")
			findAll := func(d *Driver) {
				t.Helper()
				rep, err := d.Check(ctx, twostage.CheckOptions{})
				if err != nil || !rep.OK() || rep.Checked != n-2 {
					t.Fatalf("check after repair = %v, %v; want %d checked, nothing wrong", rep, err, n-2)
				}
				for id, v := range vecs {
					hits, err := d.Search(ctx, twostage.Query{Vector: v, K: 3})
					if err != nil {
						t.Fatal(err)
					}
					if approx := name == "ivfpq" || name == "ivfpq-refined"; !approx && !slices.ContainsFunc(hits, func(h twostage.Hit) bool { return h.ID == id }) {
						t.Errorf("%s is not among the 3 nearest to its own vector after repair", id)
					}
					if slices.ContainsFunc(hits, func(h twostage.Hit) bool { return h.ID == "d399" || h.ID == "d030" }) {
						t.Errorf("a search returns a deleted document: %v", hits)
					}
				}
			}
			findAll(d)
			if err := d.Close(); err != nil {
				t.Fatal(err)
			}
			d, err = OpenDriver(dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			findAll(d)
		})
	}
}

// TestCheckCanceled cancels a check from its progress callback after the
// first chunk: it must stop with the context's error, not hang.
func TestCheckCanceled(t *testing.T) {
	const dim, n = 4, 3*checkChunk + 10
	d, err := OpenDriver(t.TempDir(), &Options{Dim: dim})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	r := rand.New(rand.NewPCG(9, 9))
	docs := make([]twostage.Document, n)
	for i := range docs {
		docs[i] = twostage.Document{ID: fmt.Sprintf("d%05d", i), Vector: storetest.RandomVector(r, dim)}
	}
	if err := d.Upsert(context.Background(), docs); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rep, err := d.Check(ctx, twostage.CheckOptions{Progress: func(int) { cancel() }})
	if !errors.Is(err, context.Canceled) || rep.Checked >= n {
		t.Errorf("canceled check = %v, %v; want context.Canceled before all %d are checked", rep, err, n)
	}
	if rep, err := d.Check(context.Background(), twostage.CheckOptions{}); err != nil || rep.Checked != n || !rep.OK() {
		t.Errorf("check after a canceled one = %v, %v; want %d checked, nothing wrong", rep, err, n)
	}
}
