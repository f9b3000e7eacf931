package ort_test

import (
	"fmt"
	"path/filepath"

	"twostage/internal/ort"
	"twostage/internal/tinymodel"
	"twostage/modeldir"
)

// ExampleNewSession loads a model on the CPU provider and lists its inputs
// (here the graph of a tiny BERT cross-encoder built by internal/tinymodel).
func ExampleNewSession() {
	dir, err := tinymodel.Dir(modeldir.FamilyBertCrossEncoder)
	if err != nil {
		fmt.Println(err)
		return
	}
	s, err := ort.NewSession(filepath.Join(dir, "model.onnx"), &ort.SessionOptions{Provider: ort.CPU, IntraOpThreads: 2})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	for _, in := range s.Inputs() {
		fmt.Println(in.Name, in.Shape)
	}
	// Output:
	// input_ids [-1 -1]
	// attention_mask [-1 -1]
	// token_type_ids [-1 -1]
}
