package twostage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"twostage/internal/validate"
)

// Embedder turns text into vectors for the first stage. Implementations are
// in package embed. Every method is safe for concurrent use.
type Embedder interface {
	// EmbedDocuments returns one vector per text, in order.
	EmbedDocuments(ctx context.Context, texts []string) ([][]float32, error)
	// EmbedQuery returns the vector of a search query (some models embed
	// queries and passages differently).
	EmbedQuery(ctx context.Context, text string) ([]float32, error)
	// Dim is the length of every vector returned.
	Dim() int
}

// Score is a reranker's judgement of one document.
type Score struct {
	// Score is calibrated to [0,1], higher is more relevant.
	Score float64 `json:"score"`
	// Raw is the model's uncalibrated output (a logit for cross-encoders).
	Raw float64 `json:"raw"`
	// Chunk is the window of the document that gave Score when the
	// document was scored in chunks (RerankOptions.LongDocuments = Chunk);
	// nil otherwise.
	Chunk *Span `json:"chunk,omitempty"`
}

// Reranker scores documents against a query. Implementations are in package
// rerank (the shared ONNX engine, remote APIs, the model-free lexical one).
// Rerank returns one Score per document, aligned with docs; zero documents
// give an empty result. It is safe for concurrent use. RerankWith, and so
// Pipeline.Search, treats a NaN Score as a failure of the reranker
// (ErrUnavailable, under the OnRerankError policy).
type Reranker interface {
	Rerank(ctx context.Context, query string, docs []string) ([]Score, error)
}

// Policy says what Pipeline.Search does when the reranker fails or times out.
type Policy int

const (
	// FailOnRerankError returns the reranker's error.
	FailOnRerankError Policy = iota
	// DegradeOnRerankError returns the first-stage order, with the result
	// marked Degraded and the cause attached.
	DegradeOnRerankError
)

func (p Policy) valid() bool { return p == FailOnRerankError || p == DegradeOnRerankError }

// PipelineOptions configure a Pipeline. The zero value is usable; an
// unknown policy or a negative timeout or batch is ErrInvalidInput.
type PipelineOptions struct {
	// OnRerankError is the default policy for reranker failures.
	OnRerankError Policy
	// RerankTimeout bounds the rerank stage of each search; 0 means no bound
	// beyond the caller's context.
	RerankTimeout time.Duration
	// IndexBatch is the number of documents Index embeds and upserts at once
	// (default 256).
	IndexBatch int
}

// Pipeline is retrieve-then-rerank over one Store. It is safe for
// concurrent use; it holds no resources of its own (close the Store,
// Embedder and Reranker yourself).
type Pipeline struct {
	store    *Store
	embedder Embedder
	reranker Reranker
	opts     PipelineOptions
}

// NewPipeline returns a Pipeline. The embedder may be nil when queries come
// with vectors (SearchOptions.Vector); the reranker may be nil for
// first-stage-only search. Nil options mean the documented defaults.
func NewPipeline(store *Store, embedder Embedder, reranker Reranker, opts *PipelineOptions) (*Pipeline, error) {
	if store == nil {
		return nil, fmt.Errorf("twostage: new pipeline: nil store: %w", ErrInvalidInput)
	}
	p := &Pipeline{store: store, embedder: embedder, reranker: reranker}
	if opts != nil {
		p.opts = *opts
	}
	switch o := p.opts; {
	case !o.OnRerankError.valid():
		return nil, fmt.Errorf("twostage: new pipeline: unknown rerank error policy %d: %w", o.OnRerankError, ErrInvalidInput)
	case o.RerankTimeout < 0:
		return nil, fmt.Errorf("twostage: new pipeline: rerank timeout %v is negative: %w", o.RerankTimeout, ErrInvalidInput)
	case o.IndexBatch < 0:
		return nil, fmt.Errorf("twostage: new pipeline: index batch %d is negative: %w", o.IndexBatch, ErrInvalidInput)
	}
	if p.opts.IndexBatch <= 0 {
		p.opts.IndexBatch = 256
	}
	if embedder != nil && embedder.Dim() != store.Info().Dim {
		return nil, fmt.Errorf("twostage: new pipeline: embedder gives %d dimensions, store holds %d: %w",
			embedder.Dim(), store.Info().Dim, ErrDimension)
	}
	return p, nil
}

