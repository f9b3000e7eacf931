//go:build faiss

package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"twostage"
	"twostage/faisslocal"
)

// search and info read a faiss: store while another process (here: another
// open) writes it.
func TestSearchBesideAWriter(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "faiss")
	store := "faiss:" + dir
	docs := `{"id":"a","text":"red planet mars"}` + "\n" + `{"id":"b","text":"blue ocean waves"}` + "\n"
	if code, out, stderr := cli(t, docs, "index", "--store", store); code != 0 {
		t.Fatalf("index: exit %d %q %q", code, out, stderr)
	}
	w, err := faisslocal.Open(dir, nil) // the writer, holding the store
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if code, _, stderr := cli(t, `{"id":"c","text":"x"}`, "index", "--store", store); code != 1 || !strings.Contains(stderr, "locked") {
		t.Errorf("a second writer: exit %d %q; want the lock error", code, stderr)
	}
	res := searchJSON(t, "--store", store, "--json", "mars")
	if len(res.Hits) != 2 || res.Hits[0].ID != "a" {
		t.Errorf("search beside a writer: hits %+v", res.Hits)
	}
	// A write by the writer is seen by the next search.
	emb, err := openEmbedder(context.Background(), "hash")
	if err != nil {
		t.Fatal(err)
	}
	v, _ := emb.EmbedDocuments(context.Background(), []string{"green forest trees"})
	if err := w.Upsert(context.Background(), []twostage.Document{{ID: "c", Text: "green forest trees", Vector: v[0]}}); err != nil {
		t.Fatal(err)
	}
	res = searchJSON(t, "--store", store, "--json", "--top-n", "1", "forest")
	if len(res.Hits) != 1 || res.Hits[0].ID != "c" {
		t.Errorf("search after the writer's upsert: hits %+v, want c", res.Hits)
	}
	code, out, stderr := cli(t, "", "info", "--store", store)
	if code != 0 || !strings.Contains(out, "documents     3") || !strings.Contains(out, "embedder      hash") {
		t.Errorf("info beside a writer: exit %d %q %q", code, out, stderr)
	}
}

// A faiss: store made by a Go program records no settings: search and info
// take the dimension and metric from its manifest.
func TestUnrecordedFaissStore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "faiss")
	emb, err := openEmbedder(context.Background(), "hash")
	if err != nil {
		t.Fatal(err)
	}
	v, _ := emb.EmbedDocuments(context.Background(), []string{"red planet mars"})
	s, err := faisslocal.Open(dir, &faisslocal.Options{Dim: emb.Dim(), Metric: twostage.Dot})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Upsert(context.Background(), []twostage.Document{{ID: "m", Text: "red planet mars", Vector: v[0]}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	res := searchJSON(t, "--store", "faiss:"+dir, "--json", "mars")
	if len(res.Hits) != 1 || res.Hits[0].ID != "m" {
		t.Errorf("search of an unrecorded dot store: %+v", res.Hits)
	}
	code, out, stderr := cli(t, "", "info", "--store", "faiss:"+dir)
	if code != 0 || !strings.Contains(out, "metric        dot") || !strings.Contains(out, "not recorded") {
		t.Errorf("info: exit %d %q %q", code, out, stderr)
	}
}
