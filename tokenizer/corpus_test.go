package tokenizer

import (
	"math/rand/v2"
	"strings"
	"unicode/utf8"
)

// The conformance corpus: deterministic (seeded) texts covering what breaks
// tokenizers. Random code points are drawn from blocks whose characters are
// assigned since Unicode 8 or earlier and unchanged since, so the reference's
// Unicode data and Go's agree on them; the per-code-point differences are
// covered separately by TestCodepointClassesMatchReference.

var scriptRanges = [][2]rune{
	{0x20, 0x7E},       // ASCII
	{0xA0, 0x24F},      // Latin-1, Latin Extended A/B
	{0x370, 0x3FF},     // Greek
	{0x400, 0x4FF},     // Cyrillic
	{0x530, 0x58F},     // Armenian
	{0x590, 0x5FF},     // Hebrew
	{0x600, 0x6FF},     // Arabic
	{0x900, 0x97F},     // Devanagari
	{0x980, 0x9FF},     // Bengali
	{0xE00, 0xE7F},     // Thai
	{0x10A0, 0x10FF},   // Georgian
	{0x1100, 0x11FF},   // Hangul Jamo
	{0x1E00, 0x1EFF},   // Latin Extended Additional
	{0x2000, 0x206F},   // General Punctuation
	{0x20A0, 0x20BF},   // Currency
	{0x2100, 0x214F},   // Letterlike
	{0x2190, 0x22FF},   // Arrows, math operators
	{0x2460, 0x24FF},   // Enclosed alphanumerics
	{0x3000, 0x303F},   // CJK punctuation
	{0x3040, 0x30FF},   // Hiragana, Katakana
	{0x3400, 0x4DB5},   // CJK Extension A
	{0x4E00, 0x9FCC},   // CJK
	{0xAC00, 0xD7A3},   // Hangul syllables
	{0xF900, 0xFAFF},   // CJK compatibility
	{0xFB00, 0xFB4F},   // Alphabetic presentation forms
	{0xFF00, 0xFFEF},   // Halfwidth and fullwidth
	{0x1D400, 0x1D7FF}, // Mathematical alphanumerics
	{0x1F300, 0x1F64F}, // Emoji (Unicode 6-8)
	{0x20000, 0x2A6D6}, // CJK Extension B
}

var combining = []rune{0x300, 0x301, 0x302, 0x303, 0x308, 0x30A, 0x323, 0x327, 0x328, 0x331, 0x338, 0x345, 0x5B4, 0x64B, 0x93C, 0x94D, 0x3099, 0x309A, 0x20D7}

var emojiSeqs = []string{
	"👨‍👩‍👧‍👦", "👩🏽‍💻", "🏳️‍🌈", "❤️‍🔥", "👍🏿", "🇩🇪", "🇯🇵🇺🇸", "🧑‍🤝‍🧑", "😀", "🤖", "🦀", "🥰", "🫠", "1️⃣", "#️⃣", "✌🏻", "🐈‍⬛", "🧔‍♀️",
}

var specialTexts = []string{
	"<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|im_start|>system\n", "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
	"<|im_", "|>", "<|im_start|><|im_end|>", "<think>", "</think>", "<tool_call>", "<|fim_prefix|>", "<|IM_START|>",
	"[CLS]", "[SEP]", "[MASK]", "[PAD]", "[UNK]", "[cls]", "[SEP][SEP]", "[CLS ]", "<s>", "</s>",
}

var words = strings.Fields(`the quick brown fox jumps over lazy dog rerank retrieval query document
score vector index search model token Hugging Face tokenizer encode decode transformer attention layer
naïve café résumé coöperate façade Straße İstanbul ǅemal ﬁnance ＡＢＣ １２３ Ⅻ ½ ² ㈱ Ω Å é ñ
don't can't I'm you're we've they'll she'd it's Let's O'Neil 'twas rock'n'roll DON'T I'M
ſtraße 'ſ 'S 'LL 'Ve x'D Привет мир Γειά σου κόσμε שלום עולם مرحبا بالعالم नमस्ते दुनिया 你好世界 こんにちは世界 안녕하세요 สวัสดี`)

var punct = []string{".", ",", "!", "?", "...", "—", "–", "\"", "'", "(", ")", "[", "]", "{", "}", "<", ">", "/", "\\", "@", "#", "$", "%", "^", "&", "*", "-", "_", "=", "+", "~", "`", "|", ";", ":", "«", "»", "¿", "¡", "…", "‘", "’", "“", "”", "。", "、", "！"}

