package spec

import (
	"twostage"
	"twostage/rerank"
)

// chunkSpecKeys are the long-document options of the engine's reranker
// specs (zerank:DIR, onnx:DIR and pulled names): the engine's default
// strategy and windows, rerank.EngineOptions' LongDocuments, ChunkTokens,
// ChunkOverlap and MaxChunks. A call's nonzero twostage.RerankOptions
// replace them; so chunk_tokens=N without long_documents=chunk sizes the
// windows of the calls that ask for chunking.
var chunkSpecKeys = []string{"long_documents", "chunk_tokens", "chunk_overlap", "max_chunks"}

// chunkSpecHelp lists chunkSpecKeys for the schemes' help lines.
const chunkSpecHelp = "[,long_documents=truncate|chunk][,chunk_tokens=N][,chunk_overlap=N][,max_chunks=N]"

// chunkOptions sets o's long-document fields from a spec's options; a bad
// value is an ErrBadSpec error naming the key.
func chunkOptions(spec string, opts map[string]string, o *rerank.EngineOptions) error {
	switch v := twostage.LongDocuments(opts["long_documents"]); v {
	case "", twostage.Truncate, twostage.Chunk:
		o.LongDocuments = v
	default:
		return badf("%q: long_documents=%q: want truncate or chunk", spec, v)
	}
	var err error
	for key, p := range map[string]*int{"chunk_tokens": &o.ChunkTokens, "chunk_overlap": &o.ChunkOverlap, "max_chunks": &o.MaxChunks} {
		if *p, err = intOpt(spec, opts, key); err != nil {
			return err
		}
	}
	if o.ChunkTokens > 0 && o.ChunkOverlap >= o.ChunkTokens {
		return badf("%q: chunk_overlap=%d must be below chunk_tokens=%d", spec, o.ChunkOverlap, o.ChunkTokens)
	}
	return nil
}
