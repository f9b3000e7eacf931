package tokenizer

import (
	"sync"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"twostage/internal/testassets"
)

var (
	fuzzOnce           sync.Once
	fuzzQwen, fuzzBert *Tokenizer
	fuzzErr            error
)

func fuzzTokenizers(t testing.TB) (*Tokenizer, *Tokenizer) {
	t.Helper()
	qp, bp := testassets.Qwen3Tokenizer(t), testassets.BertTokenizer(t)
	fuzzOnce.Do(func() {
		if fuzzQwen, fuzzErr = FromFile(qp); fuzzErr != nil {
			return
		}
		fuzzBert, fuzzErr = FromFile(bp)
	})
	if fuzzErr != nil {
		t.Fatal(fuzzErr)
	}
	return fuzzQwen, fuzzBert
}

// FuzzEncode checks that encoding never panics, that every encoding is
// consistent (equal lengths, ids in the vocabulary), and that byte-level BPE
// round-trips: Decode(Encode(x)) == NFC(x) for valid UTF-8 without special
// token text. Run: go test -run '^$' -fuzz FuzzEncode ./tokenizer
func FuzzEncode(f *testing.F) {
	for _, s := range []string{
		"", " ", "hello world", "Hello, World! It's 2026.", "<|im_start|>user\nhi<|im_end|>", "[CLS] x [SEP]",
		"naïve café", "e\u0301", "👨‍👩‍👧‍👦", "\xff\xfe", "\xe2\x82", "   \n\n\t ", "'s'S'ſ", "日本語のテキスト",
		"1234567890", "a\u00a0b\u3000c", "İstanbul", "\u0000\u0085\u2028", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
	} {
		f.Add(s, "pair")
	}
	qwen, bert := fuzzTokenizers(f)
	f.Fuzz(func(t *testing.T, text, pair string) {
		for _, tok := range []*Tokenizer{qwen, bert} {
			for _, special := range []bool{true, false} {
				e, err := tok.Encode(text, special)
				if err != nil {
					t.Fatal(err)
				}
				checkEncoding(t, tok, e)
				p, err := tok.EncodePair(text, pair, special)
				if err != nil {
					t.Fatal(err)
				}
				checkEncoding(t, tok, p)
				if _, err := tok.Decode(e.IDs, special); err != nil {
					t.Fatal(err)
				}
			}
		}
		if !utf8.ValidString(text) || containsAddedToken(qwen, text) {
			return
		}
		e, _ := qwen.Encode(text, false)
		got, err := qwen.Decode(e.IDs, false)
		if err != nil {
			t.Fatal(err)
		}
		if want := norm.NFC.String(text); got != want {
			t.Errorf("decode(encode(%q)) = %q, want NFC %q", text, got, want)
		}
	})
}

func checkEncoding(t *testing.T, tok *Tokenizer, e *Encoding) {
	t.Helper()
	n := len(e.IDs)
	if len(e.TypeIDs) != n || len(e.AttentionMask) != n || len(e.Tokens) != n {
		t.Fatalf("lengths differ: ids %d, type ids %d, mask %d, tokens %d", n, len(e.TypeIDs), len(e.AttentionMask), len(e.Tokens))
	}
	for i, id := range e.IDs {
		tokStr, ok := tok.IDToToken(id)
		if !ok || tokStr != e.Tokens[i] || e.AttentionMask[i] != 1 {
			t.Fatalf("token %d: id %d (known %v) token %q vs %q, mask %d", i, id, ok, tokStr, e.Tokens[i], e.AttentionMask[i])
		}
	}
}

// containsAddedToken reports whether an added token could match in s (its
// text then decodes to the token's content, which may differ after NFC).
func containsAddedToken(tok *Tokenizer, s string) bool {
	_, _, _, ok := tok.p.addedRaw.next(s, 0)
	return ok
}
