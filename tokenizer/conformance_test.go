package tokenizer

import (
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"testing"
)

const (
	corpusSize   = 5000
	decodeChecks = 1000
	truncChecks  = 1000
)

type corpusFile struct {
	Texts    []string `json:"texts"` // base64 of the raw bytes
	Pairs    [][2]int `json:"pairs"`
	Decode   int      `json:"decode"`
	Truncate [][4]any `json:"truncate"`
}

type refEncoding [2][]int // ids, type ids

type refOutput struct {
	Single, SingleNoSpecial, Pair, PairNoSpecial []refEncoding
	Decode                                       [][2]string
	Truncate                                     []*refEncoding
}

// writeCorpus writes the corpus for reference.js and returns its path.
func writeCorpus(t testing.TB, texts []string) (string, *corpusFile) {
	t.Helper()
	c := &corpusFile{Decode: min(decodeChecks, len(texts))}
	for _, s := range texts {
		c.Texts = append(c.Texts, base64.StdEncoding.EncodeToString([]byte(s)))
	}
	for i := range texts {
		c.Pairs = append(c.Pairs, [2]int{i, (i*7 + 3) % len(texts)})
	}
	for i := 0; i < truncChecks && i < len(texts); i++ {
		strategy := "LongestFirst"
		if i%2 == 1 {
			strategy = "OnlySecond"
		}
		c.Truncate = append(c.Truncate, [4]any{i, (i*13 + 5) % len(texts), 5 + i%60, strategy})
	}
	return writeJSON(t, "corpus.json", c), c
}

func runReference(t *testing.T, ref refEnv, tokPath, corpusPath string) *refOutput {
	t.Helper()
	return nodeJSON[refOutput](t, "testdata/reference.js", ref.binding, tokPath, corpusPath)
}

// diffs collects mismatches and reports the first few.
type diffs struct {
	t     *testing.T
	name  string
	n     int
	total int
}

func (d *diffs) check(what string, text any, got, want any) {
	d.total++
	if equal(got, want) {
		return
	}
	d.n++
	if d.n <= 5 {
		d.t.Errorf("%s %s mismatch\n text: %q\n got:  %v\n want: %v", d.name, what, text, got, want)
	}
}

// equal compares without formatting the common cases (formatting 10,000
// ids per check dominates the test's time under the race detector).
func equal(got, want any) bool {
	switch g := got.(type) {
	case refEncoding:
		if w, ok := want.(refEncoding); ok {
			return slices.Equal(g[0], w[0]) && slices.Equal(g[1], w[1])
		}
	case string:
		if w, ok := want.(string); ok {
			return g == w
		}
	}
	return fmt.Sprint(got) == fmt.Sprint(want)
}

func (d *diffs) done() {
	d.t.Helper()
	if d.n > 0 {
		d.t.Errorf("%s: %d of %d checks differ from the reference", d.name, d.n, d.total)
	} else {
		d.t.Logf("%s: %d checks identical to the reference", d.name, d.total)
	}
}

// TestConformance encodes the generated corpus with the Go package and with
// Hugging Face's Rust tokenizers (Node binding) and requires identical ids
// and type ids for both tokenizers: single texts and pairs, with and without
// special tokens, plus decode and truncation checks.
func TestConformance(t *testing.T) {
	t.Parallel()
	ref := referenceEnv(t)
	texts := conformanceCorpus(corpusSize)
	corpusPath, corpus := writeCorpus(t, texts)
	for _, tc := range []struct{ name, path string }{{"qwen3", ref.qwen}, {"bert-uncased", ref.bert}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tok, err := FromFile(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			want := runReference(t, ref, tc.path, corpusPath)
			if len(want.Single) != len(texts) || len(want.Pair) != len(corpus.Pairs) {
				t.Fatalf("reference returned %d singles, %d pairs", len(want.Single), len(want.Pair))
			}
			d := &diffs{t: t, name: tc.name}
			enc := func(e *Encoding) refEncoding { return refEncoding{e.IDs, e.TypeIDs} }
			for i, s := range texts {
				for _, special := range []bool{true, false} {
					got, err := tok.Encode(s, special)
					if err != nil {
						t.Fatal(err)
					}
					w := want.Single[i]
					if !special {
						w = want.SingleNoSpecial[i]
					}
					d.check(fmt.Sprintf("single (special %v)", special), s, enc(got), w)
				}
			}
			for k, p := range corpus.Pairs {
				a, b := texts[p[0]], texts[p[1]]
				for _, special := range []bool{true, false} {
					got, err := tok.EncodePair(a, b, special)
					if err != nil {
						t.Fatal(err)
					}
					w := want.Pair[k]
					if !special {
						w = want.PairNoSpecial[k]
					}
					d.check(fmt.Sprintf("pair (special %v)", special), [2]string{a, b}, enc(got), w)
				}
			}
			for i, w := range want.Decode {
				for j, skip := range []bool{false, true} {
					got, err := tok.Decode(want.Single[i][0], skip)
					if err != nil {
						t.Fatal(err)
					}
					d.check(fmt.Sprintf("decode (skip special %v)", skip), texts[i], got, w[j])
				}
			}
			for k, tr := range corpus.Truncate {
				i, j, maxLen := tr[0].(int), tr[1].(int), tr[2].(int)
				s := LongestFirst
				if tr[3] == "OnlySecond" {
					s = OnlySecond
				}
				got, err := tok.EncodeTruncated(Input{Text: texts[i], Pair: texts[j], HasPair: true}, true, maxLen, s)
				w := want.Truncate[k]
				if w == nil {
					if !errors.Is(err, ErrTruncation) {
						d.check("truncate error", [2]string{texts[i], texts[j]}, err, ErrTruncation)
					}
					continue
				}
				if err != nil {
					t.Fatalf("truncate %d: %v", k, err)
				}
				if got.Len() > maxLen {
					t.Errorf("truncate %d: %d tokens, budget %d", k, got.Len(), maxLen)
				}
				d.check(fmt.Sprintf("truncate (max %d, %v)", maxLen, tr[3]), [2]string{texts[i], texts[j]}, enc(got), *w)
			}
			d.done()
			batch := make([]Input, min(len(texts), 1000))
			for i := range batch {
				batch[i] = Input{Text: texts[i], Pair: texts[(i*7+3)%len(texts)], HasPair: i%2 == 0}
			}
			encs, err := tok.EncodeBatch(batch, true)
			if err != nil {
				t.Fatal(err)
			}
			for i, e := range encs {
				w := want.Single[i]
				if batch[i].HasPair {
					w = want.Pair[i]
				}
				if !slices.Equal(e.IDs, w[0]) || !slices.Equal(e.TypeIDs, w[1]) {
					t.Fatalf("EncodeBatch item %d differs from the reference", i)
				}
			}
		})
	}
}
