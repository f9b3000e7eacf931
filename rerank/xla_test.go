//go:build xla

package rerank

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"twostage"
	"twostage/errdefs"
	"twostage/inference"
	"twostage/internal/benchenv"
	"twostage/internal/leaktest"
	"twostage/internal/testassets"
	"twostage/internal/tinymodel"
	"twostage/internal/xla"
	"twostage/modeldir"
)

// checkpoint returns the tiny Hugging Face checkpoint that model(t, family)
// was converted from, skipping or failing without the CPU PJRT plugin.
func checkpoint(t *testing.T, family string) string {
	t.Helper()
	testassets.PJRTCPUPlugin(t)
	return tinymodel.Checkpoint(t, tinymodel.Spec{Family: family, Seed: 1})
}

func xlaOptions(family string) *EngineOptions {
	return &EngineOptions{ModelOptions: inference.ModelOptions{Provider: inference.ProviderXLA, Family: family, MaxBatchSize: 4}}
}

// TestXLAMatchesORT: the xla backend on the checkpoint as it is scores
// every cross-encoder family as the ONNX Runtime backend does on the
// converted model, within 1e-4, and calibrates the same way.
func TestXLAMatchesORT(t *testing.T) {
	for _, family := range crossFamilies {
		t.Run(family, func(t *testing.T) {
			ortE := openEngine(t, model(t, family), &EngineOptions{ModelOptions: inference.ModelOptions{MaxBatchSize: 4}})
			xlaE := openEngine(t, checkpoint(t, family), xlaOptions(family))
			if xlaE.Family() != family || xlaE.MaxLength() != ortE.MaxLength() {
				t.Errorf("xla engine: family %s, max length %d; ORT: %s, %d", xlaE.Family(), xlaE.MaxLength(), ortE.Family(), ortE.MaxLength())
			}
			ctx := context.Background()
			want, err := ortE.Rerank(ctx, testQuery, testDocs)
			if err != nil {
				t.Fatal(err)
			}
			got, err := xlaE.Rerank(ctx, testQuery, testDocs)
			if err != nil {
				t.Fatal(err)
			}
			for i := range want {
				if !near(got[i].Raw, want[i].Raw, 1e-4) || !near(got[i].Score, want[i].Score, 1e-4) {
					t.Errorf("doc %d: xla %+v, ORT %+v", i, got[i], want[i])
				}
			}
		})
	}
}

// TestXLASharedPrefix: on the XLA backend, calls of different query
// lengths batched together score with the shared prefix on as with it off
// (each pair whole), within 1e-5 relative, for both decoder families; the
// prefixes run once per batch and the calls share batches.
func TestXLASharedPrefix(t *testing.T) {
	docs := append(append([]string(nil), testDocs...), testDocs[0], testDocs[2])
	for _, family := range []string{modeldir.FamilyZerank, modeldir.FamilyQwen3Reranker} {
		t.Run(family, func(t *testing.T) {
			dir := checkpoint(t, family)
			open := func(mode PrefixMode) *Engine {
				rt, err := inference.New(nil)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { rt.Close() })
				return openEngine(t, dir, &EngineOptions{Runtime: rt, SharedPrefix: mode, ModelOptions: inference.ModelOptions{
					Provider: inference.ProviderXLA, Family: family, MaxBatchSize: 64, MaxWait: 200 * time.Millisecond, MinFill: -1}})
			}
			on, off := open(PrefixOn), open(PrefixOff)
			got, want := rerankAll(t, on, docs, twostage.RerankOptions{}), rerankAll(t, off, docs, twostage.RerankOptions{})
			if st := on.Stats(); st.PrefixTokens == 0 || st.Batches >= int64(len(prefixQueries)) {
				t.Errorf("shared-prefix engine stats %+v: want prefixes run, and calls sharing batches", st)
			}
			if st := off.Stats(); st.PrefixTokens != 0 {
				t.Errorf("engine with SharedPrefix off ran %d prefix tokens", st.PrefixTokens)
			}
			for c := range prefixQueries {
				for i := range docs {
					if g, w := got[c][i].Raw, want[c][i].Raw; math.Abs(g-w) > 1e-5*math.Abs(w) || math.IsNaN(g) {
						t.Errorf("query %d doc %d: shared prefix %.8g, whole %.8g", c, i, g, w)
					}
				}
			}
		})
	}
}

