package rerank

import (
	"context"
	"math"
	"os"
	"testing"

	"twostage/convert"
	"twostage/inference"
	"twostage/internal/tinymodel"
	"twostage/modeldir"
)

// TestGPU runs the engine on a GPU execution provider named by
// TWOSTAGE_TEST_PROVIDER (cuda or tensorrt), which needs a GPU build of ONNX
// Runtime (ONNXRUNTIME_LIB) and a GPU; scripts/gpu-check.sh sets both. It checks, for every family, the GPU's
// scores against the float64 reference (fp32 weights, TF32 off) and against
// the same pairs scored alone on the GPU, and fp16 models (fp16 weights,
// fp32 and fp16 compute) against the fp32 model within fp16's precision.
// Without TWOSTAGE_TEST_PROVIDER the same checks run on ONNX Runtime's CPU
// provider, the stand-in that make test runs, so the test never skips.
func TestGPU(t *testing.T) {
	provider := os.Getenv("TWOSTAGE_TEST_PROVIDER")
	if provider == "" {
		provider = inference.ProviderCPU
		t.Log("TWOSTAGE_TEST_PROVIDER unset: running the GPU checks on the CPU provider (scripts/gpu-check.sh sets cuda)")
	}
	popts := map[string]string{}
	if provider == inference.ProviderCUDA {
		popts["use_tf32"] = "0"
	}
	docs := append(append([]string(nil), testDocs...), mixedDocs(100, 11)...)
	for _, family := range crossFamilies {
		t.Run(family, func(t *testing.T) {
			dir := model(t, family)
			ref := reference(t, family)
			tok := testTokenizer(t, dir)
			e := openEngine(t, dir, &EngineOptions{ModelOptions: inference.ModelOptions{Provider: provider, ProviderOptions: popts, MaxBatchSize: 16}})
			got, err := e.Rerank(context.Background(), testQuery, docs)
			if err != nil {
				t.Fatal(err)
			}
			worst := 0.0
			for i, doc := range docs {
				want := referenceRaw(t, ref, tok, family, testQuery, doc)
				rel := math.Abs(got[i].Raw-want) / max(1, math.Abs(want))
				worst = max(worst, rel)
				if rel > 1e-4 {
					t.Errorf("doc %d: %s raw %v, reference %v", i, provider, got[i].Raw, want)
				}
			}
			t.Logf("%s %s: worst relative error vs the float64 reference %.3g", provider, family, worst)
			for _, i := range []int{0, 3, 7, len(docs) - 1} {
				one, err := e.Rerank(context.Background(), testQuery, docs[i:i+1])
				if err != nil {
					t.Fatal(err)
				}
				if !near(one[0].Raw, got[i].Raw, 1e-5) {
					t.Errorf("doc %d: %v alone, %v batched", i, one[0].Raw, got[i].Raw)
				}
			}
			for _, compute := range []string{modeldir.DtypeFP32, modeldir.DtypeFP16} {
				d16 := tinymodel.ModelSpec(t, tinymodel.Spec{Family: family, Seed: 1}, &convert.Options{Dtype: modeldir.DtypeFP16, Compute: compute})
				e16 := openEngine(t, d16, &EngineOptions{ModelOptions: inference.ModelOptions{Provider: provider, ProviderOptions: popts}})
				got16, err := e16.Rerank(context.Background(), testQuery, docs)
				if err != nil {
					t.Fatal(err)
				}
				worst := 0.0
				for i := range docs {
					worst = max(worst, math.Abs(got16[i].Raw-got[i].Raw)/max(1, math.Abs(got[i].Raw)))
				}
				t.Logf("%s %s fp16 weights, %s compute: worst relative difference to fp32 %.3g", provider, family, compute, worst)
				if worst > 2e-2 {
					t.Errorf("fp16 weights, %s compute: worst relative difference %.3g to the fp32 model (want <= 2e-2)", compute, worst)
				}
				e16.Close()
			}
		})
	}
}
