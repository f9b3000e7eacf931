package refmodel_test

import (
	"fmt"

	"twostage/convert/refmodel"
	"twostage/modeldir"
)

// Example scores one sequence with a checkpoint's reference forward pass.
func Example() {
	m, err := refmodel.Load("path/to/hf-checkpoint", modeldir.FamilyZerank)
	if err != nil {
		fmt.Println("load:", err != nil)
		return
	}
	raw, err := m.Score([]int64{151644, 8948, 198}, nil)
	fmt.Println(raw, err)
}
