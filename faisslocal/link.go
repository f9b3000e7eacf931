//go:build faiss && !faiss_system

package faisslocal

// FAISS comes from .deps/faiss/faiss.o: Debian's libfaiss.a prelinked into
// one object whose code is page-aligned (scripts/deps.sh faiss, run by make).
// Linked with -lfaiss, FAISS's code lands wherever the size of the program
// linked before it puts it, and its scalar inner-product loop runs slower
// when that is across a 64-byte boundary (README.md); prelinked, every program
// gets the same FAISS layout. Build with -tags faiss,faiss_system to link
// the system's libfaiss.a instead.
//
// In that object FAISS's three distance kernels (fvec_inner_product,
// fvec_L2sqr, fvec_norm_L2sqr) are weak symbols, and simd.cpp, built only
// with these tags, defines them again with AVX2+FMA code chosen at run time
// (see SIMD). With faiss_system the library's definitions are strong, so
// simd.cpp is left out and FAISS runs its own kernels.

/*
#cgo LDFLAGS: ${SRCDIR}/../.deps/faiss/faiss.o -lopenblas -llapack -fopenmp -lgomp -lstdc++ -lm
*/
import "C"
