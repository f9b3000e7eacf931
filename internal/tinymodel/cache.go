package tinymodel

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"twostage/convert"
	"twostage/internal/once"
	"twostage/internal/testassets"
	"twostage/modeldir"
	"twostage/tokenizer"
)

var cache struct {
	mu      sync.Mutex // guards root and rootErr
	root    string
	rootErr error
	dirs    once.Map[string, string] // built directories by key
}

const cachePrefix = "twostage-tinymodel-"

// cacheRoot is this process's cache directory. Directories left by earlier
// processes that are no longer running are removed on first use.
func cacheRoot() (string, error) {
	cache.mu.Lock()
	defer cache.mu.Unlock()
	if cache.root != "" || cache.rootErr != nil {
		return cache.root, cache.rootErr
	}
	old, _ := filepath.Glob(filepath.Join(os.TempDir(), cachePrefix+"*"))
	for _, d := range old {
		rest := strings.TrimPrefix(filepath.Base(d), cachePrefix)
		pid, err := strconv.Atoi(strings.SplitN(rest, "-", 2)[0])
		if err != nil || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); err == syscall.ESRCH {
			os.RemoveAll(d)
		}
	}
	cache.root, cache.rootErr = os.MkdirTemp("", fmt.Sprintf("%s%d-", cachePrefix, os.Getpid()))
	return cache.root, cache.rootErr
}

func cached(key string, build func(dir string) error) (string, error) {
	root, err := cacheRoot()
	if err != nil {
		return "", fmt.Errorf("tinymodel: cache: %w", err)
	}
	return cache.dirs.Do(key, func() (string, error) {
		dir := filepath.Join(root, fmt.Sprintf("m%d", nextID()))
		if err := build(dir); err != nil {
			os.RemoveAll(dir)
			return "", err
		}
		return dir, nil
	})
}

var idSeq struct {
	sync.Mutex
	n int
}

func nextID() int {
	idSeq.Lock()
	defer idSeq.Unlock()
	idSeq.n++
	return idSeq.n
}

// specKey identifies a checkpoint; the two Qwen3 families write the same
// checkpoint, so they share one.
func specKey(s Spec) string {
	if s.Family == modeldir.FamilyQwen3Reranker {
		s.Family = modeldir.FamilyZerank
	}
	return fmt.Sprintf("%+v", s)
}

// requireTokenizer fails or skips tb (per testassets) when s's tokenizer is
// not fetched.
func requireTokenizer(tb testing.TB, s Spec) {
	tb.Helper()
	if s.Tokenizer != "" {
		return
	}
	if s.Family == modeldir.FamilyZerank || s.Family == modeldir.FamilyQwen3Reranker {
		testassets.Qwen3Tokenizer(tb)
	} else {
		testassets.BertTokenizer(tb)
	}
}

// Checkpoint returns the directory of a tiny Hugging Face checkpoint for s,
// written once per process and shared: callers must not modify it.
func Checkpoint(tb testing.TB, s Spec) string {
	tb.Helper()
	requireTokenizer(tb, s)
	s, err := Defaults(s)
	if err != nil {
		tb.Fatal(err)
	}
	dir, err := cached("ckpt "+specKey(s), func(dir string) error { return Write(dir, s) })
	if err != nil {
		tb.Fatalf("tinymodel: %v", err)
	}
	return dir
}

// Model returns the model directory (modeldir layout: model.onnx,
// tokenizer.json, twostage.json) of the tiny default-spec model of family,
// converted with fp32 weights, once per process: callers must not modify it.
// Seed 1 is used; see ModelSpec for other specs.
func Model(tb testing.TB, family string) string {
	tb.Helper()
	return ModelSpec(tb, Spec{Family: family, Seed: 1}, nil)
}

// tokenizers holds the tokenizers Tokens loaded, by model directory.
var tokenizers sync.Map

// Tokens encodes text with the tokenizer.json of the model directory dir
// (loaded once per process), adding no special tokens (the template
// markers written in text, such as <|im_start|>, are still read as the
// tokens they are), or fails tb.
func Tokens(tb testing.TB, dir, text string) []int {
	tb.Helper()
	v, ok := tokenizers.Load(dir)
	if !ok {
		tok, err := tokenizer.FromFile(filepath.Join(dir, "tokenizer.json"))
		if err != nil {
			tb.Fatalf("tinymodel: %v", err)
		}
		v, _ = tokenizers.LoadOrStore(dir, tok)
	}
	e, err := v.(*tokenizer.Tokenizer).Encode(text, false)
	if err != nil {
		tb.Fatalf("tinymodel: encode: %v", err)
	}
	return e.IDs
}

// ModelSpec is Model for any spec and conversion options (nil: fp32,
// family from s). The Progress option is ignored.
func ModelSpec(tb testing.TB, s Spec, opts *convert.Options) string {
	tb.Helper()
	ckpt := Checkpoint(tb, s)
	o := convert.Options{Family: s.Family}
	if opts != nil {
		o = *opts
		if o.Family == "" {
			o.Family = s.Family
		}
	}
	dir, err := convertCached(ckpt, o)
	if err != nil {
		tb.Fatalf("tinymodel: convert: %v", err)
	}
	return dir
}

func convertCached(ckpt string, o convert.Options) (string, error) {
	o.Progress = nil
	key := fmt.Sprintf("model %s %+v", ckpt, o)
	return cached(key, func(dir string) error {
		_, err := convert.Convert(context.Background(), ckpt, dir, &o)
		return err
	})
}

// Dir is Model for callers without a testing.TB (examples): it returns the
// fp32 model directory of family's seed-1 tiny model, or an error (missing
// tokenizer included) instead of failing a test.
func Dir(family string) (string, error) {
	s, err := Defaults(Spec{Family: family, Seed: 1})
	if err != nil {
		return "", err
	}
	ckpt, err := cached("ckpt "+specKey(s), func(dir string) error { return Write(dir, s) })
	if err != nil {
		return "", fmt.Errorf("tinymodel: %w", err)
	}
	dir, err := convertCached(ckpt, convert.Options{Family: family})
	if err != nil {
		return "", fmt.Errorf("tinymodel: convert: %w", err)
	}
	return dir, nil
}
