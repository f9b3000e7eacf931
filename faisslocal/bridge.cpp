//go:build faiss

// bridge.cpp: faisslocal's extern "C" bridge to the FAISS C++ library
// (Debian libfaiss-dev 1.7.3). Exceptions are caught here and turned into
// error strings.

#include "bridge.h"
#include "guard.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <omp.h>

#include <faiss/Index.h>
#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVF.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/IndexRefine.h>
#include <faiss/clone_index.h>
#include <faiss/impl/AuxIndexStructures.h>
#include <faiss/impl/DistanceComputer.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/utils/Heap.h>
#include <faiss/index_io.h>

// Not declared in FAISS 1.7.3's headers; exported by libfaiss.
namespace faiss {
float fvec_inner_product_ref(const float* x, const float* y, size_t d);
}

namespace {

faiss::MetricType metric_of(int m) {
    return m == FL_METRIC_L2 ? faiss::METRIC_L2 : faiss::METRIC_INNER_PRODUCT;
}

faiss::Index* ix(fl_index p) { return static_cast<faiss::Index*>(p); }

// base is the index a refined index wraps, or i itself.
faiss::Index* base(faiss::Index* i) {
    if (auto* r = dynamic_cast<faiss::IndexRefine*>(i)) return r->base_index;
    return i;
}

// negated turns a similarity into a distance for HNSW's search, which
// keeps the smallest, as IndexHNSW does internally.
struct negated : faiss::DistanceComputer {
    std::unique_ptr<faiss::DistanceComputer> d;
    explicit negated(faiss::DistanceComputer* dc) : d(dc) {}
    void set_query(const float* x) override { d->set_query(x); }
    float operator()(faiss::Index::idx_t i) override { return -(*d)(i); }
    float symmetric_dis(faiss::Index::idx_t i, faiss::Index::idx_t j) override {
        return -d->symmetric_dis(i, j);
    }
};

// visited is this thread's HNSW visited table, kept between searches.
// IndexHNSW::search allocates and clears one of ntotal bytes on every call
// (a megabyte at a million vectors, which also evicts the index from the
// CPU caches); a VisitedTable is reused by advancing its mark instead
// (HNSW::search advances it at the end of each search; advancing it once
// more would break the visno+1 marks some of its paths use), and is
// cleared once every 250 searches.
thread_local std::unique_ptr<faiss::VisitedTable> visited;

// search_hnsw_one is IndexHNSW::search for one query on the calling thread,
// with this thread's visited table.
void search_hnsw_one(const faiss::IndexHNSW* h, const float* x, int64_t k,
                     const faiss::SearchParametersHNSW& p, float* distances, faiss::Index::idx_t* labels) {
    if (!visited || visited->visited.size() < size_t(h->ntotal)) {
        visited.reset(new faiss::VisitedTable(h->ntotal));
    }
    std::unique_ptr<faiss::DistanceComputer> dc(h->storage->get_distance_computer());
    const bool ip = h->metric_type == faiss::METRIC_INNER_PRODUCT;
    if (ip) dc.reset(new negated(dc.release()));
    dc->set_query(x);
    faiss::maxheap_heapify(k, distances, labels);
    h->hnsw.search(*dc, k, labels, distances, *visited, &p);
    faiss::maxheap_reorder(k, distances, labels);
    if (ip) {
        for (int64_t j = 0; j < k; j++) distances[j] = -distances[j];
    }
}

// search_refined fetches refine*k candidates per query from the wrapped
// index (with the selector and nprobe of p) and keeps the k best by the
// exact scores of the vectors the refined index keeps, as
// IndexRefine::search does (which in FAISS 1.7.3 takes no parameters).
void search_refined(faiss::IndexRefine* r, int64_t n, const float* x, int64_t k, int refine,
                    const faiss::SearchParametersIVF& p, float* distances, faiss::Index::idx_t* labels) {
    const int64_t kb = k * std::max(1, refine);
    std::vector<float> bd(n * kb);
    std::vector<faiss::Index::idx_t> bl(n * kb);
    r->base_index->search(n, x, kb, bd.data(), bl.data(), &p);
    const bool ip = r->metric_type == faiss::METRIC_INNER_PRODUCT;
#pragma omp parallel if (n > 1)
    {
        std::unique_ptr<faiss::DistanceComputer> dc(r->refine_index->get_distance_computer());
        std::vector<std::pair<float, faiss::Index::idx_t>> c;
#pragma omp for
        for (int64_t q = 0; q < n; q++) {
            dc->set_query(x + q * r->d);
            c.clear();
            for (int64_t j = 0; j < kb; j++) {
                faiss::Index::idx_t l = bl[q * kb + j];
                if (l >= 0 && l < r->refine_index->ntotal) c.emplace_back((*dc)(l), l);
            }
            auto better = [ip](const std::pair<float, faiss::Index::idx_t>& a,
                               const std::pair<float, faiss::Index::idx_t>& b) {
                if (a.first != b.first) return ip ? a.first > b.first : a.first < b.first;
                return a.second < b.second;
            };
            int64_t m = std::min<int64_t>(k, c.size());
            std::partial_sort(c.begin(), c.begin() + m, c.end(), better);
            for (int64_t j = 0; j < k; j++) {
                distances[q * k + j] = j < m ? c[j].first : (ip ? -1e30f : 1e30f);
                labels[q * k + j] = j < m ? c[j].second : -1;
            }
        }
    }
}

void set_threads(int threads) {
    if (threads > 0) {
        omp_set_num_threads(threads);
    }
}

}  // namespace

