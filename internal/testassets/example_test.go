package testassets_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"twostage/internal/testassets"
)

// A test that needs a fetched asset asks for it by name and uses the path
// it gets back. When the asset is missing the test is skipped, or fails
// under TWOSTAGE_REQUIRE_DEPS=1 (make test, CI). An Example cannot receive
// a *testing.T, so this one only builds the test function.
func Example() {
	testTokenize := func(t *testing.T) {
		path := testassets.Qwen3Tokenizer(t) // .deps/tokenizers/qwen3.json
		if _, err := os.ReadFile(path); err != nil {
			t.Fatal(err)
		}
		// A test that edits model files works on a copy.
		dir := testassets.CopyDir(t, testassets.MiniLM(t))
		testassets.WriteFiles(t, dir, map[string]string{"README.md": "an edited copy"})
	}
	_ = testTokenize
}

// Root is the repository root wherever the test runs from, so a test can
// read the tree's own files (docker-compose.yml, the Dockerfile).
func ExampleRoot() {
	_, err := os.Stat(filepath.Join(testassets.Root(), "go.mod"))
	fmt.Println("go.mod found:", err == nil)
	// Output:
	// go.mod found: true
}
