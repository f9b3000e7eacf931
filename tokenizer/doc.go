// Package tokenizer loads Hugging Face tokenizer.json files and encodes text
// into token ids exactly as Hugging Face's Rust tokenizers library does.
//
// Supported components are the ones used by the models twostage runs:
// byte-level BPE as used by GPT-2, Qwen2 and Qwen3 (NFC normalizer, the Split
// pre-tokenizer with the Qwen/GPT-2 patterns implemented by a hand-written
// scanner, ByteLevel pre-tokenizer, post-processor and decoder) and WordPiece
// as used by BERT-family models (BertNormalizer, BertPreTokenizer, WordPiece,
// TemplateProcessing and BertProcessing post-processors, WordPiece decoder).
// Added and special tokens are matched in the input the way Hugging Face does:
// leftmost-longest, honouring their lstrip, rstrip, single_word and normalized
// flags. A tokenizer.json naming any other component is rejected at load time
// with an error naming the component (wrapping twostage.ErrUnsupported).
//
// Text is Go strings. Invalid UTF-8 is replaced before encoding: each maximal
// ill-formed subsequence becomes one U+FFFD, as Rust's String::from_utf8_lossy
// and the WHATWG UTF-8 decoder do, so Encode gives what the Rust library gives
// for that lossily converted text (a JavaScript or Python caller can only pass
// such replaced text). Encode never fails on bad UTF-8.
//
// Truncation and padding settings stored in a tokenizer.json are not applied
// by Encode; use EncodeTruncated, TruncatePair and Pad explicitly.
//
// A Tokenizer is immutable after loading and safe for concurrent use.
package tokenizer
