package onnxgraph_test

import (
	"fmt"
	"os"
	"path/filepath"

	og "twostage/convert/onnxgraph"
)

// Example builds y = relu(x) * 2 and saves it with inline weights.
func Example() {
	dir, _ := os.MkdirTemp("", "graph")
	defer os.RemoveAll(dir)
	g, err := og.New("double-relu", filepath.Join(dir, "spill"))
	if err != nil {
		fmt.Println(err)
		return
	}
	x := g.Input("x", og.Float, "batch", 4)
	two := g.ConstFloat(og.Float, []float32{2})
	g.Output(g.Op("Mul", []string{g.Op("Relu", []string{x}), two}), "y", og.Float, "batch", 4)
	if err := g.Save(filepath.Join(dir, "model.onnx"), filepath.Join(dir, "model.onnx.data"), false); err != nil {
		fmt.Println(err)
		return
	}
	_, err = os.Stat(filepath.Join(dir, "model.onnx"))
	fmt.Println(err == nil)
	// Output: true
}