// Store returns the pipeline's store (nil for a Pipeline not made by
// NewPipeline).
func (p *Pipeline) Store() *Store {
	if p == nil {
		return nil
	}
	return p.store
}

// errNoStore is the error of Search and Index on a Pipeline not made by
// NewPipeline.
var errNoStore = fmt.Errorf("pipeline has no store (make it with NewPipeline): %w", ErrInvalidInput)

// SearchOptions configure one Pipeline.Search.
type SearchOptions struct {
	// TopN is the number of hits returned (default 10). CheckLimits states
	// the rules for TopN, CandidateK and MinScore.
	TopN int
	// CandidateK is the number of first-stage candidates reranked (default
	// max(TopN, 50)). It must be at least TopN when the search reranks; a
	// search without the rerank stage retrieves max(TopN, CandidateK).
	CandidateK int
	// MinScore, in [0,1], drops reranked hits whose RerankScore is below it. It is
	// applied after reranking, never to first-stage scores: a search without
	// the rerank stage (NoRerank, no reranker, a Vector and no query text)
	// refuses it (ErrInvalidInput, see CheckLimits), and it has no effect on
	// a degraded result.
	MinScore float64
	// Filter restricts the first stage.
	Filter *Filter
	// Vector, when set, is used as the query vector instead of embedding the
	// query text. With no query text the hits are not reranked.
	Vector []float32
	// Policy overrides the pipeline's OnRerankError for this call.
	Policy *Policy
	// NoRerank skips the rerank stage.
	NoRerank bool
	// Hybrid, when set, uses the store's native hybrid search for the first
	// stage with this alpha (1 = pure vector); the store must support it.
	Hybrid *float64
	// Rerank are the per-call options passed to the reranker
	// (instruction, long documents, token caps); set, they need a reranker
	// that implements OptionsReranker (ErrUnsupported otherwise), and a
	// search that reranks (ErrInvalidInput otherwise: NoRerank, no
	// reranker, a Vector and no query text).
	Rerank RerankOptions
}

// Result is the outcome of Pipeline.Search.
type Result struct {
	// Hits are the final ranking, best first: at most TopN.
	Hits    []Hit   `json:"hits"`
	Timings Timings `json:"timings"`
	// Candidates is the number of first-stage hits.
	Candidates int `json:"candidates"`
	// Reranked reports whether the rerank stage ran and succeeded.
	Reranked bool `json:"reranked"`
	// Degraded reports that the reranker failed and the hits are in
	// first-stage order; Cause says why.
	Degraded bool  `json:"degraded"`
	Cause    error `json:"-"`
}

// Timings are the per-stage wall-clock durations of one Pipeline.Search.
type Timings struct {
	Embed    time.Duration `json:"embed_ns"`
	Retrieve time.Duration `json:"retrieve_ns"`
	Rerank   time.Duration `json:"rerank_ns"`
	Total    time.Duration `json:"total_ns"`
}

// Search embeds query, retrieves CandidateK hits, reranks them, drops those
// under MinScore and returns the best TopN with per-stage timings.
func (p *Pipeline) Search(ctx context.Context, query string, opts SearchOptions) (*Result, error) {
	start := time.Now()
	if err := p.checkSearch(query, &opts); err != nil {
		return nil, err
	}
	res := &Result{}

	vec := opts.Vector
	if vec == nil {
		t := time.Now()
		var err error
		vec, err = p.embedder.EmbedQuery(ctx, query)
		res.Timings.Embed = time.Since(t)
		if err != nil {
			return nil, fmt.Errorf("twostage: search: embed query: %w", err)
		}
	}

	t := time.Now()
	var hits []Hit
	var err error
	if opts.Hybrid != nil {
		hits, err = p.store.hybridSearch(ctx, HybridQuery{Text: query, Vector: vec, K: opts.CandidateK, Filter: opts.Filter, Alpha: *opts.Hybrid})
	} else {
		hits, err = p.store.search(ctx, Query{Vector: vec, K: opts.CandidateK, Filter: opts.Filter})
	}
	res.Timings.Retrieve = time.Since(t)
	if err != nil {
		return nil, fmt.Errorf("twostage: search: retrieve: %w", err)
	}
	res.Candidates = len(hits)

	if p.reranks(query, &opts) && len(hits) > 0 {
		t = time.Now()
		scores, err := p.rerank(ctx, query, hits, opts.Rerank)
		res.Timings.Rerank = time.Since(t)
		switch {
		case err == nil:
			hits = applyScores(hits, scores, opts.MinScore)
			res.Reranked = true
		case ctx.Err() != nil:
			// The caller gave up: that is not the reranker's failure.
			return nil, fmt.Errorf("twostage: search: rerank: %w", err)
		case p.policy(opts) == DegradeOnRerankError:
			res.Degraded, res.Cause = true, err
		default:
			return nil, fmt.Errorf("twostage: search: rerank: %w", err)
		}
	}
	if len(hits) > opts.TopN {
		hits = hits[:opts.TopN]
	}
	res.Hits = hits
	res.Timings.Total = time.Since(start)
	return res, nil
}