// TestXLAStatsCountBuckets: the padding that buckets add shows in the
// engine's padded tokens (and so in Fill).
func TestXLAStatsCountBuckets(t *testing.T) {
	e := openEngine(t, checkpoint(t, modeldir.FamilyZerank), xlaOptions(""))
	if _, err := e.Rerank(context.Background(), testQuery, testDocs[:1]); err != nil {
		t.Fatal(err)
	}
	st := e.Stats()
	B, S := xla.Buckets(1, int(st.RealTokens), e.MaxLength())
	if st.Batches != 1 || st.PaddedTokens != int64(B*S) || st.PaddedTokens <= st.RealTokens {
		t.Errorf("one pair of %d tokens: %d batches, %d padded tokens; want 1 batch of %d x %d", st.RealTokens, st.Batches, st.PaddedTokens, B, S)
	}
}

// TestXLABatchInvariance: a document's score does not depend on the call,
// the batch or the bucket it runs in.
func TestXLABatchInvariance(t *testing.T) {
	e := openEngine(t, checkpoint(t, modeldir.FamilyQwen3Reranker), xlaOptions(modeldir.FamilyQwen3Reranker))
	ctx := context.Background()
	docs := mixedDocs(24, 2)
	all, err := e.Rerank(ctx, testQuery, docs)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 7, 23} {
		one, err := e.Rerank(ctx, testQuery, docs[i:i+1])
		if err != nil {
			t.Fatal(err)
		}
		if !near(one[0].Raw, all[i].Raw, 1e-5) {
			t.Errorf("doc %d: %v alone, %v in a call of %d", i, one[0].Raw, all[i].Raw, len(docs))
		}
	}
}

