package qdrantstore

import (
	"context"
	"math"

	"github.com/qdrant/go-client/qdrant"

	"twostage"
	"twostage/driver"
	"twostage/internal/par"
)

var _ driver.Checker = (*Driver)(nil)

const (
	checkPage    = 500 // points per scroll request
	probeSize    = 100 // points per filtered probe query
	checkWorkers = 4   // queries in flight by default
	reachLimit   = 5   // hits of the own-vector search that must include the point
	// scoreTolerance bounds |reported - expected| score, relative to
	// max(1, |expected|).
	scoreTolerance = 1e-3
)

// Check implements driver.Checker. It scrolls through the collection's
// points with their payloads and vectors (checkPage at a time, in id
// order) and checks each against the search side: a point with no vector
// under Options.VectorName is missing; for the others one query per
// probeSize points, with one of their vectors and a has_id filter on them,
// must return each at the score the check computes from the stored vectors
// (else missing, or mismatched at another score). With
// CheckOptions.Exhaustive each point is also searched for with its own
// vector, without a filter, and must be among the first reachLimit hits
// (else missing: an HNSW graph that does not reach it; Qdrant's HNSW is
// approximate, so this finds recall misses, not lost data); not under Dot,
// where a point need not rank high for its own vector. That costs about one
// query per point; without it, one per probeSize.
//
// Extra index entries cannot be listed through Qdrant's API (a point is its
// payload and vectors; Qdrant maintains its indexes from them); Extra stays
// empty.
//
// Crashes: Qdrant applies an upsert to its write-ahead log before it
// answers (the adapter always waits), replays the log on restart, and builds
// its HNSW indexes from the stored vectors, so no journal like
// weaviatestore's is kept: a restart is not known to lose acknowledged
// points or their searchability. This is from Qdrant's documentation; the
// tests here run against the stand-in (qdranttest), which keeps its data
// across Stop and Start and searches exactly. What the check finds on a
// real Qdrant is points without the store's vector (written by other
// tools), vectors other than the stored ones, and, with Exhaustive, HNSW
// recall misses.
//
// Repair upserts each finding again as it is stored (whole payload, every
// vector), with wait=true, which makes Qdrant index it anew; a point with no
// vector cannot be repaired and stays counted.
func (d *Driver) Check(ctx context.Context, opts twostage.CheckOptions) (twostage.CheckReport, error) {
	var rep twostage.CheckReport
	first := opts.FirstIDsOrDefault()
	workers := opts.Workers
	if workers == 0 {
		workers = checkWorkers
	}
	var offset *qdrant.PointId
	for {
		var page []*qdrant.RetrievedPoint
		var next *qdrant.PointId
		err := d.do(ctx, "check: scroll", func(ctx context.Context) error {
			var err error
			page, next, err = d.client.ScrollAndOffset(ctx, &qdrant.ScrollPoints{
				CollectionName: d.collection, Offset: offset, Limit: qdrant.PtrOf(uint32(checkPage)),
				WithPayload: qdrant.NewWithPayload(true), WithVectors: qdrant.NewWithVectors(true),
			})
			return err
		})
		if err != nil {
			return rep, err
		}
		state, err := d.probe(ctx, page, workers, opts.Exhaustive)
		if err != nil {
			return rep, err
		}
		var fix []*qdrant.PointStruct
		for i, p := range page {
			id := d.pointDocID(p)
			switch state[i] {
			case stateNoVector:
				rep.Missing.Add(id, first)
			case stateMissing:
				rep.Missing.Add(id, first)
			case stateMismatched:
				rep.Mismatched.Add(id, first)
			}
			if state[i] == stateMissing || state[i] == stateMismatched {
				fix = append(fix, &qdrant.PointStruct{Id: p.GetId(), Payload: p.GetPayload(), Vectors: vectorsIn(p.GetVectors())})
			}
		}
		rep.Checked += len(page)
		if opts.Repair && len(fix) > 0 {
			err := d.do(ctx, "repair", func(ctx context.Context) error {
				_, err := d.client.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: d.collection, Wait: qdrant.PtrOf(true), Points: fix})
				return err
			})
			if err != nil {
				return rep, err
			}
			rep.Repaired += len(fix)
		}
		if opts.Progress != nil {
			opts.Progress(rep.Checked)
		}
		if next == nil || len(page) == 0 {
			return rep, nil
		}
		offset = next
	}
}

const (
	stateFound = iota
	stateNoVector
	stateMissing
	stateMismatched
)

