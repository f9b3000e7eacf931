package tokenizer

import (
	"errors"
	"fmt"

	"twostage"
)

type pipeline struct{}

func load(data []byte) (*pipeline, error) {
	return nil, fmt.Errorf("tokenizer: not implemented yet: %w", twostage.ErrUnsupported)
}

var errTODO = errors.New("tokenizer: not implemented yet")

// Encode encodes one text; addSpecial runs the post-processor's special tokens.
func (t *Tokenizer) Encode(text string, addSpecial bool) (*Encoding, error) { return nil, errTODO }

// EncodePair encodes a pair of texts.
func (t *Tokenizer) EncodePair(text, pair string, addSpecial bool) (*Encoding, error) {
	return nil, errTODO
}

// EncodeBatch encodes inputs in parallel, keeping input order.
func (t *Tokenizer) EncodeBatch(inputs []Input, addSpecial bool) ([]*Encoding, error) {
	return nil, errTODO
}

// Decode turns ids back into text.
func (t *Tokenizer) Decode(ids []int, skipSpecial bool) (string, error) { return "", errTODO }

// TokenToID returns the id of a token.
func (t *Tokenizer) TokenToID(token string) (int, bool) { return 0, false }

// IDToToken returns the token of an id.
func (t *Tokenizer) IDToToken(id int) (string, bool) { return "", false }

// VocabSize returns the vocabulary size including added tokens.
func (t *Tokenizer) VocabSize() int { return 0 }

// TruncationStrategy selects which text of a pair loses tokens.
type TruncationStrategy int

// Truncation strategies.
const (
	LongestFirst TruncationStrategy = iota
	OnlyFirst
	OnlySecond
)

// NumSpecialTokens returns how many tokens the post-processor adds.
func (t *Tokenizer) NumSpecialTokens(pair bool) int { return 0 }

// TruncatePair truncates a and b (b may be nil) to maxTokens in total.
func TruncatePair(a, b *Encoding, maxTokens int, s TruncationStrategy) error { return errTODO }

// Pad right-pads encs to the longest, rounded up to toMultipleOf.
func Pad(encs []*Encoding, padID, padTypeID int, toMultipleOf int) int { return 0 }
