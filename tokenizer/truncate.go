package tokenizer

import (
	"errors"
	"fmt"

	"twostage/errdefs"
)

// TruncationStrategy selects which text of a pair loses tokens.
type TruncationStrategy int

// Truncation strategies, as in Hugging Face tokenizers.
const (
	// LongestFirst removes tokens from the longer text until both fit.
	LongestFirst TruncationStrategy = iota
	// OnlyFirst truncates only the first text.
	OnlyFirst
	// OnlySecond truncates only the second text (the document of a
	// query-document pair).
	OnlySecond
)

// ErrTruncation reports a text that cannot be truncated enough: the
// strategy's text is shorter than the number of tokens to remove.
var ErrTruncation = errors.New("tokenizer: sequence to truncate too short to respect the token budget")

// truncate keeps the first n tokens of e (right truncation).
func (e *Encoding) truncate(n int) {
	if n >= len(e.IDs) {
		return
	}
	e.IDs, e.TypeIDs, e.AttentionMask, e.Tokens = e.IDs[:n], e.TypeIDs[:n], e.AttentionMask[:n], e.Tokens[:n]
}

// TruncatePair truncates raw encodings (before post-processing) in place so
// that together they hold at most maxTokens tokens, removing tokens from the
// right as Hugging Face's truncate_encodings does. b may be nil. For a
// budget that includes special tokens, pass maxTokens minus
// NumSpecialTokens. OnlyFirst and OnlySecond fail with ErrTruncation (and
// errdefs.ErrInvalidInput) when their text is too short.
func TruncatePair(a, b *Encoding, maxTokens int, s TruncationStrategy) error {
	if a == nil {
		return fmt.Errorf("tokenizer: truncate: nil encoding: %w", errdefs.ErrInvalidInput)
	}
	if maxTokens <= 0 {
		a.truncate(0)
		if b != nil {
			b.truncate(0)
		}
		return nil
	}
	n1, n2 := a.Len(), 0
	if b != nil {
		n2 = b.Len()
	}
	if n1+n2 <= maxTokens {
		return nil
	}
	toRemove := n1 + n2 - maxTokens
	switch s {
	case LongestFirst:
		if b == nil {
			a.truncate(n1 - toRemove)
			return nil
		}
		swap := false
		if n1 > n2 {
			swap = true
			n1, n2 = n2, n1
		}
		if n1 > maxTokens {
			n2 = n1
		} else {
			n2 = max(n1, maxTokens-n1)
		}
		if n1+n2 > maxTokens {
			n1 = maxTokens / 2
			n2 = n1 + maxTokens%2
		}
		if swap {
			n1, n2 = n2, n1
		}
		a.truncate(n1)
		b.truncate(n2)
		return nil
	case OnlyFirst, OnlySecond:
		target := a
		if s == OnlySecond {
			if b == nil {
				return fmt.Errorf("tokenizer: truncate: OnlySecond without a second text: %w", errdefs.ErrInvalidInput)
			}
			target = b
		}
		if target.Len() <= toRemove {
			return fmt.Errorf("%w (%d tokens, %d to remove): %w", ErrTruncation, target.Len(), toRemove, errdefs.ErrInvalidInput)
		}
		target.truncate(target.Len() - toRemove)
		return nil
	}
	return fmt.Errorf("tokenizer: truncate: unknown strategy %d: %w", s, errdefs.ErrInvalidInput)
}

// EncodeTruncated encodes in (a text or a pair) so that the result, special
// tokens included when addSpecial, holds at most maxTokens tokens: the raw
// encodings are truncated with strategy s, then post-processed. This is what
// Hugging Face's encode does with truncation enabled (stride 0, right).
func (t *Tokenizer) EncodeTruncated(in Input, addSpecial bool, maxTokens int, s TruncationStrategy) (*Encoding, error) {
	a := t.p.encodeSeq(in.Text, 0)
	var b *Encoding
	if in.HasPair {
		b = t.p.encodeSeq(in.Pair, 1)
	}
	budget := maxTokens
	if addSpecial {
		budget -= t.NumSpecialTokens(in.HasPair)
		if budget < 0 {
			return nil, fmt.Errorf("tokenizer: max tokens %d below the %d special tokens: %w", maxTokens, t.NumSpecialTokens(in.HasPair), errdefs.ErrInvalidInput)
		}
	}
	if err := TruncatePair(a, b, budget, s); err != nil {
		return nil, err
	}
	return t.p.post.process(a, b, addSpecial), nil
}

// Pad right-pads every encoding in encs to the length of the longest,
// rounded up to a multiple of toMultipleOf when it is above 1: ids with
// padID, type ids with padTypeID, attention mask with 0, tokens with "".
// It returns the padded length.
func Pad(encs []*Encoding, padID, padTypeID int, toMultipleOf int) int {
	n := 0
	for _, e := range encs {
		if e != nil {
			n = max(n, e.Len())
		}
	}
	if toMultipleOf > 1 && n%toMultipleOf != 0 {
		n += toMultipleOf - n%toMultipleOf
	}
	for _, e := range encs {
		if e == nil {
			continue
		}
		for e.Len() < n {
			e.IDs = append(e.IDs, padID)
			e.TypeIDs = append(e.TypeIDs, padTypeID)
			e.AttentionMask = append(e.AttentionMask, 0)
			e.Tokens = append(e.Tokens, "")
		}
	}
	return n
}