func (p *Pipeline) policy(opts SearchOptions) Policy {
	if opts.Policy != nil {
		return *opts.Policy
	}
	return p.opts.OnRerankError
}

// reranks reports whether a search has a rerank stage: a reranker, no
// NoRerank, and query text (a search by vector alone has no text to rerank
// against: first-stage order stands).
func (p *Pipeline) reranks(query string, opts *SearchOptions) bool {
	return p.reranker != nil && !opts.NoRerank && strings.TrimSpace(query) != ""
}

func (p *Pipeline) checkSearch(query string, opts *SearchOptions) error {
	if p == nil || p.store == nil {
		return fmt.Errorf("twostage: search: %w", errNoStore)
	}
	if strings.TrimSpace(query) == "" && opts.Vector == nil {
		return fmt.Errorf("twostage: search: empty query: %w", ErrInvalidInput)
	}
	if err := validate.CheckText("query", query); err != nil {
		return err
	}
	if opts.Policy != nil && !opts.Policy.valid() {
		return fmt.Errorf("twostage: search: unknown rerank error policy %d: %w", *opts.Policy, ErrInvalidInput)
	}
	rerank := p.reranks(query, opts)
	if err := CheckLimits(opts.TopN, opts.CandidateK, opts.MinScore, rerank); err != nil {
		return fmt.Errorf("twostage: search: %w", err)
	}
	if rerank {
		// A caller's error, refused before the search rather than
		// degraded to first-stage order.
		if err := opts.Rerank.checkFor(p.reranker); err != nil {
			return fmt.Errorf("twostage: search: %w", err)
		}
	} else if !opts.Rerank.IsZero() {
		return fmt.Errorf("twostage: search: rerank options (instruction, long documents, token caps) apply to the rerank stage, and this search does not rerank: %w", ErrInvalidInput)
	}
	resolveLimits(opts, rerank)
	switch {
	case opts.Vector == nil && p.embedder == nil:
		return fmt.Errorf("twostage: search: no embedder and no query vector: %w", ErrInvalidInput)
	case opts.Hybrid != nil && !p.store.SupportsHybrid():
		return fmt.Errorf("twostage: search: store has no hybrid search: %w", ErrUnsupported)
	}
	return nil
}

func (p *Pipeline) rerank(ctx context.Context, query string, hits []Hit, opts RerankOptions) ([]Score, error) {
	if p.opts.RerankTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.opts.RerankTimeout)
		defer cancel()
	}
	docs := make([]string, len(hits))
	for i, h := range hits {
		docs[i] = h.Text
	}
	scores, err := RerankWith(ctx, p.reranker, query, docs, opts)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, ErrUnavailable) {
			err = fmt.Errorf("reranker timed out after %v: %w: %w", p.opts.RerankTimeout, ErrUnavailable, err)
		}
		return nil, err
	}
	return scores, nil // RerankWith checked their count and NaN
}

