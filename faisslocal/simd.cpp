//go:build faiss && !faiss_system

// simd.cpp: AVX2+FMA definitions of FAISS's three distance kernels,
// faiss::fvec_inner_product, faiss::fvec_L2sqr and faiss::fvec_norm_L2sqr.
//
// Debian's FAISS 1.7.3 is built for baseline x86-64, so those kernels are
// FAISS's scalar loops (fvec_*_ref), and Flat, HNSW and IVF searches spend
// most of their time in them. scripts/deps.sh faiss makes the three symbols
// weak in the prelinked .deps/faiss/faiss.o; every caller inside FAISS
// reaches them through the symbol, so these strong definitions replace
// FAISS's everywhere in a program that links this file. They check the CPU
// at run time: without AVX2 and FMA, or with TWOSTAGE_FAISS_SIMD=scalar in
// the environment, they call FAISS's own scalar kernels, which compute
// exactly what an unmodified FAISS computes.
//
// Results differ from the scalar loops' in the last bits (eight partial sums
// instead of one, fused multiply-adds); the norm keeps FAISS's double
// accumulator. The tests bound the difference (simd_test.go).

#include "simd.h"

#include <immintrin.h>

#include <atomic>
#include <cstdlib>
#include <cstring>

#include <faiss/utils/distances.h>

namespace faiss {
// FAISS's scalar kernels: defined in distances_simd.cpp, not in its headers.
float fvec_inner_product_ref(const float* x, const float* y, size_t d);
float fvec_L2sqr_ref(const float* x, const float* y, size_t d);
float fvec_norm_L2sqr_ref(const float* x, size_t d);
}  // namespace faiss

// Defined in .deps/faiss/faiss.o by scripts/deps.sh faiss along with the weak
// kernels. An object built before that fails the link with "multiple
// definition of faiss::fvec_inner_product" (FAISS's strong definitions
// beside these); needing this symbol too makes the link also say
// "undefined reference to twostage_faiss_o_weak_kernels__run_scripts_deps_sh_faiss",
// the fix.
extern "C" const char twostage_faiss_o_weak_kernels__run_scripts_deps_sh_faiss;

namespace {

__attribute__((used)) const char* const need_weak_faiss_o = &twostage_faiss_o_weak_kernels__run_scripts_deps_sh_faiss;

// The kernels start on a 64-byte boundary, so their loops sit at the same
// offset modulo 64 in every program, whatever is linked before them (see
// link.go on why that matters for FAISS's own loops).
#define FL_AVX2 __attribute__((target("avx2,fma"), aligned(64)))

__attribute__((target("avx2,fma"))) inline float hsum(__m256 s) {
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

FL_AVX2 float ip_avx2(const float* x, const float* y, size_t d) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= d; i += 32) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16), _mm256_loadu_ps(y + i + 16), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24), _mm256_loadu_ps(y + i + 24), a3);
    }
    for (; i + 8 <= d; i += 8) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
    }
    float r = hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < d; i++) r += x[i] * y[i];
    return r;
}

FL_AVX2 float l2_avx2(const float* x, const float* y, size_t d) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= d; i += 32) {
        __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i));
        __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8));
        __m256 d2 = _mm256_sub_ps(_mm256_loadu_ps(x + i + 16), _mm256_loadu_ps(y + i + 16));
        __m256 d3 = _mm256_sub_ps(_mm256_loadu_ps(x + i + 24), _mm256_loadu_ps(y + i + 24));
        a0 = _mm256_fmadd_ps(d0, d0, a0);
        a1 = _mm256_fmadd_ps(d1, d1, a1);
        a2 = _mm256_fmadd_ps(d2, d2, a2);
        a3 = _mm256_fmadd_ps(d3, d3, a3);
    }
    for (; i + 8 <= d; i += 8) {
        __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i));
        a0 = _mm256_fmadd_ps(d0, d0, a0);
    }
    float r = hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < d; i++) {
        const float t = x[i] - y[i];
        r += t * t;
    }
    return r;
}

// norm_avx2 rounds each square to float and sums the squares in double, as
// fvec_norm_L2sqr_ref does; only the order of the sum differs.
FL_AVX2 float norm_avx2(const float* x, size_t d) {
    __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
    __m256d a2 = _mm256_setzero_pd(), a3 = _mm256_setzero_pd();
    size_t i = 0;
    for (; i + 16 <= d; i += 16) {
        __m256 p0 = _mm256_loadu_ps(x + i), p1 = _mm256_loadu_ps(x + i + 8);
        p0 = _mm256_mul_ps(p0, p0);
        p1 = _mm256_mul_ps(p1, p1);
        a0 = _mm256_add_pd(a0, _mm256_cvtps_pd(_mm256_castps256_ps128(p0)));
        a1 = _mm256_add_pd(a1, _mm256_cvtps_pd(_mm256_extractf128_ps(p0, 1)));
        a2 = _mm256_add_pd(a2, _mm256_cvtps_pd(_mm256_castps256_ps128(p1)));
        a3 = _mm256_add_pd(a3, _mm256_cvtps_pd(_mm256_extractf128_ps(p1, 1)));
    }
    for (; i + 8 <= d; i += 8) {
        __m256 p0 = _mm256_loadu_ps(x + i);
        p0 = _mm256_mul_ps(p0, p0);
        a0 = _mm256_add_pd(a0, _mm256_cvtps_pd(_mm256_castps256_ps128(p0)));
        a1 = _mm256_add_pd(a1, _mm256_cvtps_pd(_mm256_extractf128_ps(p0, 1)));
    }
    __m256d s = _mm256_add_pd(_mm256_add_pd(a0, a1), _mm256_add_pd(a2, a3));
    __m128d h = _mm_add_pd(_mm256_castpd256_pd128(s), _mm256_extractf128_pd(s, 1));
    double r = _mm_cvtsd_f64(_mm_add_sd(h, _mm_unpackhi_pd(h, h)));
    for (; i < d; i++) {
        const float sq = x[i] * x[i];
        r += sq;
    }
    return float(r);
}

