// Package embed holds first-stage embedders, each a twostage.Embedder:
//
//   - Hashing: model-free, the zero-setup default; finds shared words.
//   - ONNX: BERT-family bi-encoders (all-MiniLM-L6-v2, bge-small, e5) run
//     with ONNX Runtime, from a directory written by `twostage convert
//     --family bert-embedding` or a published ONNX export. Hidden states are
//     pooled as the model says (mean over real tokens, CLS or last token),
//     optionally L2-normalized, with query and passage prefixes where a model
//     needs them. This package owns tokenizing, pooling and normalising;
//     loading, batching and running belong to package inference, so
//     concurrent calls share dynamic batches grouped by length under a
//     token budget, and a text embeds the same alone or in any batch.
//   - OpenAI and TEI: HTTP embedding APIs (the OpenAI-compatible
//     /v1/embeddings of OpenAI, vLLM, Ollama and TEI, and TEI's /embed), with
//     batching to the server's limit, retries with backoff on 429 and 5xx
//     (honouring Retry-After), a timeout per request and a clear
//     errdefs.ErrDimension when the server's dimension changes.
//
// Errors wrap the sentinels of package twostage: ErrInvalidInput for bad
// text or options, ErrNotFound for missing model files, ErrUnavailable for a
// service or runtime that cannot be reached, ErrDimension, ErrClosed after
// Close.
package embed
