// Package storefault is the harness for tests that fault the server behind
// a twostage.Store: a Writer that upserts while the test restarts, kills or
// stalls the server and records which upserts were acknowledged, and
// Deadlines, which checks that calls against a stalled server end with the
// caller's deadline. The Qdrant stand-in's tests and the Weaviate
// integration tests share it.
package storefault

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"twostage"
	"twostage/adapters/storetest"
)

// WriterOptions configures a Writer.
type WriterOptions struct {
	Dim   int    // vector length; required
	Batch int    // documents per upsert; 0 means 10
	Seed  uint64 // seeds the random vectors
	// Document makes the document the writer upserts from its id, its
	// batch number and a random vector; nil makes one with ID and Vector
	// only.
	Document func(id string, batch int, vector []float32) twostage.Document
}

// Writer upserts batches of documents into a store from one goroutine
// until Stop, recording the documents of every acknowledged upsert and the
// error of every failed one. A failed batch is not retried: the writer goes
// on with the next, a millisecond later.
type Writer struct {
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
	batches atomic.Int64

	mu     sync.Mutex
	acked  map[string]twostage.Document
	failed []error
}

// StartWriter starts a Writer upserting into s with ctx. Document ids are
// "b<batch>-<i>", batch three digits and i two ("b007-03"). The caller
// stops it with Stop (deferring a Stop as well is harmless).
func StartWriter(ctx context.Context, s *twostage.Store, opts WriterOptions) *Writer {
	batch := opts.Batch
	if batch == 0 {
		batch = 10
	}
	doc := opts.Document
	if doc == nil {
		doc = func(id string, _ int, v []float32) twostage.Document { return twostage.Document{ID: id, Vector: v} }
	}
	w := &Writer{stop: make(chan struct{}), done: make(chan struct{}), acked: map[string]twostage.Document{}}
	go func() { // exits at Stop
		defer close(w.done)
		r := rand.New(rand.NewPCG(opts.Seed, opts.Seed))
		for b := 0; ; b++ {
			select {
			case <-w.stop:
				return
			default:
			}
			docs := make([]twostage.Document, batch)
			for i := range docs {
				docs[i] = doc(fmt.Sprintf("b%03d-%02d", b, i), b, storetest.RandomVector(r, opts.Dim))
			}
			err := s.Upsert(ctx, docs)
			w.mu.Lock()
			if err != nil {
				w.failed = append(w.failed, err)
			} else {
				for _, d := range docs {
					w.acked[d.ID] = d
				}
			}
			w.mu.Unlock()
			if err != nil {
				time.Sleep(time.Millisecond) // a store that fails at once must not spin
				continue
			}
			w.batches.Add(1)
		}
	}()
	return w
}

// Batches returns how many upserts have been acknowledged so far.
func (w *Writer) Batches() int64 { return w.batches.Load() }

// Wait waits until n upserts have been acknowledged, or returns an error
// when that takes longer than timeout.
func (w *Writer) Wait(n int64, timeout time.Duration) error {
	for deadline := time.Now().Add(timeout); w.batches.Load() < n; time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			return fmt.Errorf("storefault: the writer acknowledged %d batches in %v, want %d", w.batches.Load(), timeout, n)
		}
	}
	return nil
}

// Stop stops the writer and waits for its upsert in flight. It returns the
// acknowledged documents by id and the errors of the failed upserts, in
// order; later calls return the same.
func (w *Writer) Stop() (acked map[string]twostage.Document, failed []error) {
	w.once.Do(func() { close(w.stop) })
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.acked, w.failed
}

// Deadlines calls Search, Upsert, Get and Count on s, a store of vectors of
// length dim whose server is stalled (slow, or holding every byte), each
// with a context that ends after timeout. It returns one error (joined) for
// every call whose error does not match context.DeadlineExceeded, nil when
// all of them do.
func Deadlines(ctx context.Context, s *twostage.Store, dim int, timeout time.Duration) error {
	var errs []error
	v := make([]float32, dim)
	v[0] = 1
	for _, c := range []struct {
		name string
		call func(context.Context) error
	}{
		{"search", func(ctx context.Context) error {
			_, err := s.Search(ctx, twostage.Query{Vector: v, K: 1})
			return err
		}},
		{"upsert", func(ctx context.Context) error {
			return s.Upsert(ctx, []twostage.Document{{ID: "storefault-deadline", Vector: v}})
		}},
		{"get", func(ctx context.Context) error {
			_, err := s.Get(ctx, []string{"storefault-deadline"})
			return err
		}},
		{"count", func(ctx context.Context) error {
			_, err := s.Count(ctx)
			return err
		}},
	} {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		err := c.call(cctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			errs = append(errs, fmt.Errorf("storefault: %s against a stalled server: got %v, want context.DeadlineExceeded", c.name, err))
		}
	}
	return errors.Join(errs...)
}
