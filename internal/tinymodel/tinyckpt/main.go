// Command tinyckpt writes a small random Hugging Face checkpoint
// (config.json, model.safetensors, tokenizer.json from .deps/tokenizers) of
// the given family and sizes, for scripts that compare twostage's converted
// graphs with other exporters on the same weights (scripts/exporters-compare.sh).
// It lives under internal/ with the package it wraps: its checkpoints have
// random weights and serve the project's comparisons, not users' models.
//
//	go run ./internal/tinymodel/tinyckpt --family zerank --hidden 256 --layers 2 --dir /tmp/ckpt
package main

import (
	"flag"
	"fmt"
	"os"

	"twostage/internal/tinymodel"
)

func main() {
	var s tinymodel.Spec
	dir := flag.String("dir", "", "output directory (created)")
	flag.StringVar(&s.Family, "family", "zerank", "model family")
	flag.IntVar(&s.Hidden, "hidden", 0, "hidden size (0: tinymodel's default)")
	flag.IntVar(&s.Layers, "layers", 0, "layers")
	flag.IntVar(&s.Heads, "heads", 0, "attention heads")
	flag.IntVar(&s.KVHeads, "kv-heads", 0, "key/value heads (Qwen3)")
	flag.IntVar(&s.HeadDim, "head-dim", 0, "head size (Qwen3)")
	flag.IntVar(&s.Intermediate, "intermediate", 0, "MLP size")
	flag.IntVar(&s.Vocab, "vocab", 0, "vocabulary size")
	flag.IntVar(&s.MaxPositions, "max-positions", 0, "max_position_embeddings")
	flag.StringVar(&s.Dtype, "dtype", "F32", "safetensors dtype: F32, F16 or BF16")
	flag.Uint64Var(&s.Seed, "seed", 1, "weight seed")
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "tinyckpt: --dir is required")
		os.Exit(2)
	}
	if err := tinymodel.Write(*dir, s); err != nil {
		fmt.Fprintln(os.Stderr, "tinyckpt:", err)
		os.Exit(1)
	}
}
