package convert_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"

	"twostage/convert"
	"twostage/internal/tinymodel"
	"twostage/modeldir"
)

// Example converts a Hugging Face checkpoint to an fp16 model directory. A
// tiny random zerank checkpoint written by internal/tinymodel stands in for
// a downloaded zerank-2.
func Example() {
	tmp, _ := os.MkdirTemp("", "convert")
	defer os.RemoveAll(tmp)
	os.Mkdir(filepath.Join(tmp, "models"), 0o755)
	ckpt := filepath.Join(tmp, "zerank-2")
	if err := tinymodel.Write(ckpt, tinymodel.Spec{Family: modeldir.FamilyZerank, Seed: 1}); err != nil {
		fmt.Println(err)
		return
	}
	var done, total int64
	cfg, err := convert.Convert(context.Background(), ckpt, filepath.Join(tmp, "models", "zerank-2"), &convert.Options{
		Dtype:    modeldir.DtypeFP16,
		Progress: func(d, t int64) { done, total = d, t },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.Family, cfg.ScoreTokens, done == total)
	// Output: zerank [9454] true
}

// Example_plainGraph converts to the plain graph: standard ONNX operators
// only (no com.microsoft kernels), for runtimes other than ONNX Runtime.
func Example_plainGraph() {
	tmp, _ := os.MkdirTemp("", "convert")
	defer os.RemoveAll(tmp)
	os.Mkdir(filepath.Join(tmp, "models"), 0o755)
	ckpt := filepath.Join(tmp, "bert-checkpoint")
	if err := tinymodel.Write(ckpt, tinymodel.Spec{Family: modeldir.FamilyBertCrossEncoder, Seed: 1}); err != nil {
		fmt.Println(err)
		return
	}
	cfg, err := convert.Convert(context.Background(), ckpt, filepath.Join(tmp, "models", "bert-plain"), &convert.Options{
		Graph: convert.GraphPlain,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	graph, _ := os.ReadFile(filepath.Join(tmp, "models", "bert-plain", "model.onnx"))
	fmt.Println(cfg.Family, cfg.Dtype, "com.microsoft operators:", bytes.Contains(graph, []byte("com.microsoft")))
	// Output: bert-cross-encoder fp32 com.microsoft operators: false
}
