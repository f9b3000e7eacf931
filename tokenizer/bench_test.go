package tokenizer

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// TestBenchmarkVsReference measures single-threaded encoding speed of the Go
// package and of Hugging Face's Rust tokenizers (Node binding) on the
// conformance corpus in one run and prints both side by side, plus load
// times and the heap held by a loaded tokenizer. It is a benchmark, not a
// check: it asserts nothing about speed. Run:
//
//	TWOSTAGE_BENCH=1 go test -run TestBenchmarkVsReference -v ./tokenizer
func TestBenchmarkVsReference(t *testing.T) {
	if os.Getenv("TWOSTAGE_BENCH") != "1" {
		t.Skip("set TWOSTAGE_BENCH=1 to run the speed comparison")
	}
	ref := referenceEnv(t)
	texts := conformanceCorpus(corpusSize)
	corpusPath, _ := writeCorpus(t, texts)
	bytes := 0
	for _, s := range texts {
		bytes += len(sanitize(s))
	}
	t.Logf("corpus: %d texts, %.2f MB (UTF-8); encode with special tokens, one text at a time, one thread, best of 3 rounds", len(texts), float64(bytes)/1e6)
	t.Logf("%-13s %10s %10s %8s   %12s %12s", "tokenizer", "Go MB/s", "Rust MB/s", "Go/Rust", "Go load", "Rust load")
	for _, tc := range []struct{ name, path string }{{"qwen3", ref.qwen}, {"bert-uncased", ref.bert}} {
		// Rust reference, timed inside node.
		out := filepath.Join(t.TempDir(), "bench.json")
		runNode(t, out, "testdata/reference.js", ref.binding, tc.path, corpusPath, "bench")
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		var rust struct {
			Bytes       int     `json:"bytes"`
			Seconds     float64 `json:"seconds"`
			LoadSeconds float64 `json:"loadSeconds"`
		}
		if err := json.Unmarshal(data, &rust); err != nil {
			t.Fatal(err)
		}
		if rust.Bytes != bytes {
			t.Fatalf("corpus sizes differ: Go %d bytes, node %d bytes", bytes, rust.Bytes)
		}
		goLoad := time.Duration(1<<63 - 1)
		var tok *Tokenizer
		for i := 0; i < 3; i++ {
			start := time.Now()
			tok, err = FromFile(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			goLoad = min(goLoad, time.Since(start))
		}
		prev := runtime.GOMAXPROCS(1)
		for _, s := range texts[:200] {
			tok.Encode(s, true)
		}
		best := time.Duration(1<<63 - 1)
		for round := 0; round < 3; round++ {
			start := time.Now()
			for _, s := range texts {
				tok.Encode(s, true)
			}
			best = min(best, time.Since(start))
		}
		runtime.GOMAXPROCS(prev)
		goMBs := float64(bytes) / best.Seconds() / 1e6
		rustMBs := float64(bytes) / rust.Seconds / 1e6
		t.Logf("%-13s %10.2f %10.2f %7.2fx   %12v %12v", tc.name, goMBs, rustMBs, goMBs/rustMBs,
			goLoad.Round(time.Millisecond), time.Duration(rust.LoadSeconds*float64(time.Second)).Round(time.Millisecond))
	}
	held, allocated := loadHeap(t, ref.qwen)
	t.Logf("qwen3 load: heap held by the loaded tokenizer %.1f MB, allocated during load %.1f MB", float64(held)/1e6, float64(allocated)/1e6)
}

// loadHeap loads a tokenizer and returns the heap it holds after a GC and
// the bytes allocated while loading (an upper bound of the peak).
func loadHeap(t testing.TB, path string) (held, allocated uint64) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	tok, err := FromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	allocated = after.TotalAlloc - before.TotalAlloc
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(tok)
	return after.HeapAlloc - before.HeapAlloc, allocated
}

// TestLoadQwen3Heap bounds the memory of a loaded Qwen3 tokenizer (the issue
// asks for under 150 MB of heap).
func TestLoadQwen3Heap(t *testing.T) {
	ref := referenceEnv(t)
	held, allocated := loadHeap(t, ref.qwen)
	t.Logf("held %.1f MB, allocated while loading %.1f MB", float64(held)/1e6, float64(allocated)/1e6)
	if held > 150e6 {
		t.Errorf("loaded Qwen3 tokenizer holds %.1f MB of heap, want under 150 MB", float64(held)/1e6)
	}
}

// BenchmarkEncode measures Encode on the conformance corpus (go test -bench).
func BenchmarkEncode(b *testing.B) {
	ref := referenceEnv(b)
	texts := conformanceCorpus(1000)
	n := 0
	for _, s := range texts {
		n += len(s)
	}
	for _, tc := range []struct{ name, path string }{{"qwen3", ref.qwen}, {"bert-uncased", ref.bert}} {
		tok, err := FromFile(tc.path)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				for _, s := range texts {
					tok.Encode(s, true)
				}
			}
		})
		b.Run(tc.name+"/batch", func(b *testing.B) {
			in := make([]Input, len(texts))
			for i, s := range texts {
				in[i] = Input{Text: s}
			}
			b.SetBytes(int64(n))
			for b.Loop() {
				tok.EncodeBatch(in, true)
			}
		})
	}
}

var _ = fmt.Sprint
