package safetensors_test

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"twostage/convert/safetensors"
)

func Example() {
	dir, _ := os.MkdirTemp("", "ckpt")
	defer os.RemoveAll(dir)
	w, _ := safetensors.Create(filepath.Join(dir, safetensors.SingleFile),
		[]safetensors.Header{{Name: "w", Dtype: safetensors.F32, Shape: []int64{2}}}, nil)
	for _, v := range []float32{0.5, -1} {
		w.Write(binary.LittleEndian.AppendUint32(nil, math.Float32bits(v)))
	}
	w.Close()

	c, err := safetensors.Open(dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	v, info, _ := c.ReadFloat32("w")
	fmt.Println(info.Dtype, info.Shape, v)
	// Output: F32 [2] [0.5 -1]
}
