package filterspec_test

import (
	"fmt"

	"twostage"
	"twostage/internal/filterspec"
)

func ExampleMatch() {
	md := map[string]any{"year": int64(2010), "tags": []string{"go", "db"}}
	for _, f := range []*twostage.Filter{
		twostage.Lt("year", 2010),
		twostage.Lte("year", 2010),
		twostage.Eq("tags", "db"),
		twostage.Not(twostage.Exists("lang")),
	} {
		fmt.Println(filterspec.Match(f, md))
	}
	// Output:
	// false
	// true
	// true
	// true
}
