//go:build faiss

// check_bridge.cpp: reading a FAISS index back for Driver.Check (see
// check_bridge.h). Exceptions are caught and returned as error strings.

#include "check_bridge.h"
#include "guard.h"

#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>
#include <stdexcept>
#include <vector>

#include <faiss/Index.h>
#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVF.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/IndexRefine.h>
#include <faiss/invlists/InvertedLists.h>

namespace {

struct locator {
    std::vector<int64_t> list, offset; // -1 when absent
    std::vector<int32_t> count;
};

faiss::IndexIVF* ivf_of(faiss::Index* i) {
    if (auto* r = dynamic_cast<faiss::IndexRefine*>(i)) i = r->base_index;
    return dynamic_cast<faiss::IndexIVF*>(i);
}

} // namespace

char* fl_locate(fl_index idx, int64_t nslots, fl_locator* out) {
    *out = nullptr;
    return guard([&] {
        faiss::IndexIVF* ivf = ivf_of(static_cast<faiss::Index*>(idx));
        if (ivf == nullptr) return;
        auto* loc = new locator;
        loc->list.assign(nslots, -1);
        loc->offset.assign(nslots, -1);
        loc->count.assign(nslots, 0);
        faiss::InvertedLists* il = ivf->invlists;
        for (size_t l = 0; l < il->nlist; l++) {
            size_t n = il->list_size(l);
            if (n == 0) continue;
            faiss::InvertedLists::ScopedIds ids(il, l);
            for (size_t o = 0; o < n; o++) {
                int64_t id = ids[o];
                if (id < 0 || id >= nslots) continue; // not a slot: ignored
                if (loc->count[id]++ == 0) {
                    loc->list[id] = int64_t(l);
                    loc->offset[id] = int64_t(o);
                }
            }
        }
        *out = loc;
    });
}

void fl_locator_free(fl_locator loc) { delete static_cast<locator*>(loc); }

char* fl_reconstruct(fl_index idx, fl_locator loc, int64_t n, const int64_t* slots,
                     float* out, int32_t* count, int* exact) {
    return guard([&] {
        auto* i = static_cast<faiss::Index*>(idx);
        auto* refine = dynamic_cast<faiss::IndexRefine*>(i);
        faiss::IndexIVF* ivf = ivf_of(i);
        auto* l = static_cast<locator*>(loc);
        if (ivf != nullptr && l == nullptr) throw std::invalid_argument("IVF index without a locator");
        *exact = (ivf == nullptr || refine != nullptr || dynamic_cast<faiss::IndexIVFFlat*>(ivf) != nullptr) ? 1 : 0;
        size_t d = size_t(i->d);
        for (int64_t j = 0; j < n; j++) {
            int64_t s = slots[j];
            float* v = out + size_t(j) * d;
            count[j] = 0;
            if (ivf != nullptr) {
                if (s < 0 || s >= int64_t(l->count.size()) || l->count[s] == 0) continue;
                count[j] = l->count[s];
                if (refine != nullptr) {
                    refine->refine_index->reconstruct(s, v);
                } else {
                    ivf->reconstruct_from_offset(l->list[s], l->offset[s], v);
                }
                continue;
            }
            if (s < 0 || s >= i->ntotal) continue;
            if (auto* h = dynamic_cast<faiss::IndexHNSW*>(i)) {
                if (size_t(s) >= h->hnsw.levels.size() || h->hnsw.levels[s] <= 0) continue;
                h->storage->reconstruct(s, v);
            } else {
                i->reconstruct(s, v);
            }
            count[j] = 1;
        }
    });
}
