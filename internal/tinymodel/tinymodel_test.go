package tinymodel

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"twostage/convert/hf"
	"twostage/convert/safetensors"
	"twostage/errdefs"
	"twostage/modeldir"
)

func TestPlanZerank2Size(t *testing.T) {
	// Qwen3-4B / zerank-2: 4,022,468,096 parameters.
	ts, _, err := Plan(Spec{Family: modeldir.FamilyZerank, Hidden: 2560, Layers: 36, Heads: 32, KVHeads: 8, HeadDim: 128, Intermediate: 9728})
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, x := range ts {
		n += x.Numel()
	}
	if n != 4_022_468_096 {
		t.Fatalf("parameters = %d, want 4022468096", n)
	}
}

func TestWrite(t *testing.T) {
	for _, fam := range modeldir.Families {
		t.Run(fam, func(t *testing.T) {
			a, b, c := t.TempDir(), t.TempDir(), t.TempDir()
			requireTokenizer(t, Spec{Family: fam})
			for _, w := range []struct {
				dir  string
				seed uint64
			}{{a, 1}, {b, 1}, {c, 2}} {
				// A small vocabulary keeps this fast; the real one is checked below.
				if err := Write(w.dir, Spec{Family: fam, Seed: w.seed, Shards: 2, Vocab: 1000}); err != nil {
					t.Fatal(err)
				}
			}
			cfg, err := hf.Read(a)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.VocabSize != 1000 {
				t.Errorf("vocab %d, want 1000", cfg.VocabSize)
			}
			wantVocab := map[bool]int{true: Qwen3Vocab, false: BertVocab}[modeldir.IsDecoder(fam)]
			if _, def, _ := Plan(Spec{Family: fam}); def["vocab_size"] != wantVocab {
				t.Errorf("default vocab %v, want %d", def["vocab_size"], wantVocab)
			}
			ck, err := safetensors.Open(a)
			if err != nil {
				t.Fatal(err)
			}
			defer ck.Close()
			ts, _, _ := Plan(Spec{Family: fam})
			if len(ck.Names()) != len(ts) {
				t.Errorf("%d tensors, plan has %d", len(ck.Names()), len(ts))
			}
			shard := "model-00002-of-00002.safetensors"
			fa, _ := os.ReadFile(filepath.Join(a, shard))
			fb, _ := os.ReadFile(filepath.Join(b, shard))
			fc, _ := os.ReadFile(filepath.Join(c, shard))
			if !bytes.Equal(fa, fb) || bytes.Equal(fa, fc) {
				t.Errorf("same seed equal = %v (want true), other seed equal = %v (want false)", bytes.Equal(fa, fb), bytes.Equal(fa, fc))
			}
		})
	}
}

func TestSpecErrors(t *testing.T) {
	for _, s := range []Spec{{Family: "t5"}, {Family: modeldir.FamilyZerank, Dtype: "I8"}} {
		if err := Write(t.TempDir(), s); !errors.Is(err, errdefs.ErrInvalidInput) {
			t.Errorf("Write(%+v) = %v, want ErrInvalidInput", s, err)
		}
	}
	if err := Write(t.TempDir(), Spec{Family: modeldir.FamilyZerank, Tokenizer: "/nonexistent/tokenizer.json"}); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("missing tokenizer: %v, want ErrNotFound", err)
	}
}

func TestModelCached(t *testing.T) {
	a := Model(t, modeldir.FamilyBertEmbedding)
	b := Model(t, modeldir.FamilyBertEmbedding)
	if a != b {
		t.Fatalf("second Model call converted again: %s != %s", a, b)
	}
	if _, err := modeldir.Load(a); err != nil {
		t.Fatal(err)
	}
}

func TestTokens(t *testing.T) {
	dir := Model(t, modeldir.FamilyZerank)
	// Qwen3's tokenizer: <|im_start|> and <|im_end|> are added tokens,
	// "\n" is 198.
	for _, tt := range []struct {
		text string
		want []int
	}{
		{"<|im_start|>", []int{151644}},
		{"<|im_end|>\n", []int{151645, 198}},
		{"", nil},
	} {
		if got := Tokens(t, dir, tt.text); !slices.Equal(got, tt.want) {
			t.Errorf("Tokens(%q) = %v, want %v", tt.text, got, tt.want)
		}
	}
}