// TestXLABadInputSameErrors: the inputs ONNX Runtime's engine refuses are
// refused with the same errors.
func TestXLABadInputSameErrors(t *testing.T) {
	ortE := openEngine(t, model(t, modeldir.FamilyBertCrossEncoder), nil)
	xlaE := openEngine(t, checkpoint(t, modeldir.FamilyBertCrossEncoder), xlaOptions(""))
	ctx := context.Background()
	for _, tc := range badInputs {
		t.Run(tc.name, func(t *testing.T) {
			_, werr := ortE.Rerank(ctx, tc.query, tc.docs)
			_, gerr := xlaE.Rerank(ctx, tc.query, tc.docs)
			if !errors.Is(gerr, errdefs.ErrInvalidInput) || werr == nil || gerr.Error() != werr.Error() {
				t.Errorf("xla: %v; ORT: %v", gerr, werr)
			}
		})
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := xlaE.Rerank(cctx, "query", []string{"a"}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// TestXLACloseDuringLoad: 8 callers in a loop; Close finishes what is queued
// and every caller returns, each with ErrClosed in the end.
func TestXLACloseDuringLoad(t *testing.T) {
	leaktest.Check(t)
	e, err := Open(checkpoint(t, modeldir.FamilyZerank), &EngineOptions{ModelOptions: inference.ModelOptions{Provider: inference.ProviderXLA, MaxBatchSize: 8}})
	if err != nil {
		t.Fatal(err)
	}
	closeUnderLoad(t, e, 60*time.Second)
}

func TestXLAOpenErrors(t *testing.T) {
	ckpt := checkpoint(t, modeldir.FamilyZerank)
	for _, tc := range []struct {
		name string
		dir  string
		o    EngineOptions
		want error
	}{
		{"converted directory", model(t, modeldir.FamilyZerank), EngineOptions{ModelOptions: inference.ModelOptions{Provider: inference.ProviderXLA}}, errdefs.ErrUnsupported},
		{"embedding checkpoint", tinymodel.Checkpoint(t, tinymodel.Spec{Family: modeldir.FamilyBertEmbedding, Seed: 1}), EngineOptions{ModelOptions: inference.ModelOptions{Provider: inference.ProviderXLA}}, errdefs.ErrUnsupported},
		{"missing directory", t.TempDir(), EngineOptions{ModelOptions: inference.ModelOptions{Provider: inference.ProviderXLA}}, errdefs.ErrNotFound},
		{"bad compute", ckpt, EngineOptions{ModelOptions: inference.ModelOptions{Provider: inference.ProviderXLA, Compute: "int4"}}, errdefs.ErrInvalidInput},
		{"unknown platform", ckpt, EngineOptions{ModelOptions: inference.ModelOptions{Provider: inference.ProviderXLA, Platform: "tpu"}}, errdefs.ErrInvalidInput},
		{"xla options on ORT", ckpt, EngineOptions{ModelOptions: inference.ModelOptions{Compute: "bf16"}}, errdefs.ErrInvalidInput},
		{"max length above the model's", ckpt, EngineOptions{ModelOptions: inference.ModelOptions{Provider: inference.ProviderXLA}, MaxLength: 1 << 20}, errdefs.ErrInvalidInput},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Open(tc.dir, &tc.o)
			if !errors.Is(err, tc.want) {
				t.Errorf("Open: %v, want %v", err, tc.want)
			}
			if e != nil {
				e.Close()
			}
		})
	}
}

// BenchmarkSharedPrefixXLA is BenchmarkSharedPrefix's measurement on the
// XLA backend (the CPU PJRT plugin, fp32): the engine's throughput with the
// shared prefix over without (above 1 it pays), for calls of 100 documents
// of 300 to 500 tokens and queries of 15 and 300 tokens, the two engines
// alternating calls in one run, each timed by its fastest call, on the
// same random-weight zerank-architecture checkpoint (hidden 256, 4 layers,
// the real vocabulary and tokenizer):
//
//	go test -tags xla -run '^$' -bench SharedPrefixXLA -benchtime 1x -timeout 30m ./rerank
//
// TWOSTAGE_BENCH_QUERY_TOKENS, TWOSTAGE_BENCH_DOCS, TWOSTAGE_BENCH_ROUNDS
// (default 2), TWOSTAGE_BENCH_HIDDEN and TWOSTAGE_BENCH_LAYERS change the
// workload as there. The first calls compile the programs of the buckets
// they need and are not timed.
func BenchmarkSharedPrefixXLA(b *testing.B) {
	testassets.PJRTCPUPlugin(b)
	spec := benchenv.ZerankSpec()
	spec.Dtype = "F32"
	dir := tinymodel.Checkpoint(b, spec)
	rt, err := inference.New(nil)
	if err != nil {
		b.Fatal(err)
	}
	defer rt.Close()
	open := func(mode PrefixMode) *Engine {
		e, err := Open(dir, &EngineOptions{Runtime: rt, SharedPrefix: mode,
			ModelOptions: inference.ModelOptions{Provider: inference.ProviderXLA, Family: modeldir.FamilyZerank}})
		if err != nil {
			b.Fatal(err)
		}
		return e
	}
	on, off := open(PrefixOn), open(PrefixOff)
	defer on.Close()
	defer off.Close()
	w := newPrefixWorkload(b, on.prompt.tok, 2)
	b.Logf("xla cpu plugin, model: zerank architecture, hidden %d, %d layers, %d+%d heads of 64, fp32; %d documents of 300-500 tokens per call, %d calls per engine and query",
		spec.Hidden, spec.Layers, spec.Heads, spec.KVHeads, len(w.docs), w.rounds)
	for i := 0; i < b.N; i++ {
		for _, n := range w.lengths {
			m := w.measure(b, w.query(n), on, off, nil)
			ratio := float64(m.off.wall) / float64(m.on.wall)
			b.Logf("xla, query %3d tokens: shared prefix over whole pairs: %.3fx the throughput (fastest call: %.1f vs %.1f pairs/s); %.0f prefix tokens run per call; worst relative score difference %.2g",
				n, ratio, w.pairsPerSec(m.on), w.pairsPerSec(m.off), m.prefix, m.worst)
			b.ReportMetric(ratio, fmt.Sprintf("xla-on/off-q%d", n))
		}
	}
}
