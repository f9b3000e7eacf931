//go:build faiss

// bridge.h declares the small extern "C" surface of faisslocal's C++ bridge
// to FAISS (bridge.cpp). Every function returns NULL on success or a
// malloc'd error message that the caller frees; no C++ exception crosses it.
#ifndef FAISSLOCAL_BRIDGE_H
#define FAISSLOCAL_BRIDGE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef void* fl_index;

enum { FL_METRIC_IP = 0, FL_METRIC_L2 = 1 };
enum { FL_KIND_FLAT = 0, FL_KIND_HNSW = 1, FL_KIND_IVF = 2 };

char* fl_new_flat(int d, int metric, fl_index* out);
char* fl_new_hnsw(int d, int metric, int m, int ef_construction, fl_index* out);
char* fl_new_ivf_flat(int d, int metric, int nlist, fl_index* out);
// fl_new_ivf_pq builds an IVF-PQ index; with refine set it is wrapped in an
// IndexRefineFlat that keeps every vector in memory for exact re-scoring.
char* fl_new_ivf_pq(int d, int metric, int nlist, int m, int nbits, int refine, fl_index* out);
// fl_clone_empty copies idx (including training) and removes its vectors.
char* fl_clone_empty(fl_index idx, fl_index* out);
void fl_free(fl_index idx);

int fl_kind(fl_index idx);
int fl_dim(fl_index idx);
int fl_metric(fl_index idx);
int64_t fl_ntotal(fl_index idx);
int fl_is_trained(fl_index idx);
// fl_refined reports whether idx keeps its vectors for re-scoring
// (IndexRefineFlat); fl_kind then names the index it wraps.
int fl_refined(fl_index idx);

// fl_set_ef_search sets an HNSW index's efSearch (FAISS 1.7.3 ignores
// SearchParametersHNSW::efSearch); call it before searches start.
void fl_set_ef_search(fl_index idx, int ef);

char* fl_train(fl_index idx, int64_t n, const float* x, int threads);
// fl_add appends n vectors. ids may be NULL for sequential ids (flat, HNSW);
// IVF indexes store the given ids (a refined index only sequential ones).
char* fl_add(fl_index idx, int64_t n, const float* x, const int64_t* ids, int threads);

// fl_search searches n queries. bitmap (nbits bits, may be NULL) restricts the
// search to the ids whose bit is set. ef_search (HNSW) and nprobe (IVF) are
// used when > 0. A refined index fetches refine*k candidates (refine >= 1)
// and returns the k best by their exact scores. threads sets the OpenMP
// threads for this call.
char* fl_search(fl_index idx, int64_t n, const float* x, int64_t k,
                const uint8_t* bitmap, int64_t nbits, int ef_search,
                int nprobe, int refine, int threads, float* distances, int64_t* labels);

char* fl_write(fl_index idx, const char* path);
char* fl_read(const char* path, fl_index* out);

int fl_max_threads(void);

// fl_code_address returns the address of faiss::fvec_inner_product_ref, the
// scalar inner product that Flat, HNSW and IVF-Flat searches spend most of
// their time in (a test checks FAISS's code layout with it).
uintptr_t fl_code_address(void);

#ifdef __cplusplus
}
#endif

#endif
