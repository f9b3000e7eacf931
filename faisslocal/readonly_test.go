//go:build faiss

package faisslocal_test

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"twostage"
	"twostage/faisslocal"
)

// fileState is the names, sizes and modification times of a directory's
// files.
func fileState(t *testing.T, dir string) map[string][2]int64 {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][2]int64{}
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = [2]int64{fi.Size(), fi.ModTime().UnixNano()}
	}
	return out
}

func TestReadOnlyOpen(t *testing.T) {
	const dim = 16
	docs := clustered(11, 300, dim)
	dir := filepath.Join(t.TempDir(), "store")
	w := openDriver(t, dir, &faisslocal.Options{Dim: dim, Metric: twostage.L2})
	upsert(t, w, docs[:200])
	if err := w.Save(ctx); err != nil {
		t.Fatal(err)
	}
	upsert(t, w, docs[200:]) // in the log only, after the snapshot
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	before := fileState(t, dir)

	// Two readers at once; a writer cannot open meanwhile.
	r1 := openDriver(t, dir, &faisslocal.Options{ReadOnly: true})
	r2 := openDriver(t, dir, &faisslocal.Options{ReadOnly: true})
	if _, err := faisslocal.OpenDriver(dir, nil); !errors.Is(err, faisslocal.ErrLocked) {
		t.Errorf("writer beside readers: %v, want ErrLocked", err)
	}
	for _, r := range []*faisslocal.Driver{r1, r2} {
		if n, err := r.Count(ctx); err != nil || n != 300 {
			t.Errorf("reader count %d, %v; want 300 (snapshot plus log)", n, err)
		}
		if got := search(t, r, twostage.Query{Vector: docs[250].Vector, K: 1}); len(got) != 1 || got[0] != docs[250].ID {
			t.Errorf("reader search for %s's vector: %v", docs[250].ID, got)
		}
		if r.Info().Metric != twostage.L2 || r.Info().Dim != dim {
			t.Errorf("reader info %+v, want the stored dim and metric", r.Info())
		}
		for name, err := range map[string]error{
			"upsert": r.Upsert(ctx, docs[:1]), "delete": r.Delete(ctx, []string{docs[0].ID}), "save": r.Save(ctx),
		} {
			if !errors.Is(err, faisslocal.ErrReadOnly) {
				t.Errorf("read-only %s: %v, want ErrReadOnly", name, err)
			}
		}
	}
	if err := errors.Join(r1.Close(), r2.Close()); err != nil {
		t.Fatal(err)
	}
	if after := fileState(t, dir); len(after) != len(before) {
		t.Errorf("read-only opens changed the files: %v -> %v", before, after)
	} else {
		for name, st := range before {
			if after[name] != st {
				t.Errorf("read-only opens changed %s: %v -> %v", name, st, after[name])
			}
		}
	}

	// A store without LOCK (copied from elsewhere) opens without creating one.
	os.Remove(filepath.Join(dir, "LOCK"))
	r3 := openDriver(t, dir, &faisslocal.Options{ReadOnly: true})
	if n, _ := r3.Count(ctx); n != 300 {
		t.Errorf("store without LOCK: count %d", n)
	}
	r3.Close()
	if _, err := os.Stat(filepath.Join(dir, "LOCK")); !os.IsNotExist(err) {
		t.Errorf("read-only open created LOCK (%v)", err)
	}

	// A missing store is not created.
	missing := filepath.Join(t.TempDir(), "nope")
	if _, err := faisslocal.OpenDriver(missing, &faisslocal.Options{ReadOnly: true}); !errors.Is(err, twostage.ErrNotFound) {
		t.Errorf("read-only open of a missing store: %v, want ErrNotFound", err)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("read-only open created %s", missing)
	}
	// Conflicting settings are refused as for a writer.
	if _, err := faisslocal.OpenDriver(dir, &faisslocal.Options{ReadOnly: true, Metric: twostage.Cosine}); !errors.Is(err, twostage.ErrInvalidInput) {
		t.Errorf("read-only open asking for another metric: %v", err)
	}
}

// Readers open while a writer writes batches: each sees a consistent store
// as of some committed batch (a whole number of batches, every document
// readable and found by its own vector).
func TestReadOnlyBesideAWriter(t *testing.T) {
	const dim, batch, batches = 8, 25, 40
	docs := clustered(12, batch*batches, dim)
	dir := filepath.Join(t.TempDir(), "store")
	w := openDriver(t, dir, &faisslocal.Options{Dim: dim, SaveEvery: 3 * batch})
	upsert(t, w, docs[:batch])

	var written atomic.Int64
	written.Store(batch)
	done := make(chan struct{})
	var werr error
	go func() { // exits after the last batch
		defer close(done)
		for b := 1; b < batches; b++ {
			if err := w.Upsert(ctx, docs[b*batch:(b+1)*batch]); err != nil {
				werr = err
				return
			}
			written.Add(batch)
			time.Sleep(time.Millisecond)
		}
	}()
	var wg sync.WaitGroup
	var opened atomic.Int64
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				min := written.Load()
				r, err := faisslocal.OpenDriver(dir, &faisslocal.Options{ReadOnly: true})
				if errors.Is(err, twostage.ErrUnavailable) {
					continue // the writer kept moving; a real caller would retry too
				}
				if err != nil {
					t.Errorf("read-only open beside a writer: %v", err)
					return
				}
				n, err := r.Count(ctx)
				if err != nil || n%batch != 0 || int64(n) < min || n > len(docs) {
					t.Errorf("reader count %d (%v): want a whole number of %d-document batches, at least %d", n, err, batch, min)
				}
				last := docs[n-1]
				if got, err := r.Get(ctx, []string{last.ID}); err != nil || len(got) != 1 || got[0].Text != last.Text {
					t.Errorf("reader of %d documents: get %s: %v %v", n, last.ID, got, err)
				}
				hits, err := r.Search(ctx, twostage.Query{Vector: last.Vector, K: 1})
				if err != nil || len(hits) != 1 || hits[0].ID != last.ID {
					t.Errorf("reader of %d documents: search for %s's vector: %v %v", n, last.ID, hitIDs(hits), err)
				}
				if err := r.Close(); err != nil {
					t.Errorf("reader close: %v", err)
				}
				opened.Add(1)
			}
		}()
	}
	<-done
	wg.Wait()
	if werr != nil {
		t.Fatalf("writer: %v", werr)
	}
	if opened.Load() == 0 {
		t.Errorf("no reader opened beside the writer")
	}
	t.Logf("%d read-only opens beside the writer", opened.Load())
	if n, err := w.Count(ctx); err != nil || n != len(docs) {
		t.Errorf("writer count %d, %v", n, err)
	}
}
