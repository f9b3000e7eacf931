#!/usr/bin/env python3
"""vs_seed.py is the Python side of scripts/vs-seed.sh: the tutorial pipeline
twostage replaces, written correctly, and the report of both sides' figures.

    vs_seed.py python WORK MINILM OUT   run the Python stack, write OUT (JSON)
    vs_seed.py report GO.json PY.json   print the side-by-side table

The pipeline (what the tutorial meant):
  - the bi-encoder (sentence-transformers' all-MiniLM-L6-v2) is loaded once;
  - documents are embedded normalized and added to a faiss IndexFlatIP, so the
    inner product is the cosine;
  - a query is embedded the same way, the index returns 50 candidates, and the
    zerank-architecture causal LM (transformers' Qwen3ForCausalLM on WORK/
    zerank-ckpt) scores each (query, document) pair by the logit of "Yes"
    (token 9454) at the last real token; the 0-1 score is sigmoid(raw / 5).
    The tutorial's own code read .logits from AutoModel (which has none),
    took index 1 of a one-logit head, and reloaded the bi-encoder per call.
"""
import json
import os
import resource
import sys
import time

YES = 9454
CANDIDATES = 50
TOP_N = 10
WARMUP = 5
QUERY_CHARS, DOC_CHARS = 2000, 10000  # zerank's reference cuts
TEMPLATE = "<|im_start|>system\n{q}<|im_end|>\n<|im_start|>user\n{d}<|im_end|>\n<|im_start|>assistant\n"


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def run_python(work, minilm, out):
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import faiss
    import numpy as np
    import tokenizers
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer

    docs = read_jsonl(os.path.join(work, "docs.jsonl"))
    queries = read_jsonl(os.path.join(work, "queries.jsonl"))
    texts = [d["text"] for d in docs]
    ids = [d["id"] for d in docs]
    res = {"side": "python", "docs": len(docs), "first_stage_ms": [], "pipeline_ms": [], "queries": []}

    # Tokenizer throughput: Hugging Face's tokenizers (Rust) from Python, one
    # text at a time on one thread, special tokens added, no truncation or
    # padding (the file's own settings pad to 128), as twostage's side does.
    tok = tokenizers.Tokenizer.from_file(os.path.join(minilm, "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    for s in texts[:200]:  # warm-up, as twostage's side does
        tok.encode(s)
    t, cpu = time.perf_counter(), time.process_time()
    n = 0
    for _ in range(10):  # passes, as twostage's side does
        for s in texts:
            n += len(tok.encode(s).ids)
    res["tokenizer_seconds"] = time.perf_counter() - t
    res["tokenizer_cpu_seconds"] = time.process_time() - cpu
    res["tokenizer_tokens"] = n

    # The bi-encoder, loaded once.
    model = SentenceTransformer(minilm, device="cpu")
    t, cpu = time.perf_counter(), time.process_time()
    with torch.inference_mode():
        emb = model.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
    index = faiss.IndexFlatIP(emb.shape[1])
    index.add(np.ascontiguousarray(emb, dtype=np.float32))
    res["index_seconds"] = time.perf_counter() - t
    res["index_cpu_seconds"] = time.process_time() - cpu
    res["first_stage_cpu_seconds"] = res["pipeline_cpu_seconds"] = 0.0

    # The reranker: zerank's architecture through transformers.
    rtok = transformers.PreTrainedTokenizerFast(tokenizer_file=os.path.join(work, "zerank-ckpt", "tokenizer.json"))
    rtok.pad_token = "<|endoftext|>"
    rtok.padding_side = "right"
    lm = transformers.AutoModelForCausalLM.from_pretrained(os.path.join(work, "zerank-ckpt"), dtype=torch.float32)
    lm.eval()
    yes_row = lm.get_output_embeddings().weight[YES].detach()

    def rerank(q, cand):
        pairs = [TEMPLATE.format(q=q[:QUERY_CHARS], d=texts[i][:DOC_CHARS]) for i in cand]
        enc = [rtok(p, add_special_tokens=False)["input_ids"] for p in pairs]
        order = sorted(range(len(enc)), key=lambda i: len(enc[i]))
        raw = [0.0] * len(enc)
        for s in range(0, len(order), 16):
            b = order[s:s + 16]
            batch = rtok.pad({"input_ids": [enc[i] for i in b]}, return_tensors="pt")
            h = lm.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
            last = batch["attention_mask"].sum(1) - 1
            logits = h[torch.arange(len(b)), last] @ yes_row  # the "Yes" logit only
            for i, v in zip(b, logits.tolist()):
                raw[i] = v
        return raw

    def first_stage(q):
        qv = model.encode([q], normalize_embeddings=True, convert_to_numpy=True)
        _, hits = index.search(qv, CANDIDATES)
        return [int(i) for i in hits[0] if i >= 0]

    with torch.inference_mode():
        for q in queries[:WARMUP]:
            rerank(q["text"], first_stage(q["text"]))
        for q in queries:
            t, cpu = time.perf_counter(), time.process_time()
            cand = first_stage(q["text"])
            res["first_stage_ms"].append((time.perf_counter() - t) * 1000)
            res["first_stage_cpu_seconds"] += time.process_time() - cpu
            t, cpu = time.perf_counter(), time.process_time()
            cand = first_stage(q["text"])
            raw = rerank(q["text"], cand)
            scored = sorted(zip(cand, raw), key=lambda x: -1 / (1 + np.exp(-x[1] / 5)))
            top = [ids[i] for i, _ in scored[:TOP_N]]
            res["pipeline_ms"].append((time.perf_counter() - t) * 1000)
            res["pipeline_cpu_seconds"] += time.process_time() - cpu
            res["queries"].append({"id": q["id"], "first": [ids[i] for i in cand], "reranked": top,
                                   "raw": {ids[i]: r for i, r in zip(cand, raw)}})
    res["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    res["versions"] = {"torch": torch.__version__, "transformers": transformers.__version__,
                       "sentence_transformers": __import__("sentence_transformers").__version__,
                       "faiss": faiss.__version__, "tokenizers": tokenizers.__version__,
                       "torch_threads": torch.get_num_threads()}
    with open(out, "w") as f:
        json.dump(res, f)


def pct(v, p):
    v = sorted(v)
    k = (len(v) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def report(go_path, py_path):
    g = json.load(open(go_path))
    p = json.load(open(py_path))
    pq = {q["id"]: q for q in p["queries"]}
    agree, same, maxdiff, pairs = [], 0, 0.0, 0
    for q in g["queries"]:
        o = pq[q["id"]]
        agree.append(len(set(q["first"][:TOP_N]) & set(o["first"][:TOP_N])) / TOP_N)
        same += q["reranked"] == o["reranked"]
        for d, r in q["raw"].items():
            if d in o["raw"]:
                maxdiff = max(maxdiff, abs(r - o["raw"][d]))
                pairs += 1
    nq = len(g["queries"])
    rows = [
        ("indexing, documents/s", g["docs"] / g["index_seconds"], p["docs"] / p["index_seconds"], "higher"),
        ("first stage p50, ms", pct(g["first_stage_ms"], 50), pct(p["first_stage_ms"], 50), "lower"),
        ("first stage p99, ms", pct(g["first_stage_ms"], 99), pct(p["first_stage_ms"], 99), "lower"),
        ("pipeline p50 (50 reranked), ms", pct(g["pipeline_ms"], 50), pct(p["pipeline_ms"], 50), "lower"),
        ("pipeline p99 (50 reranked), ms", pct(g["pipeline_ms"], 99), pct(p["pipeline_ms"], 99), "lower"),
        ("peak RSS, MiB", g["peak_rss_bytes"] / 2**20, p["peak_rss_bytes"] / 2**20, "lower"),
        ("tokenizer, tokens/s (1 thread)", g["tokenizer_tokens"] / g["tokenizer_seconds"], p["tokenizer_tokens"] / p["tokenizer_seconds"], "higher"),
        ("indexing, CPU ms/document", 1e3 * g["index_cpu_seconds"] / g["docs"], 1e3 * p["index_cpu_seconds"] / p["docs"], "lower"),
        ("first stage, CPU ms/query", 1e3 * g["first_stage_cpu_seconds"] / nq, 1e3 * p["first_stage_cpu_seconds"] / nq, "lower"),
        ("pipeline, CPU ms/query", 1e3 * g["pipeline_cpu_seconds"] / nq, 1e3 * p["pipeline_cpu_seconds"] / nq, "lower"),
        ("tokenizer, tokens/CPU-ms", g["tokenizer_tokens"] / g["tokenizer_cpu_seconds"] / 1e3, p["tokenizer_tokens"] / p["tokenizer_cpu_seconds"] / 1e3, "higher"),
    ]
    print("%d documents, %d queries; %s" % (g["docs"], len(g["queries"]), ", ".join("%s %s" % kv for kv in p.get("versions", {}).items())))
    print("| %-32s | %12s | %12s | %16s | better |" % ("", "twostage", "Python", "twostage/Python"))
    print("|%s|%s|%s|%s|--------|" % ("-" * 34, "-" * 14, "-" * 14, "-" * 18))
    for name, a, b, better in rows:
        print("| %-32s | %12.1f | %12.1f | %16.2f | %-6s |" % (name, a, b, a / b, better))
    print("| %-32s | %12s | %12s | %16s |        |" % ("first-stage top-10 agreement", "", "", "%.4f" % (sum(agree) / len(agree))))
    print("| %-32s | %12s | %12s | %16s |        |" % ("largest raw-score difference", "", "", "%.1e" % maxdiff))
    print("| %-32s | %12s | %12s | %16s |        |" % ("reranked top-10 identical", "", "", "%d / %d" % (same, len(g["queries"]))))
    print("raw scores compared on %d (query, document) pairs; wall-clock rows depend on the machine's load, CPU rows less" % pairs)
    if g["tokenizer_tokens"] != p["tokenizer_tokens"]:
        print("note: the tokenizers counted %d and %d tokens" % (g["tokenizer_tokens"], p["tokenizer_tokens"]))


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "python":
        run_python(*sys.argv[2:])
    elif len(sys.argv) == 4 and sys.argv[1] == "report":
        report(*sys.argv[2:])
    else:
        sys.exit(__doc__)
