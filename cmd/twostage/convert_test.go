package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"twostage/internal/tinymodel"
	"twostage/modeldir"
)

func TestCmdConvert(t *testing.T) {
	ckpt := tinymodel.Checkpoint(t, tinymodel.Spec{Family: modeldir.FamilyQwen3Reranker, Seed: 1})
	out := filepath.Join(t.TempDir(), "m")
	var stdout, stderr bytes.Buffer
	err := cmdConvert(context.Background(), []string{"--from", ckpt, "--to", out, "--dtype", "fp16", "--family", "qwen3-reranker"}, nil, &stdout, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := modeldir.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Family != modeldir.FamilyQwen3Reranker || cfg.Dtype != modeldir.DtypeFP16 {
		t.Errorf("config %+v", cfg)
	}
	// stderr is not a terminal here: no carriage-return progress in it.
	if strings.Contains(stderr.String(), "\r") || !strings.Contains(stdout.String(), "qwen3-reranker") {
		t.Errorf("stdout %q stderr %q: want a summary and no progress bar drawn into a buffer", stdout.String(), stderr.String())
	}

	// --graph plain writes the reference graph: standard operators only.
	plain := filepath.Join(t.TempDir(), "plain")
	if err := cmdConvert(context.Background(), []string{"--from", ckpt, "--to", plain, "--graph", "plain", "--quiet"}, nil, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	// The summary names the compute type asked for.
	half := filepath.Join(t.TempDir(), "half")
	stdout.Reset()
	if err := cmdConvert(context.Background(), []string{"--from", ckpt, "--to", half, "--compute", "fp16", "--quiet"}, nil, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), "compute fp16") {
		t.Errorf("summary %q does not say compute fp16", stdout.String())
	}
	for dir, want := range map[string]bool{out: true, plain: false} {
		b, err := os.ReadFile(modeldir.ModelPath(dir))
		if err != nil {
			t.Fatal(err)
		}
		if got := bytes.Contains(b, []byte("GroupQueryAttention")); got != want {
			t.Errorf("%s: graph uses GroupQueryAttention: %v, want %v", dir, got, want)
		}
	}

	usage := [][]string{
		{"--to", out},
		{"--from", ckpt},
		{"--from", ckpt, "--to", out, "--dtype", "int8"},
		{"--from", ckpt, "--to", out, "--compute", "bf16"},
		{"--from", ckpt, "--to", out, "--compute", "fp16", "--dtype", "fp32"},
		{"--from", ckpt, "--to", out, "--family", "gpt"},
		{"--from", ckpt, "--to", out, "--graph", "fast"},
		{"--from", ckpt, "--to", out, "extra"},
		{"--bogus"},
	}
	for _, args := range usage {
		err := cmdConvert(context.Background(), args, nil, &stdout, &stderr)
		if !errors.Is(err, errUsage) {
			t.Errorf("cmdConvert(%q) = %v, want a usage error", args, err)
		}
	}
	// A runtime failure is not a usage error.
	err = cmdConvert(context.Background(), []string{"--from", t.TempDir(), "--to", filepath.Join(t.TempDir(), "x"), "--quiet"}, nil, &stdout, &stderr)
	if err == nil || errors.Is(err, errUsage) {
		t.Errorf("converting an empty directory: %v, want a runtime error", err)
	}
}
