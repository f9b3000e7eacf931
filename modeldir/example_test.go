package modeldir_test

import (
	"fmt"
	"os"

	"twostage/modeldir"
)

func Example() {
	dir, _ := os.MkdirTemp("", "model")
	defer os.RemoveAll(dir)
	c, _ := modeldir.Defaults(modeldir.FamilyZerank)
	c.MaxLength, c.HiddenSize, c.Dtype = 8192, 2560, modeldir.DtypeFP16
	if err := modeldir.Save(dir, &c); err != nil {
		fmt.Println(err)
		return
	}
	loaded, err := modeldir.Load(dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(loaded.Family, loaded.ScoreTokens, loaded.Output())
	fmt.Printf("%.4f\n", loaded.Calibration.Apply(5)) // sigmoid(5/5)
	// Output:
	// zerank [9454] logits
	// 0.7311
}
