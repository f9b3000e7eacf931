package layout_test

import (
	"fmt"

	"twostage/adapters/internal/layout"
)

func ExampleUUID() {
	fmt.Println(layout.UUID("123e4567-e89b-12d3-a456-426614174000"))
	fmt.Println(layout.UUID("doc-1"))
	// Output:
	// 123e4567-e89b-12d3-a456-426614174000
	// 0fbc2399-0b64-520a-9542-83fc3bb1e9bf
}
