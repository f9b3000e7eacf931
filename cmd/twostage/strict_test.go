package main

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"twostage"
	"twostage/internal/testassets"
)

// TestIndexRefusesUnknownKeys: a JSON line's key that index does not read
// ("metdata" for "metadata") is refused with its line number and a near
// name, before anything is written: the store keeps what it held, and the
// good lines before the bad one are not indexed either.
func TestIndexRefusesUnknownKeys(t *testing.T) {
	store := indexed(t)
	for _, tc := range []struct{ input, want string }{
		{`{"id":"d","text":"learning new things","metadata":{"kind":"ml"}}
{"id":"e","text":"learning again","metdata":{"kind":"ml"}}
`, `twostage index: read -: line 2: unknown field "metdata" (did you mean "metadata"?)`},
		{`{"id":"d","text":"learning new things","vectors":[1,2]}
`, `line 1: unknown field "vectors" (did you mean "vector"?)`},
		{`{"id":"d","text":"learning new things","source":"web"}
`, `line 1: unknown field "source"`},
	} {
		code, _, stderr := cli(t, tc.input, "index", "--store", store)
		if code != 1 || !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("index %q: exit %d stderr %q; want exit 1 and one line with %q", tc.input, code, stderr, tc.want)
		}
	}
	res := searchJSON(t, "--store", store, "--json", "--no-rerank", "--top-n", "10", "learning")
	var got []string
	for _, h := range res.Hits {
		got = append(got, h.ID)
	}
	slices.Sort(got)
	if want := []string{"a", "b", "c"}; !slices.Equal(got, want) {
		t.Errorf("after refused index runs the store holds %q, want %q", got, want)
	}
}

// TestLineReadersRefuseMisspeltKeys: embed, rerank --docs and tokenize read
// {"text"} (tokenize also "pair") and pass over a corpus line's other keys
// (id, metadata), but a key near one they read ("pari" for "pair", which
// would tokenize the text alone) is refused with its line number.
func TestLineReadersRefuseMisspeltKeys(t *testing.T) {
	corpusLine := `{"id":"x","text":"a b","metadata":{"kind":"ml"}}` + "\n"
	if code, _, stderr := cli(t, corpusLine, "embed", "--embedder", "hash:16"); code != 0 {
		t.Errorf("embed a corpus line: exit %d %q, want 0", code, stderr)
	}
	code, _, stderr := cli(t, corpusLine+`{"txet":"b"}`+"\n", "embed", "--embedder", "hash:16")
	if want := `line 2: unknown field "txet" (did you mean "text"?)`; code != 2 || !strings.Contains(stderr, want) {
		t.Errorf("embed txet: exit %d %q, want 2 and %q", code, stderr, want)
	}
	if _, err := readTextLines(strings.NewReader(corpusLine)); err != nil {
		t.Errorf("rerank --docs a corpus line: %v", err)
	}
	_, err := readTextLines(strings.NewReader(corpusLine + `{"texts":["b"]}` + "\n"))
	if want := `documents line 2: unknown field "texts" (did you mean "text"?)`; !errors.Is(err, twostage.ErrInvalidInput) || err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("rerank --docs texts: %v, want ErrInvalidInput with %q", err, want)
	}
	bert := testassets.BertTokenizer(t)
	code, _, stderr = cli(t, `{"text":"a","pari":"b"}`+"\n", "tokenize", "--tokenizer", bert)
	if want := `input line 1: unknown field "pari" (did you mean "pair"?)`; code != 1 || !strings.Contains(stderr, want) {
		t.Errorf("tokenize pari: exit %d %q, want 1 and %q", code, stderr, want)
	}
	if code, _, stderr := cli(t, corpusLine, "tokenize", "--tokenizer", bert); code != 0 {
		t.Errorf("tokenize a corpus line: exit %d %q, want 0", code, stderr)
	}
}
