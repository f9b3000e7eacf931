// Package testassets finds the files that scripts/deps.sh fetches into .deps/
// (tokenizers, the ONNX Runtime library, servers) for tests.
//
// A test that needs an asset calls Path; when the asset is missing the test is
// skipped, unless TWOSTAGE_REQUIRE_DEPS=1 (set by `make test` and CI), in which
// case it fails: CI never passes by skipping.
package testassets

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Root returns the repository root (the directory holding go.mod).
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Deps returns the directory that scripts/deps.sh fills (.deps, or $DEPS).
func Deps() string {
	if d := os.Getenv("DEPS"); d != "" {
		return d
	}
	return filepath.Join(Root(), ".deps")
}

// Required reports whether missing assets fail tests instead of skipping them.
func Required() bool { return os.Getenv("TWOSTAGE_REQUIRE_DEPS") == "1" }

// Path returns the absolute path of rel inside the deps directory, skipping or
// failing t when it does not exist.
func Path(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join(Deps(), rel)
	if _, err := os.Stat(p); err != nil {
		Missing(t, p+" (run scripts/deps.sh or make deps)")
	}
	return p
}

// Missing skips t, or fails it when assets are required, naming what is missing.
func Missing(t testing.TB, what string) {
	t.Helper()
	if Required() {
		t.Fatalf("required test asset missing: %s", what)
	}
	t.Skipf("test asset missing: %s", what)
}

// Qwen3Tokenizer is the path of Qwen3's tokenizer.json (zerank-2's tokenizer).
func Qwen3Tokenizer(t testing.TB) string { return Path(t, "tokenizers/qwen3.json") }

// BertTokenizer is the path of BERT uncased's tokenizer.json (all-MiniLM-L6-v2).
func BertTokenizer(t testing.TB) string { return Path(t, "tokenizers/bert-uncased.json") }

// PJRTCPUPlugin is the path of the fetched PJRT CPU plugin (XLA, -tags xla).
func PJRTCPUPlugin(t testing.TB) string { return Path(t, "pjrt/pjrt_c_api_cpu_plugin.so") }

// ONNXRuntime is the path of the fetched ONNX Runtime shared library; the
// ONNXRUNTIME_LIB environment variable takes precedence.
func ONNXRuntime(t testing.TB) string {
	if p := os.Getenv("ONNXRUNTIME_LIB"); p != "" {
		return p
	}
	return Path(t, "lib/libonnxruntime.so")
}

// MiniLM is the directory of the real sentence-transformers/all-MiniLM-L6-v2
// checkpoint (config.json, model.safetensors, tokenizer.json and the
// sentence-transformers files), unpacked by scripts/deps.sh minilm.
func MiniLM(t testing.TB) string {
	t.Helper()
	Path(t, "models/all-MiniLM-L6-v2/model.safetensors")
	return Path(t, "models/all-MiniLM-L6-v2")
}

// WriteFiles writes each name -> body of files under dir (names are
// slash-separated paths; folders are created), failing t on an error.
func WriteFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// CopyDir copies the files of the flat directory src (no subdirectories)
// into a new t.TempDir() and returns it, failing t on an error: a test
// damages or edits the copy and leaves src as it was.
func CopyDir(t testing.TB, src string) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}
