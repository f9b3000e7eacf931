package refmodel_test

import (
	"fmt"
	"os"

	"twostage/internal/refmodel"
	"twostage/internal/tinymodel"
	"twostage/modeldir"
)

// Example scores one sequence with a checkpoint's reference forward pass.
// A tiny random zerank checkpoint written by internal/tinymodel stands in for
// a downloaded one; the reference computes in float64, so the score is the
// same on every machine.
func Example() {
	dir, _ := os.MkdirTemp("", "ckpt")
	defer os.RemoveAll(dir)
	if err := tinymodel.Write(dir, tinymodel.Spec{Family: modeldir.FamilyZerank, Seed: 1}); err != nil {
		fmt.Println(err)
		return
	}
	m, err := refmodel.Load(dir, modeldir.FamilyZerank)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	raw, err := m.Score([]int64{151644, 8948, 198}, nil)
	fmt.Printf("%.6f %v\n", raw, err)
	// Output: 3.819995 <nil>
}
