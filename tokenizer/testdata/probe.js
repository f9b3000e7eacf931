// probe.js classifies every Unicode scalar value with the Rust reference
// (Hugging Face tokenizers through its Node binding) so the Go tests can
// compare the character tables the Go package uses against it.
//
//   node probe.js BINDING_DIR QWEN_JSON BERT_JSON > out.json
//
// Output: {"qwen": "<one class letter per code point>",
//          "bertPre": "<one class letter per code point>",
//          "bertNorm": {"<cp>": "<normalized>", ...}}   (only where it changes)
// Qwen classes: L letter, N number, W whitespace (\s), O other.
// BERT pre-tokenizer classes: W whitespace (removed), P punctuation (isolated), O other.
//   "nfd": {"<cp>": "<NFD>"}, "nfc": {"<cp>": "<NFC>"}  (only where it changes),
//   "mark": "<one letter per code point>"  1: canonical combining class
//           nonzero (the character reorders against U+0334 or U+0316),
//           0: zero, -: decomposable (not probed)}
// Surrogates (D800-DFFF) are written as '-'.
'use strict';
const [bindingDir, qwenPath, bertPath] = process.argv.slice(2);
const { Tokenizer } = require(bindingDir);
const qwen = Tokenizer.fromFile(qwenPath).getPreTokenizer();
const bert = Tokenizer.fromFile(bertPath);
const bertPre = bert.getPreTokenizer();
const bertNorm = bert.getNormalizer();
const nfd = require(bindingDir).nfdNormalizer();
const nfc = require(bindingDir).nfcNormalizer();
const n = (s) => qwen.preTokenizeString(s).length;
let q = '', b = '', mark = '';
const norm = {}, nfdMap = {}, nfcMap = {};
for (let cp = 0; cp <= 0x10ffff; cp++) {
  if (cp >= 0xd800 && cp <= 0xdfff) { q += '-'; b += '-'; mark += '-'; continue; }
  const c = String.fromCodePoint(cp);
  const d = nfd.normalizeString(c);
  if (d !== c) { nfdMap[cp] = d; mark += '-'; } else {
    const low = nfd.normalizeString(c + '\u0334') !== c + '\u0334';
    const high = nfd.normalizeString('\u0316' + c) !== '\u0316' + c;
    mark += low || high ? '1' : '0';
  }
  const k = nfc.normalizeString(c);
  if (k !== c) nfcMap[cp] = k;
  if (n(c + c) === 2) q += 'N';
  else if (n('x' + c) === 1) q += 'L';
  else if (n(c + '!') === 1) q += 'O';
  else q += 'W';
  const parts = bertPre.preTokenizeString('a' + c + 'a').length;
  b += parts === 2 ? 'W' : parts === 3 ? 'P' : 'O';
  const out = bertNorm.normalizeString(c);
  if (out !== c) norm[cp] = out;
  if (cp % 0x10000 === 0xffff) process.stderr.write(`probe: plane ${cp >> 16} done\n`);
}
process.stdout.write(JSON.stringify({ qwen: q, bertPre: b, bertNorm: norm, nfd: nfdMap, nfc: nfcMap, mark }));
