//go:build faiss

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"twostage/embed"
	"twostage/internal/testassets"
	"twostage/internal/tinymodel"
	"twostage/modeldir"
)

// BenchmarkIndexONNXFaiss measures `twostage index` throughput: short
// generated documents embedded by a random-weight model of
// all-MiniLM-L6-v2's shape (onnx:DIR) into the embedded FAISS store
// (faiss:DIR). Side by side in the same run it measures the embedder alone
// on the same texts in the same batches, so the printed share says how much
// of indexing is embedding. TWOSTAGE_BENCH_DOCS sets the document count
// (default 100000); TWOSTAGE_BENCH_MODEL=tiny uses the 2-layer test model
// instead, to show the costs outside the model; TWOSTAGE_BENCH_INDEX_ONLY=1
// skips the embedder-alone pass. Not part of make test:
//
//	go test -tags faiss -run '^$' -bench IndexONNXFaiss -benchtime 1x -timeout 60m ./cmd/twostage
func BenchmarkIndexONNXFaiss(b *testing.B) {
	testassets.ONNXRuntime(b)
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("TWOSTAGE_BENCH_DOCS")); err == nil && v > 0 {
		n = v
	}
	spec, shape := tinymodel.Spec{Family: modeldir.FamilyBertEmbedding, Hidden: 384, Layers: 6, Heads: 12, Intermediate: 1536, Seed: 1}, "MiniLM-L6 shape"
	if os.Getenv("TWOSTAGE_BENCH_MODEL") == "tiny" { // the 2-layer, 32-wide test model: shows the pipeline's own costs
		spec, shape = tinymodel.Spec{Family: modeldir.FamilyBertEmbedding, Seed: 1}, "tiny 2x32"
	}
	model := tinymodel.ModelSpec(b, spec, nil)
	tmp := b.TempDir()
	docsPath := filepath.Join(tmp, "docs.jsonl")
	texts := writeBenchDocs(b, docsPath, n)
	const batch = 256
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		store := filepath.Join(tmp, fmt.Sprintf("faiss-%d", i))
		var out strings.Builder
		t0 := time.Now()
		code := run(ctx, []string{"index", "--store", "faiss:" + store, "--embedder", "onnx:" + model,
			"--file", docsPath, "--batch", strconv.Itoa(batch)}, strings.NewReader(""), &out, os.Stderr)
		tIndex := time.Since(t0)
		if code != 0 || !strings.Contains(out.String(), fmt.Sprintf("the store holds %d", n)) {
			b.Fatalf("index: exit %d: %s", code, out.String())
		}

		if os.Getenv("TWOSTAGE_BENCH_INDEX_ONLY") == "1" {
			b.ReportMetric(float64(n)/tIndex.Seconds(), "docs/s")
			fmt.Printf("twostage index, %d short documents, onnx (%s, CPU) into faiss (flat): %.0f docs/s (%v)\n",
				n, shape, float64(n)/tIndex.Seconds(), tIndex.Round(time.Millisecond))
			continue
		}
		e, err := embed.NewONNX(model, nil)
		if err != nil {
			b.Fatal(err)
		}
		t0 = time.Now()
		for s := 0; s < n; s += batch {
			if _, err := e.EmbedDocuments(ctx, texts[s:min(s+batch, n)]); err != nil {
				b.Fatal(err)
			}
		}
		tEmbed := time.Since(t0)
		e.Close()

		idx := float64(n) / tIndex.Seconds()
		emb := float64(n) / tEmbed.Seconds()
		b.ReportMetric(idx, "docs/s")
		b.ReportMetric(emb, "embed-only-docs/s")
		fmt.Printf("twostage index, %d short documents, onnx (%s, CPU) into faiss (flat): %.0f docs/s (%v)\n"+
			"  embedder alone on the same texts and batches: %.0f docs/s (%v); embedding is %.0f%% of indexing time\n",
			n, shape, idx, tIndex.Round(time.Millisecond), emb, tEmbed.Round(time.Millisecond), 100*tEmbed.Seconds()/tIndex.Seconds())
	}
}

// writeBenchDocs writes n JSON-lines documents of 4 to 24 words and returns
// their texts.
func writeBenchDocs(tb testing.TB, path string, n int) []string {
	tb.Helper()
	words := strings.Fields("machine learning data model neural network python language vector search index query " +
		"rank score text token embedding store cache server latency batch graph tree cloud memory disk retrieval " +
		"document passage answer question fast slow large small deep shallow open source system design")
	r := rand.New(rand.NewPCG(42, 7))
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriter(f)
	texts := make([]string, n)
	enc := json.NewEncoder(w)
	for i := range texts {
		k := 4 + r.IntN(21)
		ws := make([]string, k)
		for j := range ws {
			ws[j] = words[r.IntN(len(words))]
		}
		texts[i] = strings.Join(ws, " ")
		enc.Encode(map[string]any{"id": fmt.Sprint("d", i), "text": texts[i], "metadata": map[string]any{"n": i % 10}})
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	return texts
}
