// reference.js runs Hugging Face's Rust tokenizers (Node binding
// @anush008/tokenizers) over a corpus written by the Go conformance test.
//
//   node reference.js BINDING_DIR TOKENIZER_JSON CORPUS_JSON [bench]
//
// CORPUS_JSON: {"texts": [base64 of raw bytes...], "pairs": [[i, j]...],
//               "decode": n, "truncate": [[i, j, maxLength, "LongestFirst"|"OnlySecond"]...]}
// Raw bytes are decoded with TextDecoder (invalid UTF-8 becomes U+FFFD per
// maximal ill-formed subsequence), which is what a JavaScript caller passes.
// Truncation and padding stored in the tokenizer.json are disabled.
// Output JSON: for every text and pair, with and without special tokens, ids
// and type ids; decodes of the first n single encodings; truncated pairs.
// With "bench": instead, single-threaded timing of encode (no special
// tokens... with special tokens, singles) over all texts, best of 3 rounds.
'use strict';
const fs = require('fs');
const [bindingDir, tokPath, corpusPath, mode] = process.argv.slice(2);
const { Tokenizer } = require(bindingDir);
const corpus = JSON.parse(fs.readFileSync(corpusPath, 'utf8'));
const dec = new TextDecoder('utf-8', { ignoreBOM: true }); // keep a leading U+FEFF
const texts = corpus.texts.map((b) => dec.decode(Buffer.from(b, 'base64')));

function load() {
  const tok = Tokenizer.fromFile(tokPath);
  tok.disableTruncation();
  tok.disablePadding();
  return tok;
}

async function bench() {
  const tok = load();
  let bytes = 0;
  for (const t of texts) bytes += Buffer.byteLength(t, 'utf8');
  for (const t of texts.slice(0, 200)) await tok.encode(t, null, { addSpecialTokens: true }); // warm up
  let best = Infinity;
  for (let round = 0; round < 3; round++) {
    const t0 = process.hrtime.bigint();
    for (const t of texts) await tok.encode(t, null, { addSpecialTokens: true });
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    best = Math.min(best, s);
  }
  const loads = [];
  for (let i = 0; i < 3; i++) {
    const t0 = process.hrtime.bigint();
    Tokenizer.fromFile(tokPath);
    loads.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  process.stdout.write(JSON.stringify({ bytes, seconds: best, loadSeconds: Math.min(...loads) }));
}

async function main() {
  if (mode === 'bench') return bench();
  const tok = load();
  const out = { single: [], singleNoSpecial: [], pair: [], pairNoSpecial: [], decode: [], truncate: [] };
  const rec = (e) => [e.getIds(), e.getTypeIds()];
  for (let i = 0; i < texts.length; i++) {
    out.single.push(rec(await tok.encode(texts[i], null, { addSpecialTokens: true })));
    out.singleNoSpecial.push(rec(await tok.encode(texts[i], null, { addSpecialTokens: false })));
    if (i % 500 === 0) process.stderr.write(`reference: ${i}/${texts.length}\n`);
  }
  for (const [i, j] of corpus.pairs) {
    out.pair.push(rec(await tok.encode(texts[i], texts[j], { addSpecialTokens: true })));
    out.pairNoSpecial.push(rec(await tok.encode(texts[i], texts[j], { addSpecialTokens: false })));
  }
  for (let i = 0; i < corpus.decode; i++) {
    const ids = out.single[i][0];
    out.decode.push([await tok.decode(ids, false), await tok.decode(ids, true)]);
  }
  const tt = Tokenizer.fromFile(tokPath);
  tt.disablePadding();
  for (const [i, j, maxLength, strategy] of corpus.truncate) {
    tt.setTruncation(maxLength, { strategy, stride: 0 });
    try {
      out.truncate.push(rec(await tt.encode(texts[i], texts[j], { addSpecialTokens: true })));
    } catch (e) {
      out.truncate.push(null);
    }
  }
  process.stdout.write(JSON.stringify(out));
}

main().catch((e) => { console.error(e); process.exit(1); });
