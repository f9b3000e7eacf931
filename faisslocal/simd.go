//go:build faiss && !faiss_system

package faisslocal

/*
#include "simd.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// SIMD reports which distance kernels FAISS's searches run in this process:
// "avx2+fma" (faisslocal's own, simd.cpp, on a CPU with AVX2 and FMA) or
// "scalar" (FAISS's own scalar loops: a CPU without them, or
// TWOSTAGE_FAISS_SIMD=scalar in the environment when the process started).
// Built with the faiss_system tag it reports "faiss": FAISS's kernels as the
// system's library was built.
func SIMD() string { return simdName(int(C.fl_simd_mode())) }

func simdName(m int) string {
	switch {
	case m&C.FL_SIMD_AVX2 != 0:
		return "avx2+fma"
	case m&C.FL_SIMD_SCALAR != 0:
		return "scalar"
	}
	return fmt.Sprintf("mode %d", m)
}

// simdAVX2 reports whether this CPU can run the AVX2+FMA kernels.
func simdAVX2() bool { return C.fl_simd_cpu() != 0 }

// setSIMD switches the kernels (tests and benchmarks): "avx2+fma" or
// "scalar", counting every kernel call when count is set. It returns a
// function that restores the previous mode.
func setSIMD(name string, count bool) (restore func(), err error) {
	var m C.int
	switch name {
	case "avx2+fma":
		m = C.FL_SIMD_AVX2
	case "scalar":
		m = C.FL_SIMD_SCALAR
	default:
		return nil, fmt.Errorf("faisslocal: unknown kernels %q", name)
	}
	if count {
		m |= C.FL_SIMD_COUNT
	}
	old := C.fl_simd_set(m)
	if old < 0 {
		return nil, fmt.Errorf("faisslocal: this CPU cannot run the %s kernels", name)
	}
	return func() { C.fl_simd_set(old) }, nil
}

// Distance kernels and their implementations, for simdCall.
const (
	kernelIP   = C.FL_KERNEL_IP
	kernelL2   = C.FL_KERNEL_L2
	kernelNorm = C.FL_KERNEL_NORM

	implSymbol = C.FL_IMPL_SYMBOL // faiss::fvec_*, what FAISS's code calls
	implAVX2   = C.FL_IMPL_AVX2
	implFAISS  = C.FL_IMPL_FAISS // FAISS's scalar faiss::fvec_*_ref
)

// simdCall runs one implementation of one kernel on x and y (y unused by
// the norm), which must not be shorter than x.
func simdCall(kernel, impl int, x, y []float32) float32 {
	var px, py *C.float
	if len(x) > 0 {
		px = (*C.float)(unsafe.Pointer(&x[0]))
	}
	if len(y) > 0 {
		py = (*C.float)(unsafe.Pointer(&y[0]))
	}
	return float32(C.fl_simd_call(C.int(kernel), C.int(impl), px, py, C.size_t(len(x))))
}

// simdRows runs one implementation of one kernel on the rows of x and y,
// rows of dim floats, inside C, and returns the sum of the results.
func simdRows(kernel, impl int, x, y []float32, dim int) float32 {
	n := min(len(x), len(y)) / dim
	if n == 0 {
		return 0
	}
	return float32(C.fl_simd_rows(C.int(kernel), C.int(impl), (*C.float)(unsafe.Pointer(&x[0])),
		(*C.float)(unsafe.Pointer(&y[0])), C.size_t(dim), C.size_t(n)))
}

// simdCalls is the number of counted calls of kernel so far.
func simdCalls(kernel int) uint64 { return uint64(C.fl_simd_calls(C.int(kernel))) }

// simdNorms runs FAISS's faiss::fvec_norms_L2sqr over the rows of x.
func simdNorms(x []float32, dim int) []float32 {
	n := len(x) / dim
	out := make([]float32, n)
	if n > 0 {
		C.fl_simd_norms((*C.float)(unsafe.Pointer(&out[0])), (*C.float)(unsafe.Pointer(&x[0])), C.size_t(dim), C.size_t(n))
	}
	return out
}