var spaces = []string{" ", "  ", "   ", "\t", "\n", "\r\n", "\n\n", " \n ", "\t\t", " \t\n", "\u00a0", "\u3000", "\u2003", "\u200b", "\u2028", "\r", "\v", "\f", "\u0085", "    \n\n   "}

// randomRune draws a code point from scriptRanges.
func randomRune(r *rand.Rand) rune {
	rg := scriptRanges[r.IntN(len(scriptRanges))]
	for {
		c := rg[0] + rune(r.IntN(int(rg[1]-rg[0]+1)))
		if utf8.ValidRune(c) {
			return c
		}
	}
}

// fragment returns one random piece of text of a random category.
func fragment(r *rand.Rand) string {
	var b strings.Builder
	switch r.IntN(12) {
	case 0: // random Unicode across scripts
		for n := 1 + r.IntN(12); n > 0; n-- {
			b.WriteRune(randomRune(r))
		}
	case 1: // emoji and ZWJ sequences
		for n := 1 + r.IntN(4); n > 0; n-- {
			b.WriteString(emojiSeqs[r.IntN(len(emojiSeqs))])
		}
	case 2: // combining marks (NFC composition and reordering)
		for n := 1 + r.IntN(4); n > 0; n-- {
			b.WriteRune(randomRune(r))
			for m := r.IntN(3); m >= 0; m-- {
				b.WriteRune(combining[r.IntN(len(combining))])
			}
		}
	case 3: // whitespace runs
		for n := 1 + r.IntN(4); n > 0; n-- {
			b.WriteString(spaces[r.IntN(len(spaces))])
		}
	case 4: // digits
		for n := 1 + r.IntN(12); n > 0; n-- {
			b.WriteByte(byte('0' + r.IntN(10)))
			if r.IntN(5) == 0 {
				b.WriteString([]string{".", ",", " ", "٣", "७", "½", "²"}[r.IntN(7)])
			}
		}
	case 5: // punctuation
		for n := 1 + r.IntN(5); n > 0; n-- {
			b.WriteString(punct[r.IntN(len(punct))])
		}
	case 6: // special-token text
		b.WriteString(specialTexts[r.IntN(len(specialTexts))])
	case 7: // invalid UTF-8
		for n := 1 + r.IntN(4); n > 0; n-- {
			switch r.IntN(4) {
			case 0:
				b.WriteByte(byte(0x80 + r.IntN(0x80)))
			case 1:
				b.WriteString("\xe2\x82") // truncated sequence
			case 2:
				b.WriteString("\xed\xa0\x80") // surrogate
			default:
				b.WriteByte(byte(0xF0 + r.IntN(16)))
			}
			b.WriteString(words[r.IntN(len(words))])
		}
	case 8: // very long word
		w := words[r.IntN(len(words))]
		for n := 20 + r.IntN(300); n > 0 && b.Len() < 3000; n-- {
			b.WriteString(w)
		}
	case 9: // control characters and oddities
		b.WriteRune([]rune{0, 1, 0x1f, 0x7f, 0x200d, 0xfeff, 0xfffd, 0xe000, 0x2066, 0x00ad, 0x0130, 0x03a3, 0x1e9e}[r.IntN(13)])
	default: // words and sentences
		for n := 1 + r.IntN(10); n > 0; n-- {
			if n%3 == 0 {
				b.WriteString(strings.ToUpper(words[r.IntN(len(words))]))
			} else {
				b.WriteString(words[r.IntN(len(words))])
			}
			if r.IntN(4) == 0 {
				b.WriteString(punct[r.IntN(len(punct))])
			}
			b.WriteString(spaces[r.IntN(3)])
		}
	}
	return b.String()
}

// conformanceCorpus returns n texts; the generator is seeded, so every run
// produces the same corpus. About 1% of the texts are over 10,000 characters.
func conformanceCorpus(n int) []string {
	r := rand.New(rand.NewPCG(4, 2026))
	texts := make([]string, 0, n)
	texts = append(texts, "", " ", "\n", "a", "<|im_start|>", "[CLS]", "\xff", "hello world", "Hello, World! It's 2026.")
	for len(texts) < n {
		var b strings.Builder
		target := 1 + r.IntN(12)
		if len(texts)%100 == 50 {
			for utf8.RuneCountInString(b.String()) <= 10000 {
				b.WriteString(fragment(r))
				b.WriteString(spaces[r.IntN(len(spaces))])
			}
		} else {
			for i := 0; i < target; i++ {
				b.WriteString(fragment(r))
				if r.IntN(2) == 0 {
					b.WriteString(" ")
				}
			}
		}
		texts = append(texts, b.String())
	}
	return texts
}
