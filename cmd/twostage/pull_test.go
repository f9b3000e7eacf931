package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"twostage/hub"
	"twostage/internal/hubtest"
	"twostage/internal/tinymodel"
	"twostage/modeldir"
	"twostage/rerank"
	"twostage/server"
)

// hubRepo serves a tiny checkpoint of family as id, plus weights in formats
// a pull must never request.
func hubRepo(t *testing.T, s *hubtest.Server, id, family string) {
	t.Helper()
	ckpt := tinymodel.Checkpoint(t, tinymodel.Spec{Family: family, Seed: 1})
	r, err := hubtest.RepoFromDir(id, ckpt, map[string][]byte{"pytorch_model.bin": []byte("x"), "onnx/model.onnx": []byte("x"), "model.gguf": []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	r.Need = func(f string) bool { return f == "config.json" || f == "model.safetensors" || f == "tokenizer.json" }
	s.Add(r)
}

func pullEnv(t *testing.T) *hubtest.Server {
	t.Helper()
	s := hubtest.New(t)
	t.Setenv("HF_ENDPOINT", s.URL)
	t.Setenv("TWOSTAGE_HOME", t.TempDir())
	t.Setenv("HF_TOKEN", "")
	t.Setenv("HF_TOKEN_PATH", filepath.Join(t.TempDir(), "none"))
	t.Setenv("HF_HUB_OFFLINE", "")
	return s
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

func TestCmdPullThenRerank(t *testing.T) {
	s := pullEnv(t)
	hubRepo(t, s, "org/name", modeldir.FamilyZerank)
	dir := filepath.Join(t.TempDir(), "zerank")
	code, out, stderr := cli(t, "", "pull", "org/name", "--family", "zerank", "--to", dir)
	if code != 0 {
		t.Fatalf("pull exit %d: %s", code, stderr)
	}
	if lastLine(out) != dir {
		t.Fatalf("last line of stdout %q, want the model directory %s", lastLine(out), dir)
	}
	if strings.Contains(stderr, "\r") || !strings.Contains(stderr, "family zerank") {
		t.Fatalf("stderr off a terminal should hold one summary line and no progress bar: %q", stderr)
	}
	docs := `{"text": "A cross-encoder reads the query and the document together."}` + "\n" + `{"text": "Bananas are yellow."}` + "\n"
	code, byDir, stderr := cli(t, docs, "rerank", "--model", dir, "--query", "what is a cross-encoder?", "--json")
	if code != 0 || !strings.Contains(byDir, `"relevance_score"`) {
		t.Fatalf("rerank --model DIR: exit %d stdout %q stderr %s", code, byDir, stderr)
	}

	// Pulled into the cache, the name works wherever a directory does.
	code, out, stderr = cli(t, "", "pull", "--quiet", "org/name")
	if code != 0 || stderr != "" || strings.Count(out, "\n") != 1 {
		t.Fatalf("pull --quiet: exit %d stdout %q stderr %q", code, out, stderr)
	}
	code, byName, stderr := cli(t, docs, "rerank", "--model", "org/name", "--query", "what is a cross-encoder?", "--json")
	if code != 0 || byName != byDir {
		t.Fatalf("rerank --model org/name: exit %d %q (stderr %s); want %q", code, byName, stderr, byDir)
	}
	for _, spec := range []string{"zerank:org/name", "onnx:org/name,batch=4", "org/name", "org/name@main"} {
		r, err := openReranker(context.Background(), spec)
		if err != nil {
			t.Fatalf("reranker %q: %v", spec, err)
		}
		if _, ok := r.(*rerank.Engine); !ok {
			t.Fatalf("reranker %q is a %T, want *rerank.Engine", spec, r)
		}
		closeAll(r)
	}
	code, out, _ = cli(t, "", "pull", "--list")
	if code != 0 || !strings.Contains(out, "org/name") || !strings.Contains(out, "zerank-fp16") {
		t.Fatalf("pull --list: exit %d\n%s", code, out)
	}
}

func TestPulledNameNotCached(t *testing.T) {
	pullEnv(t)
	code, _, stderr := cli(t, "", "rerank", "--model", "zerank-2", "--query", "q")
	if code != 1 || !strings.Contains(stderr, "run `twostage pull zerank-2`") || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
		t.Fatalf("rerank --model zerank-2 (not pulled): exit %d stderr %q; want one line saying to run twostage pull zerank-2", code, stderr)
	}
	for _, open := range []func() error{
		func() error { _, err := openReranker(context.Background(), "zerank-2"); return err },
		func() error { _, err := openReranker(context.Background(), "zerank:zerank-2"); return err },
		func() error { _, err := openEmbedder(context.Background(), "onnx:all-MiniLM-L6-v2"); return err },
		func() error { _, err := openEmbedder(context.Background(), "bge-small-en-v1.5"); return err },
	} {
		if err := open(); !errors.Is(err, hub.ErrNotPulled) || !strings.Contains(err.Error(), "twostage pull") {
			t.Errorf("opening a name not pulled: %v, want ErrNotPulled saying to run twostage pull", err)
		}
	}
}

func TestCmdPullEmbedder(t *testing.T) {
	s := pullEnv(t)
	hubRepo(t, s, "org/embed", modeldir.FamilyBertEmbedding)
	if code, _, stderr := cli(t, "", "pull", "org/embed"); code != 0 {
		t.Fatalf("pull: exit %d: %s", code, stderr)
	}
	e, err := openEmbedder(context.Background(), "onnx:org/embed")
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll(e)
	if e.Dim() != 32 {
		t.Fatalf("embedder dim %d, want 32", e.Dim())
	}
}

func TestCmdPullUsage(t *testing.T) {
	pullEnv(t)
	for _, args := range [][]string{
		{},
		{"a/b", "c/d"},
		{"org/name", "--family", "gpt"},
		{"org/name", "--dtype", "int8"},
		{"--list", "org/name"},
		{"a/b/c"},
		{"--bogus"},
	} {
		code, _, stderr := cli(t, "", append([]string{"pull"}, args...)...)
		if code != 2 {
			t.Errorf("twostage pull %q: exit %d (%s), want 2", args, code, stderr)
		}
	}
	// A runtime failure (here: no such repository) exits 1 with one line.
	code, _, stderr := cli(t, "", "pull", "org/missing")
	if code != 1 || !strings.Contains(stderr, "org/missing not found") {
		t.Errorf("pull org/missing: exit %d stderr %q", code, stderr)
	}
}

// The server's config takes pulled names through the same openers.
func TestServeConfigPulledName(t *testing.T) {
	s := pullEnv(t)
	hubRepo(t, s, "org/name", modeldir.FamilyZerank)
	if code, _, stderr := cli(t, "", "pull", "--quiet", "org/name"); code != 0 {
		t.Fatalf("pull: %s", stderr)
	}
	for _, tt := range []struct {
		reranker string
		wantErr  string
	}{
		{"org/name", ""},
		{"zerank-1", "run `twostage pull zerank-1`"},
	} {
		path := filepath.Join(t.TempDir(), "serve.yaml")
		cfg := "rerankers:\n  default: " + tt.reranker + "\nembedders:\n  default: hash:32\ncollections:\n  docs:\n    store: \"mem:\"\n"
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := server.LoadConfig(path)
		if err != nil {
			t.Fatal(err)
		}
		srv, err := server.Open(context.Background(), c, server.Openers{}, nil)
		if tt.wantErr == "" {
			if err != nil {
				t.Fatalf("server with reranker %s: %v", tt.reranker, err)
			}
			srv.Close()
		} else if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Fatalf("server with reranker %s: err %v, want %q", tt.reranker, err, tt.wantErr)
		}
	}
}
