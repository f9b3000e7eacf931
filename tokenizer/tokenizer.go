package tokenizer

import (
	"fmt"
	"os"
)

// Tokenizer encodes and decodes text with the components of one
// tokenizer.json. It is immutable after loading and safe for concurrent use.
type Tokenizer struct {
	p *pipeline
}

// Input is one item of EncodeBatch: a text, and a second text when HasPair.
type Input struct {
	Text    string
	Pair    string
	HasPair bool
}

// Encoding is the result of encoding one text or pair. All slices have the
// same length.
type Encoding struct {
	IDs           []int    // token ids
	TypeIDs       []int    // segment ids: 0 for the first text, 1 for the pair (per the post-processor)
	AttentionMask []int    // 1 for real tokens, 0 for padding added by Pad
	Tokens        []string // token strings, for debugging
}

// Len returns the number of tokens.
func (e *Encoding) Len() int { return len(e.IDs) }

// FromFile loads the tokenizer.json at path.
func FromFile(path string) (*Tokenizer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	return FromBytes(data)
}

// FromBytes loads a tokenizer from the contents of a tokenizer.json. A
// component the package does not support gives an error naming it, wrapping
// errdefs.ErrUnsupported; malformed JSON wraps errdefs.ErrInvalidInput.
func FromBytes(data []byte) (*Tokenizer, error) {
	p, err := load(data)
	if err != nil {
		return nil, err
	}
	return &Tokenizer{p: p}, nil
}
