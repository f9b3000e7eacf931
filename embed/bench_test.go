package embed

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	ortgo "github.com/yalue/onnxruntime_go"

	"twostage/inference"
	"twostage/internal/benchenv"
	"twostage/internal/ort"
	"twostage/internal/record"
	"twostage/internal/testassets"
	"twostage/internal/tinymodel"
	"twostage/modeldir"
)

// miniLM is a random-weight model with all-MiniLM-L6-v2's shape: BERT, 6
// layers, hidden 384, 12 heads, intermediate 1536, the real vocabulary.
var miniLM = tinymodel.Spec{Family: modeldir.FamilyBertEmbedding, Hidden: 384, Layers: 6, Heads: 12, Intermediate: 1536, Seed: 1}

// benchTexts returns n short generated documents of 4 to 40 words.
func benchTexts(n int, seed uint64) []string {
	words := strings.Fields("machine learning data model neural network python language vector search index query " +
		"rank score text token embedding store cache server latency batch graph tree cloud memory disk retrieval " +
		"document passage answer question fast slow large small deep shallow open source system design")
	r := rand.New(rand.NewPCG(seed, 7))
	out := make([]string, n)
	for i := range out {
		k := 4 + r.IntN(37)
		var sb strings.Builder
		for j := 0; j < k; j++ {
			if j > 0 {
				sb.WriteByte(' ')
			}
			sb.WriteString(words[r.IntN(len(words))])
		}
		out[i] = sb.String()
	}
	return out
}

type recordedBatch struct {
	ids, mask []int64
	rows, seq int
}

// BenchmarkONNXVsRawORT compares the embedder's throughput (tokenizing,
// batching by length under the token budget, running, pooling,
// normalizing) with the raw ONNX Runtime session running exactly the same
// padded batches from pre-built tensors: the engine's ceiling. It prints
// embeddings/s of both and their ratio (target >= 0.9), measured
// interleaved in one run. TWOSTAGE_BENCH_TEXTS sets the text count (1024).
//
//	go test -run '^$' -bench ONNXVsRawORT -benchtime 4x ./embed
func BenchmarkONNXVsRawORT(b *testing.B) {
	testassets.ONNXRuntime(b)
	n := benchenv.Int("TWOSTAGE_BENCH_TEXTS", 1024)
	dir := tinymodel.ModelSpec(b, miniLM, nil)
	texts := benchTexts(n, 1)
	ctx := context.Background()
	// The embedder runs on a recording backend (ONNX Runtime on the CPU,
	// through the inference.Backend seam) that records the warm-up's
	// batches.
	var (
		mu      sync.Mutex
		on      = true
		batches []recordedBatch
	)
	rec := record.Backend(inference.ProviderCPU, func(b *inference.Batch) {
		mu.Lock()
		defer mu.Unlock()
		if on {
			batches = append(batches, recordedBatch{slices.Clone(b.IDs), slices.Clone(b.Mask), b.Rows, b.Seq})
		}
	})
	rt, err := inference.New(&inference.Options{Backends: map[string]inference.Backend{"record": rec}})
	if err != nil {
		b.Fatal(err)
	}
	defer rt.Close()
	e, err := NewONNX(dir, &ONNXOptions{Runtime: rt, ModelOptions: inference.ModelOptions{Provider: "record"}})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	if _, err := e.EmbedDocuments(ctx, texts); err != nil { // warm-up, records the shapes
		b.Fatal(err)
	}
	mu.Lock()
	on = false
	mu.Unlock()
	// The raw session gets the embedder's session options (spinning off on
	// the CPU, as the runtime sets it).
	raw, err := ort.NewSession(modeldir.ModelPath(dir), &ort.SessionOptions{ConfigEntries: map[string]string{"session.intra_op.allow_spinning": "0"}})
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	padded := 0
	for _, x := range batches {
		padded += x.rows * x.seq
	}
	runRaw := func() {
		for _, x := range batches {
			shape := ortgo.NewShape(int64(x.rows), int64(x.seq))
			ids, _ := ortgo.NewTensor(shape, x.ids)
			mask, _ := ortgo.NewTensor(shape, x.mask)
			types, _ := ortgo.NewTensor(shape, make([]int64, len(x.ids)))
			outs := []ortgo.Value{nil}
			if err := raw.Run([]ortgo.Value{ids, mask, types}, outs); err != nil {
				b.Fatal(err)
			}
			outs[0].Destroy()
			ids.Destroy()
			mask.Destroy()
			types.Destroy()
		}
	}
	runRaw() // warm-up
	var tRaw, tEmb time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		runEmb := func() {
			t0 := time.Now()
			if _, err := e.EmbedDocuments(ctx, texts); err != nil {
				b.Fatal(err)
			}
			tEmb += time.Since(t0)
		}
		if i%2 == 1 { // alternate the order, so neither side always runs first
			runEmb()
		}
		t0 := time.Now()
		runRaw()
		tRaw += time.Since(t0)
		if i%2 == 0 {
			runEmb()
		}
	}
	b.StopTimer()
	rawRate := float64(n*b.N) / tRaw.Seconds()
	embRate := float64(n*b.N) / tEmb.Seconds()
	st := e.Stats()
	b.ReportMetric(embRate, "emb/s")
	b.ReportMetric(rawRate, "raw-emb/s")
	b.ReportMetric(embRate/rawRate, "ratio")
	fmt.Printf("onnx embedder vs raw ORT session (MiniLM-L6 shape, %d texts, %d batches, %d padded tokens, fill %.2f, %d runs):\n"+
		"  embedder %.0f emb/s   raw session %.0f emb/s   ratio %.3f (target >= 0.9)\n",
		n, len(batches), padded, st.Fill(), b.N, embRate, rawRate, embRate/rawRate)
}
