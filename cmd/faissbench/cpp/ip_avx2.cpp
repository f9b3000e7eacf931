// ip_avx2.cpp: an AVX2+FMA faiss::fvec_inner_product, the prototype of what
// faisslocal's bridge would need to close the gap to faiss-cpu. Debian's
// FAISS 1.7.3 is built for baseline x86-64, so its fvec_inner_product is
// the scalar loop; every caller in FAISS (Flat's batch-1 scan, HNSW's and
// IVF's distance computers) reaches it through the symbol. Linked with a copy
// of .deps/faiss/faiss.o in which that symbol is weak (objcopy
// --weaken-symbol, scripts/faissbench-avx2.sh), this definition replaces it
// everywhere. CPUs without AVX2 or FMA get the scalar loop.

#include <immintrin.h>

#include <cstddef>

namespace faiss {

__attribute__((target("avx2,fma"))) static float ip_avx2(const float* x, const float* y, size_t d) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
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
    __m256 s = _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    float r = _mm_cvtss_f32(h);
    for (; i < d; i++) r += x[i] * y[i];
    return r;
}

static float ip_scalar(const float* x, const float* y, size_t d) {
    float r = 0;
    for (size_t i = 0; i < d; i++) r += x[i] * y[i];
    return r;
}

static const bool has_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");

float fvec_inner_product(const float* x, const float* y, size_t d) {
    return has_avx2 ? ip_avx2(x, y, d) : ip_scalar(x, y, d);
}

}  // namespace faiss
