package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"twostage"
	"twostage/internal/validate"
	"twostage/tokenizer"
)

func init() {
	register("tokenize", "encode JSON lines of text (or text pairs) into token ids with a tokenizer.json", cmdTokenize)
}

// tokenizeBatch is how many input lines are encoded in parallel at a time.
const tokenizeBatch = 256

// tokenizeKeys are the keys tokenize reads from a JSON line; others are
// passed over, but one near these is refused (validate.Misspelt).
var tokenizeKeys = []string{"text", "pair"}

// cmdTokenize runs `twostage tokenize --tokenizer FILE [--no-special]`: it
// reads JSON lines {"text": "..."} or {"text": "...", "pair": "..."} on stdin
// and writes one line {"ids": [...], "type_ids": [...]} per input, in input
// order. Blank lines are skipped. --no-special adds no special tokens.
// Truncation and padding settings stored in the tokenizer.json are not
// applied.
func cmdTokenize(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("tokenize", stderr)
	path := fs.String("tokenizer", "", "tokenizer.json file (Hugging Face format)")
	noSpecial := fs.Bool("no-special", false, "add no special tokens (the post-processor's [CLS]/[SEP] etc.)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: twostage tokenize --tokenizer FILE [--no-special] < input.jsonl
Input lines: {"text": "..."} or {"text": "...", "pair": "..."}
Output lines: {"ids": [...], "type_ids": [...]}`)
		fs.PrintDefaults()
	}
	if err := parseFlagsOnly(fs, args); err != nil {
		return err
	}
	switch {
	case *path == "":
		return usageErr("--tokenizer is required")
	}
	tok, err := tokenizer.FromFile(*path)
	if err != nil {
		return err
	}
	in := bufio.NewReaderSize(stdin, 1<<16)
	out := bufio.NewWriterSize(stdout, 1<<16)
	var batch []tokenizer.Input
	lineNo := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		encs, err := tok.EncodeBatch(batch, !*noSpecial)
		if err != nil {
			return err
		}
		for _, e := range encs {
			line, err := json.Marshal(struct {
				IDs     []int `json:"ids"`
				TypeIDs []int `json:"type_ids"`
			}{e.IDs, e.TypeIDs})
			if err != nil {
				return err
			}
			out.Write(line)
			out.WriteByte('\n')
		}
		batch = batch[:0]
		return nil
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		line, readErr := in.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			lineNo++
			var rec struct {
				Text *string `json:"text"`
				Pair *string `json:"pair"`
			}
			if err := checkJSONText(line); err != nil {
				return fmt.Errorf("tokenize: input line %d, %w", lineNo, err)
			}
			if err := json.Unmarshal(line, &rec); err != nil {
				return fmt.Errorf("tokenize: input line %d: %v: %w", lineNo, jsonError(err), twostage.ErrInvalidInput)
			}
			if k := validate.Misspelt(line, tokenizeKeys); k != "" { // "pari" would tokenize the text alone
				return fmt.Errorf("tokenize: input line %d: %s: %w", lineNo, validate.UnknownFieldMessage(k, tokenizeKeys), twostage.ErrInvalidInput)
			}
			if rec.Text == nil {
				return fmt.Errorf("tokenize: input line %d: no \"text\" field: %w", lineNo, twostage.ErrInvalidInput)
			}
			item := tokenizer.Input{Text: *rec.Text}
			if rec.Pair != nil {
				item.Pair, item.HasPair = *rec.Pair, true
			}
			batch = append(batch, item)
			// Encode when the batch is full or no more input is waiting, so
			// interactive use gets each answer at once.
			if len(batch) == tokenizeBatch || in.Buffered() == 0 {
				if err := flush(); err != nil {
					return err
				}
				if err := out.Flush(); err != nil {
					return err
				}
			}
		}
		if readErr != nil {
			if !errors.Is(readErr, io.EOF) {
				return fmt.Errorf("tokenize: read input: %w", readErr)
			}
			break
		}
	}
	if err := flush(); err != nil {
		return err
	}
	return out.Flush()
}
