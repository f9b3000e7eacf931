package server

import (
	"context"
	"testing"

	"twostage"
)

// sliceReranker is a reranker value that == cannot compare.
type sliceReranker struct{ words []string }

func (sliceReranker) Rerank(ctx context.Context, query string, docs []string) ([]twostage.Score, error) {
	return make([]twostage.Score, len(docs)), nil
}

// A reranker held by value, of a type holding a slice, must not make the
// metrics' de-duplication panic.
func TestEngineSourcesUncomparableReranker(t *testing.T) {
	s := &Server{allRerankers: map[string]twostage.Reranker{"a": sliceReranker{[]string{"x"}}, "b": sliceReranker{}}}
	if got := s.engineSources(); len(got) != 0 {
		t.Errorf("engineSources = %v, want none (no reranker reports stats)", got)
	}
	r := &sliceReranker{}
	if !same(r, r) || same(sliceReranker{}, sliceReranker{}) {
		t.Error("same: a pointer equals itself; uncomparable values equal nothing")
	}
}