// applyScores sets the rerank scores, drops hits under minScore and sorts by
// the new score (ties keep first-stage order).
func applyScores(hits []Hit, scores []Score, minScore float64) []Hit {
	out := hits[:0]
	for i, h := range hits {
		h.RerankScore, h.RerankRaw, h.Reranked, h.RerankChunk = scores[i].Score, scores[i].Raw, true, scores[i].Chunk
		h.Score = h.RerankScore
		if h.RerankScore >= minScore {
			out = append(out, h)
		}
	}
	sortByScore(out)
	return out
}

// Index embeds the documents that have no vector and upserts all of them, in
// batches. docs are not modified. progress, when not nil, is called after each batch with the
// number of documents done.
//
// The whole request is validated (ids, duplicate ids across all of docs,
// texts, vectors, metadata) and every missing vector is computed before
// anything is written, so a rejected request writes nothing. If the store
// fails while writing, the error names the documents written before it.
func (p *Pipeline) Index(ctx context.Context, docs []Document, progress func(done int)) error {
	if err := p.checkIndex(docs); err != nil {
		return fmt.Errorf("twostage: index: %w", err)
	}
	all := slices.Clone(docs)
	for start := 0; start < len(all); start += p.opts.IndexBatch {
		batch := all[start:min(start+p.opts.IndexBatch, len(all))]
		if err := p.embedMissing(ctx, batch); err != nil {
			return fmt.Errorf("twostage: index: documents %d-%d: %w (nothing written)", start, start+len(batch)-1, err)
		}
		for _, d := range batch {
			if err := p.store.checkVector(d.Vector); err != nil {
				return fmt.Errorf("twostage: index: embedding of %q: %w (nothing written)", d.ID, err)
			}
		}
	}
	for start := 0; start < len(all); start += p.opts.IndexBatch {
		batch := all[start:min(start+p.opts.IndexBatch, len(all))]
		if err := p.store.Upsert(ctx, batch); err != nil {
			return fmt.Errorf("twostage: index: documents %d-%d (documents before %d are written): %w", start, start+len(batch)-1, start, err)
		}
		if progress != nil {
			progress(start + len(batch))
		}
	}
	return nil
}

// checkIndex validates every document of an Index request.
func (p *Pipeline) checkIndex(docs []Document) error {
	if p == nil || p.store == nil {
		return errNoStore
	}
	seen := make(map[string]int, len(docs))
	for i, d := range docs {
		if err := checkID(d.ID); err != nil {
			return fmt.Errorf("document %d: %w", i, err)
		}
		if j, dup := seen[d.ID]; dup {
			return fmt.Errorf("documents %d and %d share id %q: %w", j, i, d.ID, ErrInvalidInput)
		}
		seen[d.ID] = i
		if err := validate.CheckText("text of "+d.ID, d.Text); err != nil {
			return err
		}
		if len(d.Vector) > 0 {
			if err := p.store.checkVector(d.Vector); err != nil {
				return fmt.Errorf("document %q: %w", d.ID, err)
			}
		} else if p.embedder == nil {
			return fmt.Errorf("document %q has no vector and the pipeline has no embedder: %w", d.ID, ErrInvalidInput)
		}
		if _, err := validate.NormalizeMetadata(d.Metadata); err != nil {
			return fmt.Errorf("document %q: %w", d.ID, err)
		}
	}
	return nil
}

func (p *Pipeline) embedMissing(ctx context.Context, batch []Document) error {
	var idx []int
	var texts []string
	for i, d := range batch {
		if len(d.Vector) == 0 {
			if err := validate.CheckText("text of "+d.ID, d.Text); err != nil {
				return err
			}
			idx = append(idx, i)
			texts = append(texts, d.Text)
		}
	}
	if len(idx) == 0 {
		return nil
	}
	if p.embedder == nil {
		return fmt.Errorf("document %q has no vector and the pipeline has no embedder: %w", batch[idx[0]].ID, ErrInvalidInput)
	}
	vecs, err := p.embedder.EmbedDocuments(ctx, texts)
	if err != nil {
		return fmt.Errorf("embed: %w", err)
	}
	if len(vecs) != len(texts) {
		return fmt.Errorf("embedder returned %d vectors for %d texts: %w", len(vecs), len(texts), ErrUnavailable)
	}
	for j, i := range idx {
		batch[i].Vector = vecs[j]
	}
	return nil
}
