package rerank

import (
	"context"
	"strings"
	"testing"
	"time"

	"twostage"
	"twostage/internal/testassets"
	"twostage/internal/tinymodel"
	"twostage/modeldir"
)

// BenchmarkLongDocuments scores 16 documents of about 3,000 tokens on the
// tiny zerank model (max length 512) truncated and chunked (windows of up
// to 512 tokens beside the query, at most 8), and prints, measured side by
// side in one run, the chunked call's time against the truncated one's and
// the share of the chunked call spent finding windows (tokenizer only):
//
//	go test -run '^$' -bench LongDocuments -benchtime 1x ./rerank
func BenchmarkLongDocuments(b *testing.B) {
	testassets.ONNXRuntime(b)
	dir := tinymodel.Model(b, modeldir.FamilyZerank)
	e, err := Open(dir, &EngineOptions{MaxLength: 512})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	docs := make([]string, 16)
	for i := range docs {
		docs[i] = strings.Repeat("Rerankers read the query and the document together, token by token. ", 200+10*i)
	}
	ctx := context.Background()
	chunk := twostage.RerankOptions{LongDocuments: twostage.Chunk}
	timeIt := func(f func()) time.Duration {
		t := time.Now()
		f()
		return time.Since(t)
	}
	for i := 0; i < b.N; i++ {
		trunc := timeIt(func() {
			if _, err := e.Rerank(ctx, testQuery, docs); err != nil {
				b.Fatal(err)
			}
		})
		chunked := timeIt(func() {
			if _, err := e.RerankWith(ctx, testQuery, docs, chunk); err != nil {
				b.Fatal(err)
			}
		})
		n := e.maxLen - len(e.prompt.pair(e.prompt.query(testQuery), "").IDs)
		wins := 0
		find := timeIt(func() {
			for _, d := range docs {
				wins += len(windows(e.prompt.tok, d, n, 0, defaultMaxChunks))
			}
		})
		b.ReportMetric(float64(chunked)/float64(trunc), "chunked/truncated")
		b.ReportMetric(float64(find)/float64(chunked), "window-search-share")
		b.ReportMetric(float64(wins)/float64(len(docs)), "windows/doc")
	}
}
