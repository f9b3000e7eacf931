package rerank

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"twostage/errdefs"
	"twostage/internal/testassets"
	"twostage/internal/tinymodel"
	"twostage/modeldir"
)

// TestCutTokens: every cut text is a prefix of its input that the model's
// tokenizer encodes to the returned count, at most the limit, and one more
// character would exceed it; texts within the limit come back whole.
func TestCutTokens(t *testing.T) {
	for _, family := range crossFamilies {
		t.Run(family, func(t *testing.T) {
			dir := model(t, family)
			e := openEngine(t, dir, nil)
			tok := testTokenizer(t, dir)
			count := func(s string) int {
				enc, _ := tok.Encode(s, false)
				return len(enc.IDs)
			}
			texts := append([]string{strings.Repeat("日本語のテキスト", 40)}, testDocs...)
			for _, limit := range []int{0, 1, 5, 17, 1000} {
				got, n, err := e.CutTokens(texts, limit)
				if err != nil {
					t.Fatal(err)
				}
				cut := 0
				for i, text := range texts {
					full := count(text)
					switch {
					case !strings.HasPrefix(text, got[i]):
						t.Errorf("limit %d: %q is not a prefix of %q", limit, got[i], text)
					case count(got[i]) != n[i]:
						t.Errorf("limit %d: count %d, tokenizer says %d for %q", limit, n[i], count(got[i]), got[i])
					case limit < 1 || full <= limit:
						if got[i] != text || n[i] != full {
							t.Errorf("limit %d: %q (%d tokens) cut to %q", limit, text, full, got[i])
						}
					case n[i] > limit:
						t.Errorf("limit %d: %q has %d tokens", limit, got[i], n[i])
					default:
						cut++
						_, size := utf8.DecodeRuneInString(text[len(got[i]):])
						if next := count(text[:len(got[i])+size]); next <= limit {
							t.Errorf("limit %d: %q could keep one more character (%d tokens)", limit, got[i], next)
						}
					}
				}
				if limit == 5 && cut < 5 {
					t.Errorf("limit 5 cut only %d texts", cut)
				}
			}
			if _, _, err := e.CutTokens([]string{"a\xffb"}, 3); !errors.Is(err, errdefs.ErrInvalidInput) {
				t.Errorf("invalid UTF-8: %v, want ErrInvalidInput", err)
			}
			e.Close()
			if _, _, err := e.CutTokens([]string{"a"}, 3); !errors.Is(err, errdefs.ErrClosed) {
				t.Errorf("after Close: %v, want ErrClosed", err)
			}
		})
	}
}

// BenchmarkCutTokens compares counting (one encoding per text) with cutting
// long texts to 128 tokens (the search's extra encodings of prefixes), on
// the zerank tokenizer.
func BenchmarkCutTokens(b *testing.B) {
	testassets.ONNXRuntime(b)
	dir := tinymodel.Model(b, modeldir.FamilyZerank)
	e, err := Open(dir, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	texts := make([]string, 64)
	for i := range texts {
		texts[i] = strings.Repeat(testDocs[i%len(testDocs)]+" ", 20)
	}
	// Counting and cutting to 128 tokens alternate in one loop, so the
	// ratio compares them under the same load.
	var count, cut time.Duration
	for b.Loop() {
		for _, limit := range []int{0, 128} {
			t0 := time.Now()
			if _, _, err := e.CutTokens(texts, limit); err != nil {
				b.Fatal(err)
			}
			if limit == 0 {
				count += time.Since(t0)
			} else {
				cut += time.Since(t0)
			}
		}
	}
	b.ReportMetric(float64(count.Microseconds())/float64(b.N), "count-µs/op")
	b.ReportMetric(float64(cut.Microseconds())/float64(b.N), "cut128-µs/op")
	b.ReportMetric(cut.Seconds()/count.Seconds(), "cut/count")
}
