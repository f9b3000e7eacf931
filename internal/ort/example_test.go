package ort_test

import (
	"fmt"

	"twostage/internal/ort"
)

// ExampleNewSession loads a model on the CPU provider and lists its inputs.
func ExampleNewSession() {
	s, err := ort.NewSession("model.onnx", &ort.SessionOptions{Provider: ort.CPU, IntraOpThreads: 2})
	if err != nil {
		fmt.Println(err != nil)
		return
	}
	defer s.Close()
	for _, in := range s.Inputs() {
		fmt.Println(in.Name, in.Shape)
	}

}
