package tokenizer

import (
	"encoding/json"
	"errors"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"twostage/errdefs"
	"twostage/internal/testassets"
)

// mutate loads the BERT tokenizer.json, applies f to its decoded JSON and
// returns the re-encoded bytes.
func mutate(t *testing.T, f func(m map[string]any)) []byte {
	t.Helper()
	data, err := os.ReadFile(testassets.BertTokenizer(t))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLoadUnsupported(t *testing.T) {
	tests := []struct {
		name     string
		mutate   func(m map[string]any)
		wantName string
	}{
		{"normalizer", func(m map[string]any) { m["normalizer"] = map[string]any{"type": "Precompiled"} }, "normalizer Precompiled"},
		{"normalizer in sequence", func(m map[string]any) {
			m["normalizer"] = map[string]any{"type": "Sequence", "normalizers": []any{map[string]any{"type": "NFC"}, map[string]any{"type": "Replace"}}}
		}, "normalizer Replace"},
		{"pre-tokenizer", func(m map[string]any) { m["pre_tokenizer"] = map[string]any{"type": "Metaspace"} }, "pre_tokenizer Metaspace"},
		{"split regex", func(m map[string]any) {
			m["pre_tokenizer"] = map[string]any{"type": "Split", "pattern": map[string]any{"Regex": `\d+`}, "behavior": "Isolated", "invert": false}
		}, `Split regex "\\d+"`},
		{"model", func(m map[string]any) { m["model"] = map[string]any{"type": "Unigram", "vocab": []any{}} }, "model Unigram"},
		{"post-processor", func(m map[string]any) { m["post_processor"] = map[string]any{"type": "RobertaProcessing"} }, "post_processor RobertaProcessing"},
		{"decoder", func(m map[string]any) { m["decoder"] = map[string]any{"type": "Metaspace"} }, "decoder Metaspace"},
		{"bpe dropout", func(m map[string]any) {
			m["model"] = map[string]any{"type": "BPE", "dropout": 0.1, "vocab": map[string]any{"a": 0}, "merges": []any{}}
		}, "BPE with dropout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := FromBytes(mutate(t, tc.mutate))
			if !errors.Is(err, errdefs.ErrUnsupported) {
				t.Fatalf("got %v, want ErrUnsupported", err)
			}
			if !strings.Contains(err.Error(), tc.wantName) {
				t.Errorf("error %q does not name %q", err, tc.wantName)
			}
		})
	}
}

