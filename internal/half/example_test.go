package half_test

import (
	"fmt"

	"twostage/internal/half"
)

func Example() {
	h := half.F32ToF16(0.1)
	fmt.Printf("%#04x %v\n", h, half.F16ToF32(h))
	// Output: 0x2e66 0.099975586
}
