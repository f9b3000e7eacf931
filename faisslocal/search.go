//go:build faiss

package faisslocal

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"

	bolt "go.etcd.io/bbolt"

	"twostage"
	"twostage/internal/par"
)

// cand is a search candidate: a slot and its score (higher is better).
type cand struct {
	slot  int64
	score float64
}

// maxOverFetch bounds how many candidates a filtered search asks the index
// for before it scans the matching documents exactly.
const maxOverFetch = 4096

// Search implements driver.Driver.
func (d *Driver) Search(ctx context.Context, q twostage.Query) (hits []twostage.Hit, err error) {
	defer guard("search", &err)()
	unlock, err := d.lockRead(ctx, "search")
	if err != nil {
		return nil, err
	}
	defer unlock()
	return d.searchOne(ctx, q, d.queryVector(q.Vector), nil)
}

// SearchBatch implements driver.BatchSearcher (call it through
// twostage.Store.SearchBatch, which validates the queries): the unfiltered
// queries in one FAISS call on Options.Threads threads, the filtered ones
// one by one. It returns hits best first.
func (d *Driver) SearchBatch(ctx context.Context, qs []twostage.Query) (out [][]twostage.Hit, err error) {
	defer guard("search", &err)()
	unlock, err := d.lockRead(ctx, "search")
	if err != nil {
		return nil, err
	}
	defer unlock()
	out = make([][]twostage.Hit, len(qs))
	// Group the unfiltered queries with the same k into one FAISS call.
	groups := map[int][]int{}
	for i, q := range qs {
		if q.Filter == nil {
			groups[q.K] = append(groups[q.K], i)
		}
	}
	dim := d.man.Dim
	for k, idx := range groups {
		fetch := min(k*max(1, d.refine()), len(d.slots))
		if fetch == 0 {
			continue
		}
		vecs := make([]float32, 0, len(idx)*dim)
		for _, i := range idx {
			vecs = append(vecs, d.queryVector(qs[i].Vector)...)
		}
		cands, err := d.searchIndex(vecs, fetch, d.threads)
		if err != nil {
			return nil, err
		}
		// Turning the candidates into hits runs on Options.Threads
		// goroutines, as the FAISS search did.
		err = par.For(len(idx), d.threads, func(j int) (err error) {
			// Each worker reads docs.db's mapped memory itself.
			defer guard("search", &err)()
			out[idx[j]], err = d.searchOne(ctx, qs[idx[j]], vecs[j*dim:(j+1)*dim], cands[j])
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	for i, q := range qs {
		if q.Filter != nil {
			if out[i], err = d.searchOne(ctx, q, d.queryVector(q.Vector), nil); err != nil {
				return nil, err
			}
		}
		sortHits(out[i])
	}
	return out, nil
}

func sortHits(hits []twostage.Hit) {
	slices.SortStableFunc(hits, func(a, b twostage.Hit) int {
		if c := cmp.Compare(b.RetrievalScore, a.RetrievalScore); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
}

// queryVector is q as the index compares it: unit length for cosine.
func (d *Driver) queryVector(q []float32) []float32 {
	if d.info.Metric == twostage.Cosine {
		return normalized(q, d.man.Dim)
	}
	return q
}

// searchIndex asks FAISS for fetch candidates per query among live slots.
func (d *Driver) searchIndex(qv []float32, fetch, threads int) ([][]cand, error) {
	dim := d.man.Dim
	n := len(qv) / dim
	dist := make([]float32, n*fetch)
	labels := make([]int64, n*fetch)
	p := searchParams{efSearch: d.man.Index.EfSearch, nprobe: d.man.Index.NProbe, refine: d.memRefine(), threads: threads}
	if d.dead > 0 {
		p.bitmap, p.nbits = d.live, int64(len(d.live))
	}
	if err := d.index.search(qv, dim, fetch, p, dist, labels); err != nil {
		return nil, err
	}
	out := make([][]cand, n)
	for i := range out {
		cs := make([]cand, 0, fetch)
		for j := i * fetch; j < (i+1)*fetch; j++ {
			l := labels[j]
			if l < 0 || l >= int64(len(d.slots)) || d.slots[l] == "" {
				continue
			}
			s := float64(dist[j])
			if d.l2 {
				s = -s
			}
			cs = append(cs, cand{slot: l, score: s})
		}
		out[i] = cs
	}
	return out, nil
}

// searchOne answers one query; first, when not nil, holds candidates an
// unfiltered batch search already fetched.
func (d *Driver) searchOne(ctx context.Context, q twostage.Query, qv []float32, first []cand) ([]twostage.Hit, error) {
	live := len(d.slotOf)
	if live == 0 {
		return nil, nil
	}
	k := q.K
	refine := d.refine()
	fetch := k * max(1, refine)
	if q.Filter != nil {
		fetch *= 4
	}
	var hits []twostage.Hit
	tx := &lazyTx{db: d.db}
	defer tx.close()
	err := func() error {
		for {
			fetch = min(fetch, len(d.slots))
			cands := first
			if cands == nil {
				var err error
				cs, err := d.searchIndex(qv, fetch, 1)
				if err != nil {
					return err
				}
				cands = cs[0]
			}
			first = nil
			// Between the native search and reading the documents.
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("faisslocal: search: %w", err)
			}
			got, err := d.hydrate(tx, q, cands, refine > 0, k)
			if err != nil {
				return err
			}
			// An exact index asked for every slot has returned every live
			// document, so the matches are complete.
			complete := d.exact() && fetch >= len(d.slots)
			if len(got) >= min(k, live) || complete {
				hits = got
				return nil
			}
			if q.Filter == nil && !d.exact() && len(cands) < min(fetch, live) && fetch >= live {
				// An approximate index could not reach enough vectors.
				break
			}
			if fetch >= len(d.slots) || fetch >= maxOverFetch*max(1, refine) {
				break
			}
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("faisslocal: search: %w", err)
			}
			fetch *= 4
		}
		btx, err := tx.get()
		if err != nil {
			return err
		}
		hits, err = d.scan(ctx, btx, q)
		return err
	}()
	if err != nil {
		return nil, err
	}
	if len(hits) > k {
		sortHits(hits)
		hits = hits[:k]
	}
	return hits, nil
}

// lazyTx is a bbolt read transaction opened on first use: a search whose
// hits all come from the record cache needs none.
type lazyTx struct {
	db *bolt.DB
	tx *bolt.Tx
}

func (l *lazyTx) get() (*bolt.Tx, error) {
	if l.tx == nil {
		tx, err := l.db.Begin(false)
		if err != nil {
			return nil, fmt.Errorf("faisslocal: search: %w", err)
		}
		l.tx = tx
	}
	return l.tx, nil
}

// bucket returns the named bucket, opening the transaction if needed.
func (l *lazyTx) bucket(name []byte) (*bolt.Bucket, error) {
	tx, err := l.get()
	if err != nil {
		return nil, err
	}
	return tx.Bucket(name), nil
}

func (l *lazyTx) close() {
	if l.tx != nil {
		l.tx.Rollback()
		l.tx = nil
	}
}

// hydrate turns candidates into hits, best first, reading their documents
// and applying the filter; it stops at k hits. With exactScores (IVFPQ
// refinement from docs.db) it first re-scores every candidate from its
// stored vector.
func (d *Driver) hydrate(tx *lazyTx, q twostage.Query, cands []cand, exactScores bool, k int) ([]twostage.Hit, error) {
	if exactScores {
		vb, err := tx.bucket(bucketVecs)
		if err != nil {
			return nil, err
		}
		sim := newScorer(d.info.Metric, q.Vector)
		buf := make([]float32, 0, d.man.Dim)
		for i := range cands {
			id := d.slots[cands[i].slot]
			var err error
			if buf, err = decodeVector(buf[:0], vb.Get([]byte(id)), d.man.Dim); err != nil {
				return nil, fmt.Errorf("document %q: %w", id, err)
			}
			cands[i].score = sim.score(buf)
		}
	}
	slices.SortStableFunc(cands, func(a, b cand) int { return cmp.Compare(b.score, a.score) })
	hits := make([]twostage.Hit, 0, min(k, len(cands)))
	for _, c := range cands {
		if len(hits) == k {
			break
		}
		id := d.slots[c.slot]
		rec := d.cache.get(c.slot)
		if rec == nil {
			db, err := tx.bucket(bucketDocs)
			if err != nil {
				return nil, err
			}
			if rec = db.Get([]byte(id)); rec == nil {
				return nil, fmt.Errorf("faisslocal: search: live slot %d names document %q, which is not stored: %w", c.slot, id, ErrCorrupt)
			}
			d.cache.put(c.slot, rec)
		}
		_, text, md, err := decodeDoc(rec, true)
		if err != nil {
			return nil, fmt.Errorf("document %q: %w", id, err)
		}
		if !q.Filter.Match(md) {
			continue
		}
		h := twostage.Hit{Document: twostage.Document{ID: id, Text: text, Metadata: md}, RetrievalScore: c.score, Score: c.score}
		if q.WithVectors {
			vb, err := tx.bucket(bucketVecs)
			if err != nil {
				return nil, err
			}
			if h.Vector, err = decodeVector(make([]float32, 0, d.man.Dim), vb.Get([]byte(id)), d.man.Dim); err != nil {
				return nil, fmt.Errorf("document %q: %w", id, err)
			}
		}
		hits = append(hits, h)
	}
	return hits, nil
}

// scorer computes exact similarities against one query (as
// twostage.Metric.Similarity does, with the query's norm computed once).
type scorer struct {
	m     twostage.Metric
	q     []float32
	qnorm float64
}

func newScorer(m twostage.Metric, q []float32) scorer {
	s := scorer{m: m, q: q}
	if m == twostage.Cosine {
		s.qnorm = math.Sqrt(dot64(q, q))
	}
	return s
}

func (s scorer) score(v []float32) float64 {
	switch s.m {
	case twostage.Dot:
		return dot64(s.q, v)
	case twostage.L2:
		q := s.q[:len(v)]
		var a0, a1, a2, a3 float64
		i := 0
		for ; i+4 <= len(v); i += 4 {
			d0, d1 := float64(q[i])-float64(v[i]), float64(q[i+1])-float64(v[i+1])
			d2, d3 := float64(q[i+2])-float64(v[i+2]), float64(q[i+3])-float64(v[i+3])
			a0, a1, a2, a3 = a0+d0*d0, a1+d1*d1, a2+d2*d2, a3+d3*d3
		}
		for ; i < len(v); i++ {
			d := float64(q[i]) - float64(v[i])
			a0 += d * d
		}
		return -(a0 + a1 + a2 + a3)
	default:
		vn := math.Sqrt(dot64(v, v))
		if s.qnorm == 0 || vn == 0 {
			return 0
		}
		return dot64(s.q, v) / (s.qnorm * vn)
	}
}

func dot64(a, b []float32) float64 {
	b = b[:len(a)]
	var a0, a1, a2, a3 float64
	i := 0
	for ; i+4 <= len(a); i += 4 {
		a0 += float64(a[i]) * float64(b[i])
		a1 += float64(a[i+1]) * float64(b[i+1])
		a2 += float64(a[i+2]) * float64(b[i+2])
		a3 += float64(a[i+3]) * float64(b[i+3])
	}
	for ; i < len(a); i++ {
		a0 += float64(a[i]) * float64(b[i])
	}
	return a0 + a1 + a2 + a3
}

// scan is the exact fallback: it evaluates the filter on every document and
// scores the matches against their stored vectors.
func (d *Driver) scan(ctx context.Context, tx *bolt.Tx, q twostage.Query) ([]twostage.Hit, error) {
	db, vb := tx.Bucket(bucketDocs), tx.Bucket(bucketVecs)
	top := make([]cand, 0, q.K+1) // min-heap by score: top[0] is the worst kept
	ids := make(map[int64]string)
	var next int64
	vec := make([]float32, 0, d.man.Dim)
	sim := newScorer(d.info.Metric, q.Vector)
	c := db.Cursor()
	i := 0
	for k, rec := c.First(); k != nil; k, rec = c.Next() {
		if i++; i%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("faisslocal: search: %w", err)
			}
		}
		if q.Filter != nil {
			_, _, md, err := decodeDoc(rec, false)
			if err != nil {
				return nil, fmt.Errorf("document %q: %w", k, err)
			}
			if !q.Filter.Match(md) {
				continue
			}
		}
		var err error
		if vec, err = decodeVector(vec[:0], vb.Get(k), d.man.Dim); err != nil {
			return nil, fmt.Errorf("document %q: %w", k, err)
		}
		s := sim.score(vec)
		if len(top) == q.K && s <= top[0].score {
			continue
		}
		ids[next] = string(k)
		top = heapPush(top, cand{slot: next, score: s}, q.K, ids)
		next++
	}
	hits := make([]twostage.Hit, 0, len(top))
	for _, c := range top {
		id := ids[c.slot]
		_, text, md, err := decodeDoc(db.Get([]byte(id)), true)
		if err != nil {
			return nil, fmt.Errorf("document %q: %w", id, err)
		}
		h := twostage.Hit{Document: twostage.Document{ID: id, Text: text, Metadata: md}, RetrievalScore: c.score, Score: c.score}
		if q.WithVectors {
			if h.Vector, err = decodeVector(nil, vb.Get([]byte(id)), d.man.Dim); err != nil {
				return nil, err
			}
		}
		hits = append(hits, h)
	}
	sortHits(hits)
	return hits, nil
}

// heapPush adds c to the min-heap h, keeping at most k elements (dropping
// the worst, whose id it forgets).
func heapPush(h []cand, c cand, k int, ids map[int64]string) []cand {
	h = append(h, c)
	for i := len(h) - 1; i > 0; {
		p := (i - 1) / 2
		if h[p].score <= h[i].score {
			break
		}
		h[p], h[i] = h[i], h[p]
		i = p
	}
	if len(h) <= k {
		return h
	}
	delete(ids, h[0].slot)
	last := len(h) - 1
	h[0] = h[last]
	h = h[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(h) && h[l].score < h[m].score {
			m = l
		}
		if r < len(h) && h[r].score < h[m].score {
			m = r
		}
		if m == i {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	return h
}
