package storefault_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"twostage"
	"twostage/adapters/memstore"
	"twostage/internal/storefault"
)

var ctx = context.Background()

func newStore(t *testing.T, dim int) *twostage.Store {
	t.Helper()
	s, err := memstore.New(dim, twostage.L2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestWriterRecordsAcknowledged(t *testing.T) {
	s := newStore(t, 3)
	w := storefault.StartWriter(ctx, s, storefault.WriterOptions{Dim: 3, Batch: 4, Seed: 1,
		Document: func(id string, batch int, v []float32) twostage.Document {
			return twostage.Document{ID: id, Text: "text of " + id, Vector: v, Metadata: map[string]any{"batch": int64(batch)}}
		}})
	defer w.Stop()
	if err := w.Wait(3, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	acked, failed := w.Stop()
	if len(failed) != 0 {
		t.Errorf("failed upserts against a healthy store: %v", failed)
	}
	if len(acked) < 12 || len(acked)%4 != 0 || int64(len(acked)) != 4*w.Batches() {
		t.Errorf("acknowledged %d documents in %d batches, want at least 12, 4 a batch", len(acked), w.Batches())
	}
	if n, err := s.Count(ctx); err != nil || n != len(acked) {
		t.Errorf("store holds %d documents (%v), want the %d acknowledged", n, err, len(acked))
	}
	d, ok := acked["b002-03"]
	if !ok || d.Text != "text of b002-03" || d.Metadata["batch"] != int64(2) || len(d.Vector) != 3 {
		t.Errorf("acknowledged b002-03 = %+v (present %v), want the Document option's document", d, ok)
	}
	got, err := s.Get(ctx, []string{"b002-03"})
	if err != nil || len(got) != 1 || got[0].Text != d.Text {
		t.Errorf("stored b002-03 = %v, %v; want %+v", got, err, d)
	}
	if again, _ := w.Stop(); len(again) != len(acked) {
		t.Errorf("a second Stop returned %d documents, want the same %d", len(again), len(acked))
	}
}

func TestWriterRecordsFailures(t *testing.T) {
	s := newStore(t, 2)
	s.Close()
	w := storefault.StartWriter(ctx, s, storefault.WriterOptions{Dim: 2})
	defer w.Stop()
	if err := w.Wait(1, 50*time.Millisecond); err == nil || !strings.Contains(err.Error(), "acknowledged 0 batches") {
		t.Errorf("Wait on a closed store = %v, want an error naming 0 batches", err)
	}
	acked, failed := w.Stop()
	if len(acked) != 0 || len(failed) == 0 || !errors.Is(failed[0], twostage.ErrClosed) {
		t.Errorf("against a closed store: acked %d, failed %v; want none acked and ErrClosed failures", len(acked), failed)
	}
}

// stalled is a driver that answers nothing until the caller gives up.
type stalled struct{ *memstore.Driver }

func (stalled) Upsert(ctx context.Context, _ []twostage.Document) error {
	<-ctx.Done()
	return ctx.Err()
}
func (stalled) Get(ctx context.Context, _ []string) ([]twostage.Document, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}
func (stalled) Search(ctx context.Context, _ twostage.Query) ([]twostage.Hit, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}
func (stalled) Count(ctx context.Context) (int, error) { <-ctx.Done(); return 0, ctx.Err() }

func TestDeadlines(t *testing.T) {
	d, err := memstore.NewDriver(2, twostage.Cosine)
	if err != nil {
		t.Fatal(err)
	}
	slow := twostage.NewStore(stalled{d})
	defer slow.Close()
	if err := storefault.Deadlines(ctx, slow, 2, 10*time.Millisecond); err != nil {
		t.Errorf("against a stalled store: %v, want nil", err)
	}
	// A store that answers at once does not meet the deadline: every call
	// is reported.
	err = storefault.Deadlines(ctx, newStore(t, 2), 2, 10*time.Millisecond)
	if err == nil {
		t.Fatal("against a healthy store: nil, want 4 errors")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 4 {
		t.Fatalf("against a healthy store: %v, want 4 errors", err)
	}
	for i, name := range []string{"search", "upsert", "get", "count"} {
		if !strings.HasPrefix(lines[i], "storefault: "+name+" against a stalled server") {
			t.Errorf("error %d = %q, want it to name %s", i, lines[i], name)
		}
	}
}
