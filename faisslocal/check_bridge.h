//go:build faiss

// check_bridge.h declares the part of the C++ bridge that Driver.Check uses
// to read the index back (check_bridge.cpp). As in bridge.h, functions
// return NULL or a malloc'd error message.
#ifndef FAISSLOCAL_CHECK_BRIDGE_H
#define FAISSLOCAL_CHECK_BRIDGE_H

#include <stdint.h>

#include "bridge.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef void* fl_locator;

// fl_locate maps the ids 0..nslots-1 of an IVF index (also one wrapped in
// an IndexRefineFlat) to their places in the inverted lists; for other
// kinds it sets *out to NULL (their ids are positions).
char* fl_locate(fl_index idx, int64_t nslots, fl_locator* out);
void fl_locator_free(fl_locator loc);

// fl_reconstruct reads back n slots: count[i] is how many entries the index
// holds for slots[i] (0, 1, or more), and where count[i] > 0 the vector (as
// the index holds it) is written to out[i*d]. *exact is set to 0 when the
// vectors are decoded from lossy codes (IVF-PQ without in-memory refine).
char* fl_reconstruct(fl_index idx, fl_locator loc, int64_t n, const int64_t* slots,
                     float* out, int32_t* count, int* exact);

#ifdef __cplusplus
}
#endif

#endif
