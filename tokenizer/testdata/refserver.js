// refserver.js answers encode requests with Hugging Face's Rust tokenizers
// (Node binding @anush008/tokenizers), one JSON line in, one JSON line out,
// for the differential fuzz target (FuzzEncode: one server per fuzz worker).
//
//   node refserver.js BINDING_DIR TOKENIZER_JSON...
//
// Request:  {"tok": index into TOKENIZER_JSON, "text": base64 of raw bytes,
//            "pair": base64 or null, "special": bool}
// Response: {"ids": [...], "typeIds": [...]} or {"error": "..."}
// Raw bytes are decoded with TextDecoder, as reference.js does (invalid
// UTF-8 becomes U+FFFD per maximal ill-formed subsequence). Truncation and
// padding stored in the tokenizer.json are disabled.
'use strict';
const readline = require('readline');
const [bindingDir, ...tokPaths] = process.argv.slice(2);
const { Tokenizer } = require(bindingDir);
const toks = tokPaths.map((p) => {
  const t = Tokenizer.fromFile(p);
  t.disableTruncation();
  t.disablePadding();
  return t;
});
const dec = new TextDecoder('utf-8', { ignoreBOM: true });
const text = (b) => dec.decode(Buffer.from(b, 'base64'));

async function main() {
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of rl) {
    let out;
    try {
      const r = JSON.parse(line);
      const e = await toks[r.tok].encode(text(r.text), r.pair == null ? null : text(r.pair), { addSpecialTokens: r.special });
      out = { ids: e.getIds(), typeIds: e.getTypeIds() };
    } catch (e) {
      out = { error: String(e) };
    }
    process.stdout.write(JSON.stringify(out) + '\n');
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
