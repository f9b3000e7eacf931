//go:build xla

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"math"
	"os"
	"os/exec"
	"strings"
	"testing"

	"twostage/internal/testassets"
	"twostage/internal/tinymodel"
	"twostage/modeldir"
)

// TestXLACLIProcess is the child of TestRerankCommandXLA: run with
// arguments after "--", it runs the CLI on them and exits with its code.
func TestXLACLIProcess(t *testing.T) {
	args := flag.Args()
	if len(args) == 0 || args[0] != "rerank" {
		t.Skip("the CLI child process of TestRerankCommandXLA")
	}
	os.Exit(run(context.Background(), args, os.Stdin, os.Stdout, os.Stderr))
}

// TestRerankCommandXLA: `twostage rerank --model CHECKPOINT --provider xla
// --query Q --json < docs.jsonl`, run from the checkout with no environment
// variables at all (the CPU plugin is found in .deps/pjrt), prints the
// ranking the ONNX Runtime path prints for the converted model, scores
// within 1e-4.
func TestRerankCommandXLA(t *testing.T) {
	testassets.ONNXRuntime(t)
	testassets.PJRTCPUPlugin(t)
	ckpt := tinymodel.Checkpoint(t, tinymodel.Spec{Family: modeldir.FamilyZerank, Seed: 1})
	converted := tinymodel.Model(t, modeldir.FamilyZerank)
	docs := []string{"Go is a programming language.", "Bananas are yellow.", "", "Reranking reorders search results with a cross-encoder.",
		strings.Repeat("A longer document about search, ranking and relevance. ", 12)}
	in := textsJSONL(docs, nil)
	const query = "what reorders search results?"
	want := rerankJSON(t, in, len(docs), "rerank", "--model", converted, "--query", query, "--json")

	cmd := exec.Command(os.Args[0], "-test.run=^TestXLACLIProcess$", "--",
		"rerank", "--model", ckpt, "--provider", "xla", "--query", query, "--json")
	cmd.Env = []string{}
	cmd.Dir = testassets.Root()
	cmd.Stdin = strings.NewReader(in)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("xla: %v: %s", err, errb.String())
	}
	var got struct {
		Results []rerankResult `json:"results"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("xla output %q: %v", out.String(), err)
	}
	if len(got.Results) != len(docs) {
		t.Fatalf("xla: %d results for %d docs", len(got.Results), len(docs))
	}
	for k, w := range want {
		g := got.Results[k]
		if g.Index != w.Index || math.Abs(g.RawScore-w.RawScore) > 1e-4 || math.Abs(g.RelevanceScore-w.RelevanceScore) > 1e-4 {
			t.Errorf("rank %d: xla %+v, ORT %+v", k, g, w)
		}
	}
}

// TestRerankerSpecXLA: the reranker spec (as the CLI's --reranker and the
// server's config take it) opens the xla backend on a checkpoint, with the
// spec's family, and refuses a family that contradicts the spec's kind.
func TestRerankerSpecXLA(t *testing.T) {
	testassets.PJRTCPUPlugin(t)
	ckpt := tinymodel.Checkpoint(t, tinymodel.Spec{Family: modeldir.FamilyZerank, Seed: 1})
	r, err := openReranker(context.Background(), "zerank:"+ckpt+",provider=xla,compute=fp32,batch=4")
	if err != nil {
		t.Fatal(err)
	}
	scores, err := r.Rerank(context.Background(), "what reorders search results?", []string{"a cross-encoder", "bananas"})
	if c, ok := r.(interface{ Close() error }); ok {
		c.Close()
	}
	if err != nil || len(scores) != 2 || scores[0].Raw == scores[1].Raw {
		t.Fatalf("scores %v, %v", scores, err)
	}
	if _, err := openReranker(context.Background(), "zerank:"+ckpt+",provider=xla,family=qwen3-reranker"); err == nil || !strings.Contains(err.Error(), "family=qwen3-reranker on a zerank reranker") {
		t.Errorf("contradicting family: %v", err)
	}
}

// TestEmbedderSpecXLA: the embedder spec onnx:CHECKPOINT,provider=xla runs
// a BERT checkpoint as it is and embeds as the converted model does on
// ONNX Runtime, within 1e-4.
func TestEmbedderSpecXLA(t *testing.T) {
	testassets.ONNXRuntime(t)
	testassets.PJRTCPUPlugin(t)
	ckpt := tinymodel.Checkpoint(t, tinymodel.Spec{Family: modeldir.FamilyBertEmbedding, Seed: 1})
	converted := tinymodel.Model(t, modeldir.FamilyBertEmbedding)
	ctx := context.Background()
	var vecs [2][]float32
	for i, spec := range []string{"onnx:" + converted, "onnx:" + ckpt + ",provider=xla,platform=cpu,compute=fp32"} {
		e, err := openEmbedder(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		vecs[i], err = e.EmbedQuery(ctx, "vector search with approximate nearest neighbours")
		if c, ok := e.(interface{ Close() error }); ok {
			c.Close()
		}
		if err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
	}
	if len(vecs[0]) == 0 || len(vecs[0]) != len(vecs[1]) {
		t.Fatalf("dimensions %d (ORT) and %d (xla)", len(vecs[0]), len(vecs[1]))
	}
	for j := range vecs[0] {
		if math.Abs(float64(vecs[0][j]-vecs[1][j])) > 1e-4 {
			t.Fatalf("dim %d: ORT %v, xla %v", j, vecs[0][j], vecs[1][j])
		}
	}
}
