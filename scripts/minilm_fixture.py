#!/usr/bin/env python3
"""minilm_fixture.py writes embed/testdata/minilm.json: the reference outputs
of sentence-transformers/all-MiniLM-L6-v2 (the real weights that
scripts/deps.sh minilm unpacks into .deps/models/all-MiniLM-L6-v2) on a fixed
set of varied texts, for embed's real-weights test.

Run once, in the Python stack's virtual environment (scripts/deps.sh pystack):

    .deps/pystack/bin/python scripts/minilm_fixture.py

For every text it records the token ids of Hugging Face's tokenizer (through
SentenceTransformer.tokenize, which truncates at max_seq_length = 256 tokens,
special tokens included) as little-endian uint16, base64; and the
sentence-transformers embedding (mean pooling, L2 normalized) as little-endian
float16, base64. float16 keeps the file small and still lets the test check
cosine >= 0.99999: rounding each component of a unit vector to float16 moves
it by at most 2^-12 of its size, so the rounded vector's cosine with the exact
one is at least 1 - 2^-25 (about 1 - 3e-8), 300 times below the tolerance.
"""
import base64
import json
import os
import sys

import numpy as np
import sentence_transformers
import tokenizers
import torch
import transformers
from sentence_transformers import SentenceTransformer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, ".deps", "models", "all-MiniLM-L6-v2")
OUT = os.path.join(ROOT, "embed", "testdata", "minilm.json")

LONG_PROSE = [
    # Past 256 tokens: truncation at max_seq_length.
    "The history of information retrieval begins long before computers. Librarians in the nineteenth "
    "century built card catalogues, subject headings and classification schemes so that a reader could "
    "find a book without knowing its exact title. When the first digital collections appeared in the "
    "1950s and 1960s, researchers such as Hans Peter Luhn and Gerard Salton asked how a machine could "
    "decide which documents answered a question. Luhn proposed that the frequency of a word in a "
    "document says something about its importance, while Salton's SMART system introduced the vector "
    "space model, in which documents and queries are points in a space whose axes are terms. Relevance "
    "became a matter of geometry: the cosine of the angle between two vectors. For decades the weights "
    "on those axes were counts, adjusted by how rare a term is across the collection, the familiar "
    "tf-idf. Probabilistic models followed, culminating in BM25, which remains a strong baseline today. "
    "Neural networks changed the picture again. Instead of sparse vectors with one dimension per word, "
    "dense encoders map a passage to a few hundred numbers learned from data, so that a query about "
    "automobiles can match a document about cars even when they share no words. Retrieval now often "
    "happens in two stages: a fast first stage narrows millions of documents to a few hundred "
    "candidates, and a slower, more accurate model reads each candidate together with the query and "
    "reorders them. This division of labour trades a little latency for a large gain in precision, "
    "and it is the design that most modern search and question answering systems share.",
    "Sourdough bread needs only flour, water and salt, yet it rewards patience more than any other "
    "recipe in the kitchen. The starter, a culture of wild yeast and lactic acid bacteria, must be fed "
    "regularly; a lively starter doubles in volume within six hours of feeding and smells pleasantly "
    "sour. To make a loaf, mix five hundred grams of bread flour with three hundred and fifty grams of "
    "water and let it rest for an hour, a step bakers call the autolyse. Then add one hundred grams of "
    "active starter and ten grams of salt, squeezing the dough between your fingers until everything is "
    "incorporated. Over the next four hours perform a set of stretches and folds every thirty minutes, "
    "lifting one side of the dough and folding it over the rest. The dough will become smoother, "
    "stronger and more elastic. Shape it into a tight ball, place it seam side up in a floured basket, "
    "and leave it in the refrigerator overnight. The cold slows fermentation and deepens the flavour. "
    "In the morning, heat a cast iron pot in the oven at two hundred and fifty degrees Celsius for "
    "forty five minutes, turn the loaf out onto parchment, score it with a razor blade, and bake it "
    "covered for twenty minutes and uncovered for another twenty five, until the crust is deep brown "
    "and the bottom sounds hollow when tapped. Let it cool completely before slicing; the crumb is "
    "still setting as the steam escapes.",
    "Dear Sir or Madam, I am writing to dispute a charge that appeared on my credit card statement "
    "dated the fourteenth of March. The charge, in the amount of three hundred and twelve dollars and "
    "forty cents, is described as an annual membership renewal. I cancelled this membership by "
    "telephone on the second of February and was given a confirmation number, which I have included "
    "below, together with the name of the representative who handled my call. Despite this, the "
    "renewal was processed six weeks later. I have attempted to resolve the matter directly with the "
    "merchant on three occasions, by email on the sixteenth and twentieth of March and by telephone on "
    "the twenty second, but I have received no response other than an automated acknowledgement. I "
    "would therefore ask that you open a formal dispute, credit the amount to my account while the "
    "investigation is in progress, and send me written confirmation of the outcome. Copies of my "
    "cancellation email, the confirmation number and the merchant's automated replies are attached. "
    "Please do not hesitate to contact me at the number below if you need any further information. "
    "I have been a customer of your bank for more than eleven years and have always found your staff "
    "helpful, and I trust this matter can be settled quickly and fairly. Yours faithfully, A. Customer. "
    "Account ending 4417. Confirmation number CX-20391-TT. Representative: Daniel, Tuesday morning shift.",
]

