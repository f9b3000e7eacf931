package spec

import (
	"cmp"
	"context"
	"net/url"
	"strconv"
	"strings"

	"twostage"
	"twostage/faisslocal"
)

// The faiss:DIR scheme opens the embedded FAISS store. Built without
// -tags faiss, opening it returns faisslocal's "build with -tags faiss"
// error, so a spec written for a FAISS build says what it needs.
func init() {
	mustRegister(RegisterStore("faiss", "embedded FAISS store (build with -tags faiss); faiss:DIR, or faiss:DIR?index=flat|hnsw|ivfflat|ivfpq"+
		" with m, ef_construction, ef_search, nlist, nprobe, pq_m, nbits, train_size", openFaiss,
		func(ctx context.Context, spec string, info twostage.Info) (*twostage.Store, error) {
			return openFaissWith(spec, info, true)
		}))
}

func openFaiss(ctx context.Context, spec string, info twostage.Info) (*twostage.Store, error) {
	return openFaissWith(spec, info, false)
}

// openFaissWith opens a faiss:DIR store, read-only (faisslocal.Options.
// ReadOnly: beside a writer, in a read-only directory) when readOnly is set.
func openFaissWith(spec string, info twostage.Info, readOnly bool) (*twostage.Store, error) {
	dir, query, _ := strings.Cut(Arg(spec), "?")
	if dir == "" {
		return nil, badf("faiss store needs a directory: faiss:DIR")
	}
	opts := &faisslocal.Options{Dim: info.Dim, Metric: info.Metric, ReadOnly: readOnly}
	if query != "" {
		idx, err := faissIndexSpec(query)
		if err != nil {
			return nil, err
		}
		opts.Index = idx
	}
	return faisslocal.Open(dir, opts)
}

// faissIndexSpec parses "index=hnsw&m=32&ef_search=64" and the like.
func faissIndexSpec(query string) (faisslocal.IndexSpec, error) {
	q, err := url.ParseQuery(query)
	if err != nil {
		return nil, badf("faiss store options %q: %v", query, err)
	}
	known := map[string]bool{"index": true}
	num := func(name string) (int, error) {
		known[name] = true
		s := q.Get(name)
		if s == "" {
			return 0, nil
		}
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return 0, badf("faiss store option %s=%q: want a positive integer", name, s)
		}
		return n, nil
	}
	var errs []error
	get := func(name string) int {
		n, err := num(name)
		if err != nil {
			errs = append(errs, err)
		}
		return n
	}
	var spec faisslocal.IndexSpec
	switch kind := q.Get("index"); kind {
	case "", "flat":
		spec = faisslocal.Flat{}
	case "hnsw":
		spec = faisslocal.HNSW{M: get("m"), EfConstruction: get("ef_construction"), EfSearch: get("ef_search")}
	case "ivfflat":
		spec = faisslocal.IVFFlat{NList: get("nlist"), NProbe: get("nprobe"), TrainSize: get("train_size")}
	case "ivfpq":
		spec = faisslocal.IVFPQ{NList: get("nlist"), NProbe: get("nprobe"), M: get("pq_m"), NBits: get("nbits"), TrainSize: get("train_size")}
	default:
		return nil, badf("faiss store: unknown index %q (flat, hnsw, ivfflat or ivfpq)", kind)
	}
	if len(errs) > 0 {
		return nil, errs[0]
	}
	for k := range q {
		if !known[k] {
			return nil, badf("faiss store: option %q does not apply to index %q", k, cmp.Or(q.Get("index"), "flat"))
		}
	}
	return spec, nil
}
