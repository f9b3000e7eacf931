package rerank

import (
	"fmt"
	"runtime"

	"twostage/errdefs"
	"twostage/internal/par"
	"twostage/tokenizer"
)

// CutTokens cuts each text to its longest prefix, at a character boundary,
// that the engine's tokenizer encodes to at most maxTokens tokens (no
// special tokens, no prompt template), and returns the texts with their
// token counts; maxTokens < 1 cuts nothing and only counts. The server
// uses it for Cohere's max_tokens_per_doc and Jina's usage. A text that is
// not valid UTF-8 wraps errdefs.ErrInvalidInput; a closed engine
// errdefs.ErrClosed.
func (e *Engine) CutTokens(texts []string, maxTokens int) ([]string, []int, error) {
	if e.closed.Load() {
		return nil, nil, fmt.Errorf("rerank: engine: %w", errdefs.ErrClosed)
	}
	for i, t := range texts {
		if err := checkText(fmt.Sprintf("text %d", i), t); err != nil {
			return nil, nil, err
		}
	}
	out, counts := make([]string, len(texts)), make([]int, len(texts))
	// The texts are encoded on all cores, as the tokenizer's EncodeBatch does.
	par.For(len(texts), runtime.GOMAXPROCS(0), func(i int) error {
		out[i], counts[i] = cutTokens(e.prompt.tok, texts[i], maxTokens)
		return nil
	})
	return out, counts, nil
}

// cutTokens searches the character boundaries of text for the longest
// prefix of at most limit tokens. Token counts grow about linearly with the
// prefix, so the search interpolates between the counts known at both ends,
// bisecting every other step so that a skewed text still takes O(log n)
// encodings. Counts are not strictly monotone in the prefix (a merge can
// span the cut), so the answer is a prefix that fits and whose next
// character boundary does not.
func cutTokens(tok *tokenizer.Tokenizer, text string, limit int) (string, int) {
	count := func(s string) int {
		e, _ := tok.Encode(s, false)
		return len(e.IDs)
	}
	n := count(text)
	if limit < 1 || n <= limit {
		return text, n
	}
	bounds := make([]int, 0, len(text)+1)
	for k := range text {
		bounds = append(bounds, k)
	}
	bounds = append(bounds, len(text))
	lo, hi := 0, len(bounds)-1 // text[:bounds[lo]] fits, text[:bounds[hi]] does not
	cLo, cHi := 0, n
	for step := 0; hi-lo > 1; step++ {
		mid := lo + (hi-lo)/2
		if step%2 == 0 && cHi > cLo {
			mid = lo + int(float64(hi-lo)*float64(limit-cLo)/float64(cHi-cLo))
		}
		mid = min(max(mid, lo+1), hi-1)
		if c := count(text[:bounds[mid]]); c <= limit {
			lo, cLo = mid, c
		} else {
			hi, cHi = mid, c
		}
	}
	return text[:bounds[lo]], cLo
}
