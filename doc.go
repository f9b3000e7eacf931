// Package twostage is two-stage retrieval for Go: a fast first stage over a
// vector store, then a cross-encoder reranker (zerank-2 by default) as a
// post-processing stage, behind one search call.
//
// The pieces:
//
//   - Document, Hit, Query and Filter: the portable data model.
//   - Store: the portable vector store. Backends (adapters/memstore,
//     adapters/qdrantstore, adapters/weaviatestore, faisslocal) implement the
//     thin contract of package twostage/driver; Store validates input,
//     tracks the closed state and wraps errors once, so every backend
//     behaves the same. Optional capabilities (hybrid and batch search) are
//     found by type assertion and reached through Store.
//   - Embedder and Reranker: the two model stages (packages embed and rerank).
//   - Pipeline: embed the query, retrieve candidates, rerank, cut to the top N.
//
// Data flows one way: text -> Embedder -> Store.Search (candidate K) ->
// Reranker -> top N. Errors match the sentinels in this package with errors.Is
// (they are those of package errdefs, which packages below this one use).
package twostage