LONG_OTHER = [
    # Long code: many short wordpieces.
    "\n".join(
        "def f_%d(x, y=%d):\n    \"\"\"Return x*%d + y, or raise ValueError.\"\"\"\n    if x < 0:\n"
        "        raise ValueError(f'negative: {x}')\n    return x * %d + y  # %s" % (i, i, i, i, "ok" if i % 2 else "odd")
        for i in range(12)
    ),
    # Long CJK: one token per character, far past 256.
    "检索增强生成是一种将信息检索与文本生成相结合的方法。" * 14,
    # Long mixed scripts.
    " ".join(["Ελληνικά", "русский", "日本語", "한국어", "עברית", "العربية", "हिन्दी", "ไทย", "Ünïcödé", "naïve café"] * 30),
    # A long run of one word, and one very long "word" (past WordPiece's 100-character limit).
    "data " * 400,
    "supercalifragilisticexpialidocious" * 5 + " and then some ordinary words after it",
]

SHORT = [
    "", " ", "\t\n", "a", "I", "hi", "OK!", "42", "3.14159", "-1e-9", "yes", "no",
    "What is the capital of France?",
    "Paris is the capital and most populous city of France.",
    "how do i reset my password",
    "HOW DO I RESET MY PASSWORD",
    "How Do I Reset My Password?",
    "The quick brown fox jumps over the lazy dog.",
    "A man is eating food.", "A man is eating a piece of bread.", "A man is riding a horse.",
    "The new movie is awesome", "The new movie is so great", "The cat sits outside",
    "Machine learning is a subfield of artificial intelligence.",
    "Deep learning uses neural networks with many layers.",
    "What's the weather like in São Paulo today?",
    "can't won't shouldn't y'all'd've",
    "e-mail vs. email vs. E-Mail",
    "U.S.A. and U.K. and e.g. i.e. etc.",
    "$1,000,000.00 (one million dollars) + 15% VAT = ?",
    "Call +1 (555) 010-9999 or write to support@example.com",
    "https://example.com/search?q=two+stage&lang=en#results",
    "C:\\Program Files\\twostage\\bin\\twostage.exe --help",
    "#hashtag @mention r/golang 1st 2nd 3rd",
    "!!!???...,,,;;;:::",
    "(((nested (parentheses) [brackets] {braces})))",
    "[CLS] literal special tokens [SEP] in the [MASK] text [PAD] [UNK]",
    "[cls] lowercase look-alikes [sep]",
    "<s>not bert tokens</s> <|im_start|>system",
    # Unicode.
    "naïve café résumé coöperate façade jalapeño",
    "Straße, Größe, Maß",
    "ÀÉÎÕÜ àéîõü ÇÑ çñ",
    "e\u0301 (e plus combining acute) vs \u00e9 (precomposed)",
    "ｆｕｌｌｗｉｄｔｈ ｔｅｘｔ １２３",
    "non\u00a0breaking\u2009thin\u200bzero width",
    "soft\u00adhyphen and \ufeffBOM",
    "Привет, как дела?",
    "Καλημέρα κόσμε",
    "مرحبا بالعالم",
    "שלום עולם",
    "नमस्ते दुनिया",
    "สวัสดีชาวโลก",
    "안녕하세요 세계",
    "こんにちは世界、元気ですか？",
    "你好，世界！今天天气很好。",
    "emoji 😀🚀🔥 and flags 🇫🇷🇯🇵",
    "family 👨‍👩‍👧‍👦 skin tone 👍🏽",
    "math ∑ ∫ √ ∞ ≤ ≥ ≠ ± × ÷ π θ",
    "arrows ← → ↑ ↓ ⇒ and boxes ■ □ ▲",
    "control\x01chars\x07here\x1f",
    "tabs\tand\nnewlines\r\nand\u2028separators",
    "Ⅻ ½ ¾ ² ³ ℃ ™ © ®",
    "𝕳𝖊𝖑𝖑𝖔 𝐛𝐨𝐥𝐝 𝑖𝑡𝑎𝑙𝑖𝑐",
    # Code.
    "func main() { fmt.Println(\"hello, world\") }",
    "for i in range(10): print(i ** 2)",
    "SELECT id, name FROM users WHERE age > 21 ORDER BY name LIMIT 10;",
    "{\"key\": [1, 2, 3], \"nested\": {\"ok\": true, \"n\": null}}",
    "<div class=\"card\"><a href=\"/x?y=1&amp;z=2\">link</a></div>",
    "^(?:[a-z0-9!#$%&'*+/=?^_`{|}~-]+)@[a-z0-9.-]+\\.[a-z]{2,}$",
    "git commit -m 'fix: off-by-one in tokenizer.go:142'",
    "x := make(map[string][]int, 16) // preallocate",
    "#include <stdio.h>\nint main(void) { return 0; }",
    "const f = async (x) => await fetch(`/api/${x}`);",
    "0x7fff_ffff 0b1010 0o755 1_000_000 3.0e+8",
    "snake_case camelCase PascalCase kebab-case SCREAMING_CASE",
    # Questions and passages of a retrieval workload.
    "how many people live in tokyo",
    "Tokyo has a population of about 14 million in the city proper.",
    "symptoms of vitamin d deficiency",
    "Vitamin D deficiency can cause bone pain, fatigue and muscle weakness.",
    "best way to learn a new language as an adult",
    "Immersion, spaced repetition and daily speaking practice help adults learn languages.",
    "who wrote pride and prejudice",
    "Pride and Prejudice is an 1813 novel by Jane Austen.",
    "difference between tcp and udp",
    "TCP is connection-oriented and reliable; UDP is connectionless and faster.",
    "is coffee bad for you",
    "Moderate coffee consumption is associated with a lower risk of several diseases.",
    "FREE!!! Click here to claim your PRIZE now!!! Limited offer $$$",
    "Your account has been suspended. Verify your identity at http://bit.ly/xyz",
    "Meeting moved to 3pm tomorrow, same room. Bring the Q3 numbers.",
    "lol ok see u there 2nite",
    "Repeat repeat repeat repeat repeat repeat repeat",
    "word " * 60,
    "The the THE tHe",
    "antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis",
    "unbelievably unhappiness misunderstanding reconfiguration",
    "COVID-19 SARS-CoV-2 mRNA-1273 BNT162b2",
    "H2O CO2 NaCl C6H12O6",
    "ISO 8601: 2026-12-06T21:45:00Z, RFC 3339",
    "v1.2.3-beta.4+build.567",
    "a b c d e f g h i j k l m n o p q r s t u v w x y z",
    "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20",
    "Ο Αριστοτέλης γεννήθηκε στα Στάγειρα το 384 π.Χ.",
    "Ich möchte einen Tisch für zwei Personen reservieren.",
    "¿Dónde está la biblioteca? ¡Muchas gracias!",
    "Je n'ai pas compris l'énoncé de l'exercice.",
    "Điều này rất quan trọng đối với tôi.",
    "Çok teşekkür ederim, görüşürüz!",
    "Zażółć gęślą jaźń",
]

