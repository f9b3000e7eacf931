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
