package twostage_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"twostage"
	"twostage/adapters/memstore"
	"twostage/embed"
	"twostage/rerank"
)

// stageClock adds up the time spent inside the embedder, the store's driver
// and the reranker, so the benchmark can report what the pipeline itself
// (validation, the portable Store layer, sorting, cutting, copying) costs.
type stageClock struct{ embed, store, rerank atomic.Int64 }

type timedEmbedder struct {
	twostage.Embedder
	c *stageClock
}

func (e timedEmbedder) EmbedQuery(ctx context.Context, q string) ([]float32, error) {
	t := time.Now()
	defer func() { e.c.embed.Add(int64(time.Since(t))) }()
	return e.Embedder.EmbedQuery(ctx, q)
}

type timedDriver struct {
	*memstore.Driver
	c *stageClock
}

func (d timedDriver) Search(ctx context.Context, q twostage.Query) ([]twostage.Hit, error) {
	t := time.Now()
	defer func() { d.c.store.Add(int64(time.Since(t))) }()
	return d.Driver.Search(ctx, q)
}

type timedReranker struct {
	twostage.Reranker
	c *stageClock
}

func (r timedReranker) Rerank(ctx context.Context, q string, docs []string) ([]twostage.Score, error) {
	t := time.Now()
	defer func() { r.c.rerank.Add(int64(time.Since(t))) }()
	return r.Reranker.Rerank(ctx, q, docs)
}

// BenchmarkPipelineOverhead: Pipeline.Search over memstore with the
// model-free stages, 10k documents, candidate k = 100, top 10. It reports
// the pipeline's own cost as a share of the whole search.
func BenchmarkPipelineOverhead(b *testing.B) {
	ctx := context.Background()
	words := strings.Fields("machine learning data model neural network python language vector search index query " +
		"rank score text token embedding store cache server latency batch graph tree cloud memory disk")
	r := rand.New(rand.NewPCG(1, 1))
	docs := make([]twostage.Document, 10_000)
	for i := range docs {
		var sb strings.Builder
		for range 30 {
			sb.WriteString(words[r.IntN(len(words))])
			sb.WriteByte(' ')
		}
		docs[i] = twostage.Document{ID: fmt.Sprint("d", i), Text: sb.String(), Metadata: map[string]any{"n": int64(i)}}
	}
	hashing, _ := embed.NewHashing(384)
	c := &stageClock{}
	d, _ := memstore.NewDriver(384, twostage.Cosine)
	store := twostage.NewStore(timedDriver{d, c})
	defer store.Close()
	p, err := twostage.NewPipeline(store, timedEmbedder{hashing, c}, timedReranker{rerank.NewLexical(), c}, nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := p.Index(ctx, docs, nil); err != nil {
		b.Fatal(err)
	}
	c.embed.Store(0)
	opts := twostage.SearchOptions{TopN: 10, CandidateK: 100}
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := p.Search(ctx, "neural network search latency", opts); err != nil {
			b.Fatal(err)
		}
	}
	total := time.Since(start)
	b.StopTimer()
	stages := time.Duration(c.embed.Load() + c.store.Load() + c.rerank.Load())
	share := float64(total-stages) / float64(total)
	b.ReportMetric(100*share, "%overhead")
	if b.N > 1 {
		fmt.Printf("pipeline overhead: %.2f%% of %v per search (embed %.1f%%, store %.1f%%, rerank %.1f%%)\n",
			100*share, (total / time.Duration(b.N)).Round(time.Microsecond),
			100*float64(c.embed.Load())/float64(total), 100*float64(c.store.Load())/float64(total),
			100*float64(c.rerank.Load())/float64(total))
	}
}
