// Package twostage is two-stage retrieval for Go: a fast first stage over a
// vector store, then a cross-encoder reranker (zerank-2 by default) as a
// post-processing stage, behind one search call.
//
// The pieces:
//
//   - Document, Hit, Query and Filter: the portable data model.
//   - Store: the portable vector store. Backends (adapters/memstore,
//     adapters/qdrantstore, adapters/weaviatestore, faisslocal) implement the
//     thin Driver contract; Store validates input, tracks the closed state and
//     wraps errors once, so every backend behaves the same.
//   - Embedder and Reranker: the two model stages (packages embed and rerank).
//   - Pipeline: embed the query, retrieve candidates, rerank, cut to the top N.
//
// Data flows one way: text -> Embedder -> Store.Search (candidate K) ->
// Reranker -> top N. Errors match the sentinels in this package with errors.Is.
package twostage
