package xla_test

import (
	"context"
	"fmt"

	"twostage/internal/xla"
)

// Example scores one right-padded batch of two token sequences with a
// Hugging Face checkpoint on the CPU plugin, in bfloat16 (a build with
// -tags xla; without it Open says so).
func Example() {
	e, err := xla.Open("path/to/hf-checkpoint", &xla.Options{Platform: xla.PlatformCPU, Compute: xla.ComputeBF16})
	if err != nil {
		fmt.Println("open failed")
		return
	}
	defer e.Close()
	ids := []int64{151644, 8948, 198, 151643, 151644, 872, 198, 9454}
	mask := []int64{1, 1, 1, 0, 1, 1, 1, 1}
	raw, err := e.Run(context.Background(), ids, mask, nil, 2, 4)
	fmt.Println(len(raw), err)
	// Output:
	// open failed
}

// ExampleExecutor_RunPrefixed scores two rows that continue one shared
// prefix (the template and query tokens): the prefix runs once, and the
// rows' own tokens attend to its keys and values on the device.
func ExampleExecutor_RunPrefixed() {
	e, err := xla.Open("path/to/hf-checkpoint", nil)
	if err != nil {
		fmt.Println("open failed")
		return
	}
	defer e.Close()
	prefix := []int64{151644, 8948, 198, 3555, 374}
	ids := []int64{9454, 151643, 872, 198} // each row's tokens after the prefix
	mask := []int64{1, 0, 1, 1}
	raw, err := e.RunPrefixed(context.Background(), [][]int64{prefix}, []int{0, 0}, ids, mask, 2, 2)
	fmt.Println(len(raw), err)
	// Output:
	// open failed
}

// ExampleExecutor_Prefix runs a shared prefix once and keeps its keys and
// values on the device for two batches of rows that continue it.
func ExampleExecutor_Prefix() {
	e, err := xla.Open("path/to/hf-checkpoint", nil)
	if err != nil {
		fmt.Println("open failed")
		return
	}
	defer e.Close()
	ctx := context.Background()
	past, err := e.Prefix(ctx, [][]int64{{151644, 8948, 198, 3555, 374}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer past.Close()
	for _, ids := range [][]int64{{9454, 872}, {198, 151643}} { // two batches of two one-token rows
		raw, err := e.RunPast(ctx, past, []int{0, 0}, ids, []int64{1, 1}, 2, 1)
		fmt.Println(len(raw), err)
	}
	// Output:
	// open failed
}

// ExampleBuckets shows the compiled shape a batch of 5 inputs of at most
// 100 tokens runs in.
func ExampleBuckets() {
	fmt.Println(xla.Buckets(5, 100, 8192))
	// Output:
	// 6 128
}
