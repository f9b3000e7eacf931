package tinymodel_test

import (
	"fmt"
	"os"

	"twostage/internal/tinymodel"
	"twostage/modeldir"
)

// ExamplePlan lists what a tiny zerank checkpoint holds.
func ExamplePlan() {
	ts, cfg, err := tinymodel.Plan(tinymodel.Spec{Family: modeldir.FamilyZerank})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(ts), ts[0].Name, ts[0].Shape, cfg["architectures"])
	// Output: 24 model.embed_tokens.weight [151936 64] [Qwen3ForCausalLM]
}

// ExampleWrite writes a tiny BERT cross-encoder checkpoint in Hugging Face
// layout; tests usually call Model(t, family) instead, which also converts
// it (once per process) and returns the model directory.
func ExampleWrite() {
	dir, _ := os.MkdirTemp("", "ckpt")
	defer os.RemoveAll(dir)
	err := tinymodel.Write(dir, tinymodel.Spec{Family: modeldir.FamilyBertCrossEncoder, Seed: 7, Layers: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		fmt.Println(e.Name())
	}
	// Output:
	// config.json
	// model.safetensors
	// tokenizer.json
}