func (d *Driver) pointDocID(p *qdrant.RetrievedPoint) string {
	if s, ok := p.GetPayload()[d.opts.IDKey].GetKind().(*qdrant.Value_StringValue); ok {
		return s.StringValue
	}
	return pointIDString(p.GetId())
}

// vectorOf is the stored dense vector the store searches (nil when none).
func (d *Driver) vectorOf(p *qdrant.RetrievedPoint) []float32 {
	var vo *qdrant.VectorOutput
	if d.opts.VectorName == "" {
		vo = p.GetVectors().GetVector()
	} else {
		vo = p.GetVectors().GetVectors().GetVectors()[d.opts.VectorName]
	}
	return vo.GetDenseVector().GetData()
}

// vectorsIn turns read vectors back into vectors to write.
func vectorsIn(v *qdrant.VectorsOutput) *qdrant.Vectors {
	if one := v.GetVector(); one != nil {
		return qdrant.NewVectorsDense(one.GetDenseVector().GetData())
	}
	m := map[string]*qdrant.Vector{}
	for name, vo := range v.GetVectors().GetVectors() {
		if dense := vo.GetDenseVector(); dense != nil {
			m[name] = qdrant.NewVectorDense(dense.GetData())
		}
	}
	return qdrant.NewVectorsMap(m)
}

func (d *Driver) probe(ctx context.Context, page []*qdrant.RetrievedPoint, workers int, exhaustive bool) ([]int, error) {
	state := make([]int, len(page))
	var idx []int // points with a vector
	for i, p := range page {
		if len(d.vectorOf(p)) != d.info.Dim {
			state[i] = stateNoVector
			continue
		}
		idx = append(idx, i)
	}
	n := (len(idx) + probeSize - 1) / probeSize
	err := par.For(n, workers, func(b int) error {
		part := idx[b*probeSize : min((b+1)*probeSize, len(idx))]
		q := d.vectorOf(page[part[0]])
		ids := make([]*qdrant.PointId, len(part))
		for j, i := range part {
			ids[j] = page[i].GetId()
		}
		got, err := d.query(ctx, q, &qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewHasID(ids...)}}, len(part))
		if err != nil {
			return err
		}
		for _, i := range part {
			s, ok := got[pointIDString(page[i].GetId())]
			switch {
			case !ok:
				state[i] = stateMissing
			default:
				if want := d.expectedScore(q, d.vectorOf(page[i])); math.Abs(float64(s)-want) > scoreTolerance*math.Max(1, math.Abs(want)) {
					state[i] = stateMismatched
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !exhaustive || d.info.Metric == twostage.Dot {
		// Under the dot product a point need not be near the top of a
		// search with its own vector (a longer vector in about the same
		// direction scores higher): only the filtered probe applies.
		return state, nil
	}
	err = par.For(len(idx), workers, func(j int) error {
		i := idx[j]
		if state[i] != stateFound {
			return nil
		}
		got, err := d.query(ctx, d.vectorOf(page[i]), nil, reachLimit)
		if err != nil {
			return err
		}
		if _, ok := got[pointIDString(page[i].GetId())]; !ok {
			state[i] = stateMissing
		}
		return nil
	})
	return state, err
}

// query runs a nearest-neighbour query and returns the hits' scores by
// point id.
func (d *Driver) query(ctx context.Context, v []float32, f *qdrant.Filter, limit int) (map[string]float32, error) {
	req := &qdrant.QueryPoints{
		CollectionName: d.collection, Query: qdrant.NewQueryDense(v), Filter: f,
		Limit: qdrant.PtrOf(uint64(limit)), WithPayload: qdrant.NewWithPayload(false),
	}
	if d.opts.VectorName != "" {
		req.Using = qdrant.PtrOf(d.opts.VectorName)
	}
	var pts []*qdrant.ScoredPoint
	err := d.do(ctx, "check: query", func(ctx context.Context) error {
		var err error
		pts, err = d.client.Query(ctx, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make(map[string]float32, len(pts))
	for _, p := range pts {
		out[pointIDString(p.GetId())] = p.GetScore()
	}
	return out, nil
}

// expectedScore is Qdrant's score of stored vector v for query q (both as
// stored: cosine vectors are normalized).
func (d *Driver) expectedScore(q, v []float32) float64 {
	if d.info.Metric == twostage.L2 {
		return math.Sqrt(-twostage.L2.Similarity(q, v)) // Qdrant's Euclid score is the distance
	}
	return twostage.Dot.Similarity(q, v)
}
