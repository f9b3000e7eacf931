// Package embed holds first-stage embedders, each a twostage.Embedder:
// Hashing (model-free, the zero-setup default), ONNX bi-encoders and HTTP
// embedding APIs.
package embed
