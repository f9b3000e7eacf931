package filterfold_test

import (
	"fmt"
	"strings"

	"twostage"
	"twostage/adapters/internal/filterfold"
)

func Example() {
	// A backend whose conditions are strings and whose only metadata field
	// is "lang".
	b := filterfold.Backend[string]{
		Leaf: func(f *twostage.Filter) (filterfold.Cond[string], error) {
			if f.Field != "lang" {
				return filterfold.Never[string](), nil
			}
			return filterfold.Of(fmt.Sprintf("lang = %v", f.Value)), nil
		},
		And: func(p []string) string { return strings.Join(p, " AND ") },
		Or:  func(p []string) string { return strings.Join(p, " OR ") },
		Not: func(c string) string { return "NOT " + c },
	}
	c, _ := filterfold.Translate(twostage.Or(twostage.Eq("lang", "en"), twostage.Eq("year", int64(2020))), b)
	fmt.Println(c.C, c.Outcome == filterfold.Native)
	c, _ = filterfold.Translate(twostage.And(twostage.Eq("lang", "en"), twostage.Eq("year", int64(2020))), b)
	fmt.Println(c.Outcome == filterfold.None)
	// Output:
	// lang = en true
	// true
}