func TestLoadInvalid(t *testing.T) {
	tests := []struct {
		name string
		data string
	}{
		{"not json", "{"},
		{"no model", `{"added_tokens": []}`},
		{"model without type", `{"model": {"vocab": {}}}`},
		{"unk missing", `{"model": {"type": "WordPiece", "unk_token": "[UNK]", "vocab": {"a": 0}}}`},
		{"merge token missing", `{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a c"]}}`},
		{"merged token missing", `{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": [["a", "b"]]}}`},
		{"bad merge", `{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a b c"]}}`},
		{"template token undeclared", `{"model": {"type": "WordPiece", "unk_token": "u", "vocab": {"u": 0}},
			"post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "[X]", "type_id": 0}}], "pair": [], "special_tokens": {}}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := FromBytes([]byte(tc.data)); !errors.Is(err, errdefs.ErrInvalidInput) {
				t.Fatalf("got %v, want ErrInvalidInput", err)
			}
		})
	}
	if _, err := FromFile("testdata/does-not-exist.json"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: got %v, want os.ErrNotExist", err)
	}
}

// TestVocab checks vocabulary lookups against values read from the Rust
// reference (getVocabSize(true), tokenToId, idToToken).
func TestVocab(t *testing.T) {
	qwen, bert := fuzzTokenizers(t)
	tests := []struct {
		name      string
		tok       *Tokenizer
		size      int
		token     string
		id        int
		idToToken map[int]string
		unknownID int
	}{
		{"qwen3", qwen, 151669, "<|im_start|>", 151644, map[int]string{9454: "Yes", 151668: "</think>"}, 151669},
		{"bert", bert, 30522, "[CLS]", 101, map[int]string{9454: "teenage", 0: "[PAD]"}, 30522},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.tok.VocabSize(); got != tc.size {
				t.Errorf("VocabSize = %d, want %d", got, tc.size)
			}
			if id, ok := tc.tok.TokenToID(tc.token); !ok || id != tc.id {
				t.Errorf("TokenToID(%q) = %d, %v, want %d", tc.token, id, ok, tc.id)
			}
			if _, ok := tc.tok.TokenToID("no such token \x00"); ok {
				t.Error("TokenToID of an unknown token succeeded")
			}
			for id, want := range tc.idToToken {
				if got, ok := tc.tok.IDToToken(id); !ok || got != want {
					t.Errorf("IDToToken(%d) = %q, %v, want %q", id, got, ok, want)
				}
			}
			for _, id := range []int{-1, tc.unknownID} {
				if _, ok := tc.tok.IDToToken(id); ok {
					t.Errorf("IDToToken(%d) succeeded", id)
				}
			}
			if _, err := tc.tok.Decode([]int{tc.unknownID}, false); !errors.Is(err, errdefs.ErrInvalidInput) {
				t.Errorf("Decode of an unknown id: got %v, want ErrInvalidInput", err)
			}
		})
	}
}

func TestNumSpecialTokens(t *testing.T) {
	qwen, bert := fuzzTokenizers(t)
	for _, tc := range []struct {
		tok          *Tokenizer
		single, pair int
	}{{qwen, 0, 0}, {bert, 2, 3}} {
		if got := tc.tok.NumSpecialTokens(false); got != tc.single {
			t.Errorf("NumSpecialTokens(false) = %d, want %d", got, tc.single)
		}
		if got := tc.tok.NumSpecialTokens(true); got != tc.pair {
			t.Errorf("NumSpecialTokens(true) = %d, want %d", got, tc.pair)
		}
	}
}

func seqEnc(n int) *Encoding {
	e := &Encoding{}
	for i := 0; i < n; i++ {
		e.IDs = append(e.IDs, i)
		e.TypeIDs = append(e.TypeIDs, 0)
		e.AttentionMask = append(e.AttentionMask, 1)
		e.Tokens = append(e.Tokens, "t")
	}
	return e
}

// TestTruncatePair follows Hugging Face's truncate_encodings case by case.
func TestTruncatePair(t *testing.T) {
	tests := []struct {
		name         string
		n1, n2, max  int // n2 < 0: no pair
		s            TruncationStrategy
		want1, want2 int
		wantErr      error
	}{
		{"fits", 3, 4, 7, LongestFirst, 3, 4, nil},
		{"single", 10, -1, 4, LongestFirst, 4, -1, nil},
		{"short first kept", 2, 10, 8, LongestFirst, 2, 6, nil},
		{"short second kept", 10, 2, 8, LongestFirst, 6, 2, nil},
		{"both halved", 10, 9, 8, LongestFirst, 4, 4, nil},
		{"both halved odd", 10, 9, 7, LongestFirst, 4, 3, nil},
		{"both halved odd swapped", 9, 10, 7, LongestFirst, 3, 4, nil},
		{"zero budget", 3, 3, 0, LongestFirst, 0, 0, nil},
		{"only second", 5, 10, 8, OnlySecond, 5, 3, nil},
		{"only second too short", 10, 2, 8, OnlySecond, 10, 2, ErrTruncation},
		{"only first", 10, 2, 8, OnlyFirst, 6, 2, nil},
		{"only second without pair", 10, -1, 8, OnlySecond, 10, -1, errdefs.ErrInvalidInput},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := seqEnc(tc.n1)
			var b *Encoding
			if tc.n2 >= 0 {
				b = seqEnc(tc.n2)
			}
			err := TruncatePair(a, b, tc.max, tc.s)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("got %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if a.Len() != tc.want1 || (b != nil && b.Len() != tc.want2) {
				t.Errorf("lengths %d, %v; want %d, %d", a.Len(), b, tc.want1, tc.want2)
			}
			if !slices.Equal(a.IDs, seqEnc(a.Len()).IDs) {
				t.Errorf("truncation kept the wrong tokens: %v", a.IDs)
			}
		})
	}
}

func TestPad(t *testing.T) {
	tests := []struct {
		name     string
		lens     []int
		multiple int
		want     int
	}{
		{"longest", []int{3, 5, 1}, 0, 5},
		{"multiple", []int{3, 5, 1}, 4, 8},
		{"already multiple", []int{8, 2}, 8, 8},
		{"empty", nil, 8, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var encs []*Encoding
			for _, n := range tc.lens {
				encs = append(encs, seqEnc(n))
			}
			if got := Pad(encs, 99, 7, tc.multiple); got != tc.want {
				t.Fatalf("Pad = %d, want %d", got, tc.want)
			}
			for i, e := range encs {
				if e.Len() != tc.want || len(e.TypeIDs) != tc.want || len(e.AttentionMask) != tc.want || len(e.Tokens) != tc.want {
					t.Fatalf("encoding %d not padded to %d", i, tc.want)
				}
				for j := tc.lens[i]; j < tc.want; j++ {
					if e.IDs[j] != 99 || e.TypeIDs[j] != 7 || e.AttentionMask[j] != 0 {
						t.Fatalf("encoding %d position %d: id %d type %d mask %d", i, j, e.IDs[j], e.TypeIDs[j], e.AttentionMask[j])
					}
				}
				if tc.lens[i] > 0 && e.AttentionMask[tc.lens[i]-1] != 1 {
					t.Fatalf("encoding %d: real token masked", i)
				}
			}
		})
	}
}

// TestSanitize checks the invalid UTF-8 contract: one U+FFFD per maximal
// ill-formed subsequence (the conformance test also checks it against the
// reference's TextDecoder).
func TestSanitize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"abc", "abc"},
		{"a\xffb", "a\uFFFDb"},
		{"\xe2\x82", "\uFFFD"},                 // truncated 3-byte sequence: one replacement
		{"\xe2\x82x", "\uFFFDx"},               // ditto, followed by ASCII
		{"\xed\xa0\x80", "\uFFFD\uFFFD\uFFFD"}, // surrogate: ED A0 is not a valid prefix
		{"\xf0\x9f\x98", "\uFFFD"},             // truncated emoji
		{"\xc0\xaf", "\uFFFD\uFFFD"},           // overlong
		{"\xf4\x90\x80\x80", "\uFFFD\uFFFD\uFFFD\uFFFD"},
		{"é\x80é", "é\uFFFDé"},
	}
	for _, tc := range tests {
		if got := sanitize(tc.in); got != tc.want {
			t.Errorf("sanitize(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestConcurrentEncode runs Encode from many goroutines (run with -race) and
// checks that every result equals the sequential one.
func TestConcurrentEncode(t *testing.T) {
	qwen, bert := fuzzTokenizers(t)
	texts := conformanceCorpus(300)
	for _, tok := range []*Tokenizer{qwen, bert} {
		want := make([][]int, len(texts))
		for i, s := range texts {
			e, _ := tok.Encode(s, true)
			want[i] = e.IDs
		}
		var wg sync.WaitGroup
		errs := make(chan string, 8)
		for g := 0; g < 2*runtime.GOMAXPROCS(0); g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				for k := range texts {
					i := (k + g*37) % len(texts)
					e, _ := tok.Encode(texts[i], true)
					if !slices.Equal(e.IDs, want[i]) {
						select {
						case errs <- texts[i]:
						default:
						}
						return
					}
				}
			}(g)
		}
		wg.Wait()
		close(errs)
		for s := range errs {
			t.Errorf("concurrent Encode(%q) differs from sequential", s)
		}
	}
}

// TestCanonical checks sequences against values from the reference's NFC and
// NFD normalizers (Unicode 9.0 data).
func TestCanonical(t *testing.T) {
	tests := []struct {
		in, nfc, nfd string
	}{
		{"e\u0301", "\u00e9", "e\u0301"},
		{"\U00011099\U000110ba", "\U0001109a", "\U00011099\U000110ba"}, // Kaithi, composes above the BMP
		{"\U00021f08\u0301", "\U00021f08\u0301", "\U00021f08\u0301"},   // x/text's NFC gives U+1F0C
		{"\u09fe\u0334", "\u09fe\u0334", "\u09fe\u0334"},               // U+09FE (Unicode 10) unknown: a starter
		{"\u08d4\u0334", "\u0334\u08d4", "\u0334\u08d4"},               // U+08D4 (Unicode 9) reorders
		{"\u1f0c", "\u1f0c", "\u0391\u0313\u0301"},
		{"a\u0323\u0302", "\u1ead", "a\u0323\u0302"},
		{"a\u0302\u0323", "\u1ead", "a\u0323\u0302"},
		{"\u1100\u1161\u11a8", "\uac01", "\u1100\u1161\u11a8"},
		{"\u212b", "\u00c5", "A\u030a"},
	}
	for _, tc := range tests {
		if got := canonical(tc.in, true); got != tc.nfc {
			t.Errorf("NFC(%+q) = %+q, want %+q", tc.in, got, tc.nfc)
		}
		if got := canonical(tc.in, false); got != tc.nfd {
			t.Errorf("NFD(%+q) = %+q, want %+q", tc.in, got, tc.nfd)
		}
	}
}
