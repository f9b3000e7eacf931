package twostage_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"twostage"
	"twostage/adapters/memstore"
	"twostage/embed"
)

// TestIndexWritesNothingWhenRejected is issue 23 item 5: a request that
// fails validation anywhere, in any internal batch, writes nothing.
func TestIndexWritesNothingWhenRejected(t *testing.T) {
	docs := func() []twostage.Document {
		out := make([]twostage.Document, 300)
		for i := range out {
			out[i] = twostage.Document{ID: fmt.Sprintf("d%d", i), Text: fmt.Sprintf("document number %d", i)}
		}
		return out
	}
	tests := []struct {
		name  string
		spoil func([]twostage.Document)
		want  error
	}{
		{"wrong dimension in the last batch", func(d []twostage.Document) { d[280].Vector = make([]float32, 7) }, twostage.ErrDimension},
		{"duplicate id across batches", func(d []twostage.Document) { d[290].ID = "d10" }, twostage.ErrInvalidInput},
		{"duplicate id within a batch", func(d []twostage.Document) { d[11].ID = "d10" }, twostage.ErrInvalidInput},
		{"empty id in the last batch", func(d []twostage.Document) { d[299].ID = "" }, twostage.ErrInvalidInput},
		{"bad metadata in the last batch", func(d []twostage.Document) { d[270].Metadata = map[string]any{"k": struct{}{}} }, twostage.ErrInvalidInput},
		{"bad text in the last batch", func(d []twostage.Document) { d[260].Text = "bad \xff" }, twostage.ErrInvalidInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			emb, _ := embed.NewHashing(32)
			store, _ := memstore.New(32, twostage.Cosine)
			defer store.Close()
			p, err := twostage.NewPipeline(store, emb, nil, &twostage.PipelineOptions{IndexBatch: 256})
			if err != nil {
				t.Fatal(err)
			}
			d := docs()
			tt.spoil(d)
			if err := p.Index(context.Background(), d, nil); !errors.Is(err, tt.want) {
				t.Errorf("Index: %v, want %v", err, tt.want)
			}
			if n, err := store.Count(context.Background()); err != nil || n != 0 {
				t.Errorf("the rejected request wrote %d documents (%v), want 0", n, err)
			}
		})
	}
}
