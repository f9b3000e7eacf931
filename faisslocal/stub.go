//go:build !faiss

package faisslocal

import "twostage"

// Open returns ErrNotBuilt: this build has no FAISS support. Build with
// -tags faiss (see the package documentation).
func Open(dir string, opts *Options) (*twostage.Store, error) {
	return nil, ErrNotBuilt
}

// Enabled reports whether this build has FAISS support (the faiss build tag).
const Enabled = false

// SIMD reports which distance kernels FAISS's searches run: "" in a build
// without FAISS.
func SIMD() string { return "" }