TEXTS = SHORT + LONG_PROSE + LONG_OTHER


def b64(a):
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode("ascii")


def main():
    torch.manual_seed(0)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    model = SentenceTransformer(MODEL, device="cpu")
    assert model.max_seq_length == 256, model.max_seq_length
    ids = []
    for t in TEXTS:
        f = model.tokenize([t])
        n = int(f["attention_mask"][0].sum())
        ids.append(f["input_ids"][0][:n].numpy().astype("<u2"))
    # The tokenizer alone, as transformers calls it, must agree.
    tok = transformers.AutoTokenizer.from_pretrained(MODEL)
    for t, want in zip(TEXTS, ids):
        got = tok(t, truncation=True, max_length=256)["input_ids"]
        assert list(got) == want.tolist(), t
    with torch.inference_mode():
        vecs = model.encode(TEXTS, batch_size=16, convert_to_numpy=True, normalize_embeddings=False)
    norms = np.linalg.norm(vecs, axis=1)
    assert np.allclose(norms, 1, atol=1e-5), norms
    out = {
        "model": "sentence-transformers/all-MiniLM-L6-v2",
        "revision": "1110a243fdf4706b3f48f1d95db1a4f5529b4d41",
        "safetensors_sha256": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        "made_by": "scripts/minilm_fixture.py with sentence-transformers %s, transformers %s, tokenizers %s, torch %s"
        % (sentence_transformers.__version__, transformers.__version__, tokenizers.__version__, torch.__version__),
        "max_seq_length": model.max_seq_length,
        "dim": int(vecs.shape[1]),
        "ids_encoding": "base64 of little-endian uint16 token ids, special tokens included",
        "vectors_encoding": "base64 of little-endian float16, L2-normalized sentence embeddings",
        "cases": [
            {"text": t, "ids": b64(i), "vector": b64(v.astype("<f2"))}
            for t, i, v in zip(TEXTS, ids, vecs)
        ],
    }
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=0)
        f.write("\n")
    print("%s: %d texts, %d bytes; longest %d tokens" % (OUT, len(TEXTS), os.path.getsize(OUT), max(len(i) for i in ids)), file=sys.stderr)


if __name__ == "__main__":
    main()
