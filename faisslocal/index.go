//go:build faiss

package faisslocal

/*
#cgo CXXFLAGS: -std=c++17 -O2 -fopenmp
#include <stdlib.h>
#include "bridge.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"
)

// faissIndex owns one FAISS index through the C++ bridge. It is not safe for
// concurrent mutation; concurrent searches are fine.
type faissIndex struct {
	p C.fl_index
}

// errFAISS is the type of errors raised inside FAISS.
type errFAISS struct{ msg string }

func (e *errFAISS) Error() string { return "faiss: " + e.msg }

func cerr(op string, e *C.char) error {
	if e == nil {
		return nil
	}
	msg := C.GoString(e)
	C.free(unsafe.Pointer(e))
	return fmt.Errorf("faisslocal: %s: %w", op, &errFAISS{msg: msg})
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

func metricCode(l2 bool) C.int {
	if l2 {
		return C.FL_METRIC_L2
	}
	return C.FL_METRIC_IP
}

func wrapIndex(p C.fl_index) *faissIndex {
	ix := &faissIndex{p: p}
	runtime.SetFinalizer(ix, (*faissIndex).free)
	return ix
}

// newIndex builds an empty index for m. For the IVF kinds untrained is the
// flat buffer used until training.
func newIndex(dim int, l2 bool, m indexManifest, ivf bool) (*faissIndex, error) {
	var p C.fl_index
	var e *C.char
	switch {
	case m.Kind == "hnsw":
		e = C.fl_new_hnsw(C.int(dim), metricCode(l2), C.int(m.M), C.int(m.EfConstruction), &p)
	case m.Kind == "ivfflat" && ivf:
		e = C.fl_new_ivf_flat(C.int(dim), metricCode(l2), C.int(m.NList), &p)
	case m.Kind == "ivfpq" && ivf:
		e = C.fl_new_ivf_pq(C.int(dim), metricCode(l2), C.int(m.NList), C.int(m.PQM), C.int(m.NBits), cbool(m.RefineInMemory), &p)
	default:
		e = C.fl_new_flat(C.int(dim), metricCode(l2), &p)
	}
	if err := cerr("new index", e); err != nil {
		return nil, err
	}
	return wrapIndex(p), nil
}

func readIndex(path string) (*faissIndex, error) {
	cs := C.CString(path)
	defer C.free(unsafe.Pointer(cs))
	var p C.fl_index
	if err := cerr("read index "+path, C.fl_read(cs, &p)); err != nil {
		return nil, err
	}
	return wrapIndex(p), nil
}

func (x *faissIndex) free() {
	if x != nil && x.p != nil {
		C.fl_free(x.p)
		x.p = nil
		runtime.SetFinalizer(x, nil)
	}
}

func (x *faissIndex) cloneEmpty() (*faissIndex, error) {
	var p C.fl_index
	if err := cerr("clone index", C.fl_clone_empty(x.p, &p)); err != nil {
		return nil, err
	}
	return wrapIndex(p), nil
}

const (
	kindFlat = int(C.FL_KIND_FLAT)
	kindHNSW = int(C.FL_KIND_HNSW)
	kindIVF  = int(C.FL_KIND_IVF)
)

// setEfSearch sets an HNSW index's efSearch; no-op for other kinds. Call it
// before the index is shared with searches.
func (x *faissIndex) setEfSearch(ef int) { C.fl_set_ef_search(x.p, C.int(ef)) }

func (x *faissIndex) kind() int     { return int(C.fl_kind(x.p)) }
func (x *faissIndex) dim() int      { return int(C.fl_dim(x.p)) }
func (x *faissIndex) l2() bool      { return C.fl_metric(x.p) == C.FL_METRIC_L2 }
func (x *faissIndex) ntotal() int64 { return int64(C.fl_ntotal(x.p)) }
func (x *faissIndex) trained() bool { return C.fl_is_trained(x.p) != 0 }

// refined reports whether x keeps its vectors for exact re-scoring
// (IVFPQ.RefineInMemory).
func (x *faissIndex) refined() bool { return C.fl_refined(x.p) != 0 }

func (x *faissIndex) train(vecs []float32, dim, threads int) error {
	if len(vecs) == 0 {
		return errors.New("faisslocal: train: no vectors")
	}
	n := len(vecs) / dim
	return cerr("train", C.fl_train(x.p, C.int64_t(n), (*C.float)(&vecs[0]), C.int(threads)))
}

// add appends vectors; ids are required for IVF indexes and must be nil for
// the others (which number vectors sequentially).
func (x *faissIndex) add(vecs []float32, ids []int64, dim, threads int) error {
	if len(vecs) == 0 {
		return nil
	}
	n := len(vecs) / dim
	var idp *C.int64_t
	if ids != nil {
		idp = (*C.int64_t)(unsafe.Pointer(&ids[0]))
	}
	return cerr("add", C.fl_add(x.p, C.int64_t(n), (*C.float)(&vecs[0]), idp, C.int(threads)))
}

// searchParams are the per-call search settings. refine is the refine
// factor of an index that keeps its vectors (see refined).
type searchParams struct {
	efSearch, nprobe, refine, threads int
	bitmap                            []byte // live slots; nil for all
	nbits                             int64
}

// search runs n = len(queries)/dim queries, writing k results per query
// (label -1 where there are fewer) into dist and labels.
func (x *faissIndex) search(queries []float32, dim, k int, p searchParams, dist []float32, labels []int64) error {
	n := len(queries) / dim
	var bm *C.uint8_t
	if p.bitmap != nil {
		bm = (*C.uint8_t)(unsafe.Pointer(&p.bitmap[0]))
	}
	return cerr("search", C.fl_search(x.p, C.int64_t(n), (*C.float)(&queries[0]), C.int64_t(k),
		bm, C.int64_t(p.nbits), C.int(p.efSearch), C.int(p.nprobe), C.int(p.refine), C.int(p.threads),
		(*C.float)(&dist[0]), (*C.int64_t)(unsafe.Pointer(&labels[0]))))
}

func (x *faissIndex) write(path string) error {
	cs := C.CString(path)
	defer C.free(unsafe.Pointer(cs))
	return cerr("write index "+path, C.fl_write(x.p, cs))
}

// codeAddress is the address of FAISS's scalar inner product
// (faiss::fvec_inner_product_ref) in this program.
func codeAddress() uintptr { return uintptr(C.fl_code_address()) }

// maxThreads is OpenMP's default team size in this process.
func maxThreads() int { return int(C.fl_max_threads()) }
