package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"twostage"
	"twostage/internal/testassets"
	"twostage/tokenizer"
)

type tokenizeLine struct {
	IDs     []int `json:"ids"`
	TypeIDs []int `json:"type_ids"`
}

func runTokenize(t *testing.T, args []string, input string) ([]tokenizeLine, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := cmdTokenize(context.Background(), args, strings.NewReader(input), &stdout, &stderr)
	var lines []tokenizeLine
	for _, l := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		if l == "" {
			continue
		}
		var tl tokenizeLine
		if err := json.Unmarshal([]byte(l), &tl); err != nil {
			t.Fatalf("output line %q: %v", l, err)
		}
		lines = append(lines, tl)
	}
	return lines, err
}

// The expected ids come from Hugging Face's Rust tokenizers (Node binding).
func TestTokenizeCommand(t *testing.T) {
	qwen := testassets.Qwen3Tokenizer(t)
	bert := testassets.BertTokenizer(t)
	input := `{"text": "Hello <|im_start|> world's  \n\n  x", "pair": "pair text"}` + "\n\n" + `{"text": "hello world"}`
	tests := []struct {
		name string
		args []string
		want []tokenizeLine
	}{
		{"qwen3", []string{"--tokenizer", qwen}, []tokenizeLine{
			{[]int{9707, 220, 151644, 1879, 594, 18611, 220, 856, 12670, 1467}, []int{0, 0, 0, 0, 0, 0, 0, 0, 1, 1}},
			{[]int{14990, 1879}, []int{0, 0}},
		}},
		{"bert", []string{"--tokenizer", bert}, []tokenizeLine{
			{[]int{101, 7592, 1026, 1064, 10047, 1035, 2707, 1064, 1028, 2088, 1005, 1055, 1060, 102, 3940, 3793, 102},
				[]int{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1}},
			{[]int{101, 7592, 2088, 102}, []int{0, 0, 0, 0}},
		}},
		{"bert no special", []string{"--tokenizer", bert, "--no-special"}, []tokenizeLine{
			{[]int{7592, 1026, 1064, 10047, 1035, 2707, 1064, 1028, 2088, 1005, 1055, 1060, 3940, 3793},
				[]int{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1}},
			{[]int{7592, 2088}, []int{0, 0}},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := runTokenize(t, tc.args, input)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got %v\nwant %v", got, tc.want)
			}
		})
	}
}

// TestTokenizeCommandOrder checks that more lines than one batch come back in
// input order, each as tokenizer.Encode gives it.
func TestTokenizeCommandOrder(t *testing.T) {
	path := testassets.BertTokenizer(t)
	tok, err := tokenizer.FromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var in strings.Builder
	var want []tokenizeLine
	for i := 0; i < 3*tokenizeBatch+7; i++ {
		text := fmt.Sprintf("line %d %s", i, strings.Repeat("word ", i%13))
		b, _ := json.Marshal(map[string]string{"text": text})
		in.Write(b)
		in.WriteByte('\n')
		e, err := tok.Encode(text, true)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, tokenizeLine{e.IDs, e.TypeIDs})
	}
	got, err := runTokenize(t, []string{"--tokenizer", path}, in.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d lines, want %d", len(got), len(want))
	}
	for i := range want {
		if !slices.Equal(got[i].IDs, want[i].IDs) {
			t.Fatalf("line %d: got %v, want %v", i, got[i].IDs, want[i].IDs)
		}
	}
}

func TestTokenizeCommandErrors(t *testing.T) {
	bert := testassets.BertTokenizer(t)
	tests := []struct {
		name  string
		args  []string
		input string
		want  error
	}{
		{"no tokenizer flag", nil, "", errUsage},
		{"extra argument", []string{"--tokenizer", bert, "x"}, "", errUsage},
		{"unknown flag", []string{"--tokenizer", bert, "--bogus"}, "", errUsage},
		{"bad json", []string{"--tokenizer", bert}, "{\"text\": \n", twostage.ErrInvalidInput},
		{"no text field", []string{"--tokenizer", bert}, `{"pair": "x"}`, twostage.ErrInvalidInput},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runTokenize(t, tc.args, tc.input)
			if !errors.Is(err, tc.want) {
				t.Errorf("got error %v, want %v", err, tc.want)
			}
		})
	}
}
