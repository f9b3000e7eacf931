// Package rerank holds second-stage rerankers, each a twostage.Reranker:
// Lexical (model-free BM25, the zero-setup default), Engine for
// cross-encoders such as zerank-2, and remote reranking APIs (rerank/remote)
// and fallback chains (rerank/fallback).
//
// Engine owns what is particular to cross-encoders: each family's prompt
// template and its piecewise tokenization, truncation to the max length,
// and calibration of raw scores. Loading the model, batching, padding and
// running it belong to package inference, whose Runtime shares one model
// among engines.
package rerank
