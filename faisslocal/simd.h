//go:build faiss && !faiss_system

// simd.h declares the extern "C" controls of simd.cpp, faisslocal's AVX2+FMA
// definitions of FAISS's distance kernels. cmd/faissbench's C++ baseline
// links simd.cpp too (scripts/faissbench.sh), so both sides of that
// benchmark run the same kernels.
#ifndef FAISSLOCAL_SIMD_H
#define FAISSLOCAL_SIMD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// Kernel modes. FL_SIMD_COUNT is a flag added to either: each call is also
// counted (tests use it to see FAISS's callers reach these definitions).
enum { FL_SIMD_SCALAR = 1, FL_SIMD_AVX2 = 2, FL_SIMD_COUNT = 4 };

// The kernels, for fl_simd_call and fl_simd_calls.
enum { FL_KERNEL_IP = 0, FL_KERNEL_L2 = 1, FL_KERNEL_NORM = 2 };

// Implementations, for fl_simd_call.
enum {
    FL_IMPL_SYMBOL = 0,  // faiss::fvec_* as FAISS's own code calls it (the dispatcher)
    FL_IMPL_AVX2 = 1,    // the AVX2+FMA kernel (only where fl_simd_cpu says so)
    FL_IMPL_FAISS = 2,   // FAISS's scalar kernel, faiss::fvec_*_ref
};

// fl_simd_mode is the mode the kernels run in: FL_SIMD_AVX2 when the CPU has
// AVX2 and FMA and the environment variable TWOSTAGE_FAISS_SIMD is not
// "scalar", FL_SIMD_SCALAR otherwise, until fl_simd_set changes it.
int fl_simd_mode(void);
// fl_simd_set sets the mode and returns the one it replaces; a mode asking
// for AVX2 on a CPU without it is refused (returns -1, nothing changes).
int fl_simd_set(int mode);
// fl_simd_cpu reports whether this CPU has AVX2 and FMA.
int fl_simd_cpu(void);
// fl_simd_calls is the number of calls of kernel counted so far.
uint64_t fl_simd_calls(int kernel);
// fl_simd_call runs one kernel implementation (y is ignored by the norm).
float fl_simd_call(int kernel, int impl, const float* x, const float* y, size_t d);
// fl_simd_rows runs one kernel implementation on n pairs of rows of x and
// y, row i of each at i*d, and returns the sum of the results (benchmarks).
float fl_simd_rows(int kernel, int impl, const float* x, const float* y, size_t d, size_t n);
// fl_simd_norms runs faiss::fvec_norms_L2sqr, FAISS's loop over
// fvec_norm_L2sqr, on n vectors of dimension d.
void fl_simd_norms(float* out, const float* x, size_t d, size_t n);

#ifdef __cplusplus
}
#endif

#endif
