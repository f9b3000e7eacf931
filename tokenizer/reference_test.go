package tokenizer

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"twostage/internal/testassets"
)

// refEnv locates the Rust reference (Hugging Face tokenizers' Node binding)
// and the two tokenizer files. Missing assets skip the test locally and fail
// it under TWOSTAGE_REQUIRE_DEPS=1.
type refEnv struct {
	node, binding, qwen, bert string
}

func referenceEnv(t testing.TB) refEnv {
	t.Helper()
	e := refEnv{
		binding: testassets.Path(t, "npm/node_modules/@anush008/tokenizers"),
		qwen:    testassets.Qwen3Tokenizer(t),
		bert:    testassets.BertTokenizer(t),
	}
	node, err := exec.LookPath("node")
	if err != nil {
		testassets.Missing(t, "node (Node.js, for the Rust reference tokenizer)")
	}
	e.node = node
	return e
}

// runNode runs a Node script with args, writing its stdout to outPath.
func runNode(t testing.TB, outPath, script string, args ...string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		testassets.Missing(t, "node")
	}
	abs, err := filepath.Abs(script)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(outPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(node, append([]string{abs}, args...)...)
	cmd.Stdout = f
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node %s: %v", script, err)
	}
}
