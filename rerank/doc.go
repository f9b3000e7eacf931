// Package rerank holds second-stage rerankers, each a twostage.Reranker:
// Lexical (model-free BM25, the zero-setup default), the shared ONNX Runtime
// engine for cross-encoders such as zerank-2, and remote reranking APIs.
package rerank