bool cpu_has_avx2() {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

// mode is 0 until the first call decides it (no static initializer, so a
// FAISS call from another one still finds the right kernels).
std::atomic<int> mode{0};
std::atomic<uint64_t> calls[3];

int initial_mode() {
    const char* e = std::getenv("TWOSTAGE_FAISS_SIMD");
    if ((e != nullptr && std::strcmp(e, "scalar") == 0) || !cpu_has_avx2()) return FL_SIMD_SCALAR;
    return FL_SIMD_AVX2;
}

int current_mode() {
    int m = mode.load(std::memory_order_relaxed);
    if (m == 0) {
        int want = initial_mode();
        // Another thread may have decided first, or fl_simd_set run.
        mode.compare_exchange_strong(m, want, std::memory_order_relaxed);
        m = mode.load(std::memory_order_relaxed);
    }
    return m;
}

// slow is every call that is not plain AVX2: the first, scalar ones and
// counted ones.
__attribute__((noinline)) float slow(int kernel, const float* x, const float* y, size_t d) {
    int m = current_mode();
    if (m & FL_SIMD_COUNT) calls[kernel].fetch_add(1, std::memory_order_relaxed);
    const bool avx2 = (m & FL_SIMD_AVX2) != 0;
    switch (kernel) {
        case FL_KERNEL_IP:
            return avx2 ? ip_avx2(x, y, d) : faiss::fvec_inner_product_ref(x, y, d);
        case FL_KERNEL_L2:
            return avx2 ? l2_avx2(x, y, d) : faiss::fvec_L2sqr_ref(x, y, d);
        default:
            return avx2 ? norm_avx2(x, d) : faiss::fvec_norm_L2sqr_ref(x, d);
    }
}

inline bool fast() {
    return __builtin_expect(mode.load(std::memory_order_relaxed) == FL_SIMD_AVX2, 1);
}

}  // namespace

namespace faiss {

float fvec_inner_product(const float* x, const float* y, size_t d) {
    return fast() ? ip_avx2(x, y, d) : slow(FL_KERNEL_IP, x, y, d);
}

float fvec_L2sqr(const float* x, const float* y, size_t d) {
    return fast() ? l2_avx2(x, y, d) : slow(FL_KERNEL_L2, x, y, d);
}

float fvec_norm_L2sqr(const float* x, size_t d) {
    return fast() ? norm_avx2(x, d) : slow(FL_KERNEL_NORM, x, nullptr, d);
}

}  // namespace faiss

extern "C" {

int fl_simd_mode(void) {
    return current_mode();
}

int fl_simd_set(int m) {
    if ((m & FL_SIMD_AVX2) != 0 && !cpu_has_avx2()) return -1;
    current_mode();
    return mode.exchange(m, std::memory_order_relaxed);
}

int fl_simd_cpu(void) {
    return cpu_has_avx2() ? 1 : 0;
}

uint64_t fl_simd_calls(int kernel) {
    return calls[kernel].load(std::memory_order_relaxed);
}

float fl_simd_call(int kernel, int impl, const float* x, const float* y, size_t d) {
    switch (impl) {
        case FL_IMPL_AVX2:
            if (!cpu_has_avx2()) return 0;
            return kernel == FL_KERNEL_IP ? ip_avx2(x, y, d) : kernel == FL_KERNEL_L2 ? l2_avx2(x, y, d) : norm_avx2(x, d);
        case FL_IMPL_FAISS:
            return kernel == FL_KERNEL_IP   ? faiss::fvec_inner_product_ref(x, y, d)
                   : kernel == FL_KERNEL_L2 ? faiss::fvec_L2sqr_ref(x, y, d)
                                            : faiss::fvec_norm_L2sqr_ref(x, d);
        default:
            return kernel == FL_KERNEL_IP   ? faiss::fvec_inner_product(x, y, d)
                   : kernel == FL_KERNEL_L2 ? faiss::fvec_L2sqr(x, y, d)
                                            : faiss::fvec_norm_L2sqr(x, d);
    }
}

float fl_simd_rows(int kernel, int impl, const float* x, const float* y, size_t d, size_t n) {
    float s = 0;
    for (size_t i = 0; i < n; i++) s += fl_simd_call(kernel, impl, x + i * d, y + i * d, d);
    return s;
}

void fl_simd_norms(float* out, const float* x, size_t d, size_t n) {
    faiss::fvec_norms_L2sqr(out, x, d, n);
}

}  // extern "C"
