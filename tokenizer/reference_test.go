package tokenizer

import (
	"encoding/json"
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

// nodeJSON runs a Node script with args and decodes the JSON it prints.
func nodeJSON[T any](t testing.TB, script string, args ...string) *T {
	t.Helper()
	out := filepath.Join(t.TempDir(), "node-out.json")
	runNode(t, out, script, args...)
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	v := new(T)
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("node %s output: %v", script, err)
	}
	return v
}

// writeJSON encodes v into a file called name in a fresh temporary
// directory and returns its path.
func writeJSON(t testing.TB, name string, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
