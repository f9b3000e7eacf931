package tokenizer_test

import (
	"fmt"

	"twostage/tokenizer"
)

// tinyBert is a complete tokenizer.json for a BERT-style WordPiece tokenizer
// with a ten-token vocabulary.
const tinyBert = `{
  "added_tokens": [
    {"id": 0, "content": "[PAD]", "special": true},
    {"id": 1, "content": "[UNK]", "special": true},
    {"id": 2, "content": "[CLS]", "special": true},
    {"id": 3, "content": "[SEP]", "special": true}
  ],
  "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true, "strip_accents": null, "lowercase": true},
  "pre_tokenizer": {"type": "BertPreTokenizer"},
  "post_processor": {"type": "TemplateProcessing",
    "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
    "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "[SEP]", "type_id": 0}},
             {"Sequence": {"id": "B", "type_id": 1}}, {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
    "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [2], "tokens": ["[CLS]"]}, "[SEP]": {"id": "[SEP]", "ids": [3], "tokens": ["[SEP]"]}}},
  "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
  "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": 100,
    "vocab": {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "re": 4, "##rank": 5, "cafe": 6, "?": 7, "query": 8, "doc": 9}}
}`

func Example() {
	tok, err := tokenizer.FromBytes([]byte(tinyBert))
	if err != nil {
		fmt.Println(err)
		return
	}
	enc, _ := tok.EncodePair("Rerank?", "Café doc", true)
	fmt.Println(enc.Tokens)
	fmt.Println(enc.IDs)
	fmt.Println(enc.TypeIDs)
	text, _ := tok.Decode(enc.IDs, true)
	fmt.Println(text)
	// Output:
	// [[CLS] re ##rank ? [SEP] cafe doc [SEP]]
	// [2 4 5 7 3 6 9 3]
	// [0 0 0 0 0 1 1 1]
	// rerank? cafe doc
}

func ExampleTokenizer_EncodeTruncated() {
	tok, _ := tokenizer.FromBytes([]byte(tinyBert))
	in := tokenizer.Input{Text: "query", Pair: "doc doc doc doc doc", HasPair: true}
	enc, _ := tok.EncodeTruncated(in, true, 6, tokenizer.OnlySecond)
	fmt.Println(enc.Tokens)
	// Output:
	// [[CLS] query [SEP] doc doc [SEP]]
}

func ExamplePad() {
	tok, _ := tokenizer.FromBytes([]byte(tinyBert))
	encs, _ := tok.EncodeBatch([]tokenizer.Input{{Text: "query"}, {Text: "rerank doc cafe"}}, true)
	n := tokenizer.Pad(encs, 0, 0, 8)
	fmt.Println(n)
	for _, e := range encs {
		fmt.Println(e.IDs, e.AttentionMask)
	}
	// Output:
	// 8
	// [2 8 3 0 0 0 0 0] [1 1 1 0 0 0 0 0]
	// [2 4 5 9 6 3 0 0] [1 1 1 1 1 1 0 0]
}
