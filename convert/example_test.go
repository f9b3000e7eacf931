package convert_test

import (
	"context"
	"fmt"

	"twostage/convert"
	"twostage/modeldir"
)

// Example converts a Hugging Face checkpoint to an fp16 model directory.
func Example() {
	cfg, err := convert.Convert(context.Background(), "path/to/zerank-2", "models/zerank-2", &convert.Options{
		Dtype:    modeldir.DtypeFP16,
		Progress: func(done, total int64) { fmt.Printf("\r%d/%d", done, total) },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.Family, cfg.ScoreTokens)
}

// Example_plainGraph converts to the plain graph: standard ONNX operators
// only (no com.microsoft kernels), for runtimes other than ONNX Runtime.
func Example_plainGraph() {
	_, err := convert.Convert(context.Background(), "path/to/bert-checkpoint", "models/bert-plain", &convert.Options{
		Graph: convert.GraphPlain,
	})
	fmt.Println(err != nil)
}