extern "C" {

char* fl_new_flat(int d, int metric, fl_index* out) {
    return guard([&] {
        if (metric == FL_METRIC_L2) {
            *out = new faiss::IndexFlatL2(d);
        } else {
            *out = new faiss::IndexFlatIP(d);
        }
    });
}

char* fl_new_hnsw(int d, int metric, int m, int ef_construction, fl_index* out) {
    return guard([&] {
        auto* h = new faiss::IndexHNSWFlat(d, m, metric_of(metric));
        h->hnsw.efConstruction = ef_construction;
        *out = h;
    });
}

char* fl_new_ivf_flat(int d, int metric, int nlist, fl_index* out) {
    return guard([&] {
        faiss::IndexFlat* q = metric == FL_METRIC_L2
                ? static_cast<faiss::IndexFlat*>(new faiss::IndexFlatL2(d))
                : static_cast<faiss::IndexFlat*>(new faiss::IndexFlatIP(d));
        auto* ivf = new faiss::IndexIVFFlat(q, d, nlist, metric_of(metric));
        ivf->own_fields = true;
        // faisslocal decides when there are enough vectors (TrainSize).
        ivf->cp.min_points_per_centroid = 1;
        *out = ivf;
    });
}

char* fl_new_ivf_pq(int d, int metric, int nlist, int m, int nbits, int refine, fl_index* out) {
    return guard([&] {
        faiss::IndexFlat* q = metric == FL_METRIC_L2
                ? static_cast<faiss::IndexFlat*>(new faiss::IndexFlatL2(d))
                : static_cast<faiss::IndexFlat*>(new faiss::IndexFlatIP(d));
        std::unique_ptr<faiss::IndexIVFPQ> ivf(new faiss::IndexIVFPQ(q, d, nlist, m, nbits, metric_of(metric)));
        ivf->own_fields = true;
        ivf->cp.min_points_per_centroid = 1;
        ivf->pq.cp.min_points_per_centroid = 1;
        if (!refine) {
            *out = ivf.release();
            return;
        }
        auto* r = new faiss::IndexRefineFlat(ivf.get());
        ivf.release();
        r->own_fields = true;
        *out = r;
    });
}

char* fl_clone_empty(fl_index idx, fl_index* out) {
    return guard([&] {
        // FAISS 1.7.3 cannot clone an IndexRefineFlat: clone what it wraps.
        auto* r = dynamic_cast<faiss::IndexRefine*>(ix(idx));
        std::unique_ptr<faiss::Index> c(faiss::clone_index(base(ix(idx))));
        c->reset();
        if (r == nullptr) {
            *out = c.release();
            return;
        }
        auto* rc = new faiss::IndexRefineFlat(c.get());
        c.release();
        rc->own_fields = true;
        rc->k_factor = r->k_factor;
        *out = rc;
    });
}

void fl_free(fl_index idx) { delete ix(idx); }

int fl_kind(fl_index idx) {
    faiss::Index* i = base(ix(idx));
    if (dynamic_cast<faiss::IndexHNSW*>(i) != nullptr) return FL_KIND_HNSW;
    if (dynamic_cast<faiss::IndexIVF*>(i) != nullptr) return FL_KIND_IVF;
    if (dynamic_cast<faiss::IndexFlat*>(i) != nullptr) return FL_KIND_FLAT;
    return -1;
}

int fl_dim(fl_index idx) { return ix(idx)->d; }

int fl_metric(fl_index idx) {
    return ix(idx)->metric_type == faiss::METRIC_L2 ? FL_METRIC_L2 : FL_METRIC_IP;
}

int64_t fl_ntotal(fl_index idx) { return ix(idx)->ntotal; }

int fl_is_trained(fl_index idx) { return ix(idx)->is_trained ? 1 : 0; }

int fl_refined(fl_index idx) { return dynamic_cast<faiss::IndexRefine*>(ix(idx)) != nullptr ? 1 : 0; }

void fl_set_ef_search(fl_index idx, int ef) {
    if (auto* h = dynamic_cast<faiss::IndexHNSW*>(ix(idx))) {
        if (ef > 0) {
            h->hnsw.efSearch = ef;
        }
    }
}

char* fl_train(fl_index idx, int64_t n, const float* x, int threads) {
    return guard([&] {
        set_threads(threads);
        ix(idx)->train(n, x);
    });
}

char* fl_add(fl_index idx, int64_t n, const float* x, const int64_t* ids, int threads) {
    return guard([&] {
        set_threads(threads);
        faiss::Index* i = ix(idx);
        if (ids != nullptr && dynamic_cast<faiss::IndexRefine*>(i) != nullptr) {
            // IndexRefine numbers vectors sequentially; faisslocal's slots are.
            for (int64_t j = 0; j < n; j++) {
                if (ids[j] != i->ntotal + j) throw std::invalid_argument("refined index: ids are not sequential");
            }
            ids = nullptr;
        }
        if (ids != nullptr) {
            i->add_with_ids(n, x, reinterpret_cast<const faiss::Index::idx_t*>(ids));
        } else {
            i->add(n, x);
        }
    });
}

char* fl_search(fl_index idx, int64_t n, const float* x, int64_t k,
                const uint8_t* bitmap, int64_t nbits, int ef_search,
                int nprobe, int refine, int threads, float* distances, int64_t* labels) {
    return guard([&] {
        set_threads(threads);
        faiss::Index* i = ix(idx);
        auto* out = reinterpret_cast<faiss::Index::idx_t*>(labels);
        faiss::IDSelectorBitmap sel(bitmap != nullptr ? size_t(nbits) : 0, bitmap);
        faiss::IDSelector* selp = bitmap != nullptr ? &sel : nullptr;
        if (auto* h = dynamic_cast<faiss::IndexHNSW*>(i)) {
            // FAISS 1.7.3's HNSW::search reads hnsw.efSearch, not
            // p.efSearch (set with fl_set_ef_search); p carries the selector.
            faiss::SearchParametersHNSW p;
            p.efSearch = h->hnsw.efSearch;
            p.sel = selp;
            if (n == 1 && h->storage != nullptr) {
                search_hnsw_one(h, x, k, p, distances, out);
                return;
            }
            h->search(n, x, k, distances, out, &p);
            return;
        }
        if (auto* v = dynamic_cast<faiss::IndexIVF*>(base(i))) {
            faiss::SearchParametersIVF p;
            p.nprobe = nprobe > 0 ? size_t(nprobe) : v->nprobe;
            p.sel = selp;
            if (auto* r = dynamic_cast<faiss::IndexRefine*>(i)) {
                search_refined(r, n, x, k, refine, p, distances, out);
                return;
            }
            v->search(n, x, k, distances, out, &p);
            return;
        }
        if (selp != nullptr) {
            faiss::SearchParameters p;
            p.sel = selp;
            i->search(n, x, k, distances, out, &p);
            return;
        }
        i->search(n, x, k, distances, out);
    });
}

char* fl_write(fl_index idx, const char* path) {
    return guard([&] { faiss::write_index(ix(idx), path); });
}

char* fl_read(const char* path, fl_index* out) {
    return guard([&] { *out = faiss::read_index(path); });
}

int fl_max_threads(void) { return omp_get_max_threads(); }

uintptr_t fl_code_address(void) {
    return reinterpret_cast<uintptr_t>(&faiss::fvec_inner_product_ref);
}

}  // extern "C"
