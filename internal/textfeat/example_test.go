package textfeat_test

import (
	"fmt"

	"twostage/internal/textfeat"
)

// The model-free stages split the query and each document with Words, so
// embed.Hashing and rerank.Lexical see the same words. Reusing dst across
// calls saves an allocation per text.
func ExampleWords() {
	var words []string
	for _, s := range []string{"What is Machine-Learning?", "Café, naïve: 3.14"} {
		words = textfeat.Words(words[:0], s)
		fmt.Printf("%q\n", words)
	}
	// Output:
	// ["what" "is" "machine" "learning"]
	// ["café" "naïve" "3" "14"]
}
