//go:build faiss

package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"twostage"
	"twostage/faisslocal"
)

func TestCheckCommandFaiss(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "faiss")
	s, err := faisslocal.Open(dir, &faisslocal.Options{Dim: 2})
	if err != nil {
		t.Fatal(err)
	}
	var docs []twostage.Document
	for i := range 50 {
		docs = append(docs, twostage.Document{ID: fmt.Sprint(i), Vector: []float32{1, float32(i)}})
	}
	if err := s.Upsert(context.Background(), docs); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(context.Background(), []string{"7"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := cli(t, "", "check", "--store", "faiss:"+dir)
	if code != 0 || !strings.Contains(out, "checked 49 documents") || !strings.Contains(out, "missing:   0") {
		t.Errorf("check of a sound faiss store: exit %d, stdout %q, stderr %q; want exit 0, 49 checked, none missing", code, out, errOut)
	}
}

// TestCheckFaissL2: a faiss store built with --metric l2 is checked with
// its recorded metric (check asked for cosine and failed).
func TestCheckFaissL2(t *testing.T) {
	store := "faiss:" + filepath.Join(t.TempDir(), "faiss")
	docs := `{"id":"a","text":"hello world"}` + "\n" + `{"id":"b","text":"goodbye world"}`
	if code, _, stderr := cli(t, docs, "index", "--store", store, "--metric", "l2"); code != 0 {
		t.Fatalf("index: exit %d %s", code, stderr)
	}
	if code, out, stderr := cli(t, "", "check", "--store", store); code != 0 || !strings.Contains(out, "checked 2 documents") {
		t.Errorf("check: exit %d, stdout %q, stderr %q; want 2 checked", code, out, stderr)
	}
}
