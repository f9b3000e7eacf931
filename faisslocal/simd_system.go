//go:build faiss && faiss_system

package faisslocal

// SIMD reports which distance kernels FAISS's searches run in this process.
// Built with the faiss_system tag it is "faiss": FAISS's own kernels, as the
// system's library was built (simd.cpp's AVX2+FMA kernels are not linked:
// they would duplicate the library's symbols).
func SIMD() string { return "faiss" }
