package spec

import (
	"context"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"twostage"
	"twostage/internal/testassets"
	"twostage/internal/tinymodel"
	"twostage/modeldir"
	"twostage/rerank"
)

func TestChunkSpecOptions(t *testing.T) {
	for _, tt := range []struct {
		opts map[string]string
		want rerank.EngineOptions
	}{
		{map[string]string{}, rerank.EngineOptions{}},
		{map[string]string{"long_documents": "chunk", "chunk_tokens": "256", "chunk_overlap": "32", "max_chunks": "4"},
			rerank.EngineOptions{LongDocuments: twostage.Chunk, ChunkTokens: 256, ChunkOverlap: 32, MaxChunks: 4}},
		{map[string]string{"long_documents": "truncate"}, rerank.EngineOptions{LongDocuments: twostage.Truncate}},
		// Windows for the calls that ask for chunking; no window size: the
		// overlap is checked against the fitting one at call time.
		{map[string]string{"chunk_tokens": "128"}, rerank.EngineOptions{ChunkTokens: 128}},
		{map[string]string{"chunk_overlap": "500"}, rerank.EngineOptions{ChunkOverlap: 500}},
	} {
		var got rerank.EngineOptions
		if err := chunkOptions("zerank:d", tt.opts, &got); err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%v: %+v, %v; want %+v", tt.opts, got, err, tt.want)
		}
	}
}

// TestChunkSpecErrors checks that bad long-document values fail before any
// model is read (the directory does not exist), with one line naming the
// key, as ErrBadSpec and ErrInvalidInput, for each engine scheme.
func TestChunkSpecErrors(t *testing.T) {
	dir := t.TempDir() + "/no-model"
	for _, tt := range []struct{ opts, msg string }{
		{"long_documents=split", `long_documents="split": want truncate or chunk`},
		{"long_documents=Chunk", `long_documents="Chunk": want truncate or chunk`},
		{"chunk_tokens=-1", `chunk_tokens="-1" is not a non-negative number`},
		{"chunk_tokens=1k", `chunk_tokens="1k" is not a non-negative number`},
		{"chunk_overlap=x", `chunk_overlap="x" is not a non-negative number`},
		{"max_chunks=-2", `max_chunks="-2" is not a non-negative number`},
		{"long_documents=chunk,chunk_tokens=64,chunk_overlap=64", "chunk_overlap=64 must be below chunk_tokens=64"},
		{"chunk_size=64", `unknown option "chunk_size"`},
	} {
		for _, scheme := range []string{"zerank", "onnx"} {
			s := scheme + ":" + dir + "," + tt.opts
			_, err := OpenReranker(context.Background(), s)
			if !errors.Is(err, ErrBadSpec) || !errors.Is(err, twostage.ErrInvalidInput) || !strings.Contains(err.Error(), tt.msg) ||
				strings.Contains(err.Error(), "\n") {
				t.Errorf("%s: err = %v, want one line of ErrBadSpec saying %s", s, err, tt.msg)
			}
		}
	}
}

// TestChunkSpecEngine opens the tiny zerank model through specs with the
// long-document keys and checks that a plain Rerank then scores as the
// engine does with the same options given per call.
func TestChunkSpecEngine(t *testing.T) {
	testassets.ONNXRuntime(t)
	dir := tinymodel.Model(t, modeldir.FamilyZerank)
	ctx := context.Background()
	long := strings.Repeat("A cross-encoder reads the query and the document together. ", 40)
	docs := []string{long, "short", "the relevant passage sits in the middle " + long}
	const query = "what does a cross-encoder read?"
	plain, err := rerank.Open(dir, &rerank.EngineOptions{MaxLength: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	for _, tt := range []struct {
		keys string
		opts twostage.RerankOptions
	}{
		{"long_documents=chunk,max_chunks=3", twostage.RerankOptions{LongDocuments: twostage.Chunk, MaxChunks: 3}},
		{"long_documents=chunk,chunk_tokens=16,chunk_overlap=4,max_chunks=5",
			twostage.RerankOptions{LongDocuments: twostage.Chunk, ChunkTokens: 16, ChunkOverlap: 4, MaxChunks: 5}},
		{"long_documents=truncate,chunk_tokens=16", twostage.RerankOptions{LongDocuments: twostage.Truncate}},
	} {
		r, err := OpenReranker(ctx, "zerank:"+dir+",max_length=64,"+tt.keys)
		if err != nil {
			t.Fatalf("%s: %v", tt.keys, err)
		}
		got, err := r.Rerank(ctx, query, docs)
		r.(*rerank.Engine).Close()
		if err != nil {
			t.Fatalf("%s: %v", tt.keys, err)
		}
		want, err := plain.RerankWith(ctx, query, docs, tt.opts)
		if err != nil {
			t.Fatalf("%s: RerankWith: %v", tt.keys, err)
		}
		for i := range docs {
			// 1e-5 relative: the shared model may batch the two calls differently.
			if math.Abs(got[i].Raw-want[i].Raw) > 1e-5*max(1, math.Abs(want[i].Raw)) || !reflect.DeepEqual(got[i].Chunk, want[i].Chunk) {
				t.Errorf("%s, doc %d: raw %v chunk %v; want %v chunk %v (per-call options)", tt.keys, i, got[i].Raw, got[i].Chunk, want[i].Raw, want[i].Chunk)
			}
		}
		if chunked := tt.opts.LongDocuments == twostage.Chunk; (got[0].Chunk != nil) != chunked {
			t.Errorf("%s: long document's chunk %v, want one reported: %v", tt.keys, got[0].Chunk, chunked)
		}
	}
}
