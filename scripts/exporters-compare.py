"""Compare twostage's converted graphs with Microsoft's own ONNX exporters.

Run by scripts/exporters-compare.sh (which makes the checkpoints and the
twostage conversions); runs in the .deps/exporters venv. On the same tiny
checkpoints, the same ONNX Runtime (the Python package of the version the Go
code loads), one intra-op thread and the same right-padded batches, it runs:

  Qwen3 (zerank): twostage's fused and plain graphs, and onnxruntime-genai's
    model builder output (fp32, CPU), whose logits at each row's last real
    token give the same score (logit of token 9454);
  BERT (cross-encoder): twostage's fused and plain graphs, and a Hugging Face
    ONNX export (torch.onnx.export of BertForSequenceClassification) passed
    through onnxruntime.transformers.optimizer (model_type bert).

It prints tokens per CPU-second (best of interleaved runs, real tokens only) as
ratios to the best exporter, the largest score difference from the exporter,
and the peak resident memory one row of 512 and 4,096 tokens adds (each
measured in a fresh process).
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

YES = 9454  # zerank's score token


def session(path, threads=1):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def batch(kind, rows, length, vocab, seed=1):
    """Right-padded rows of random tokens; lengths from length/2 to length."""
    rng = np.random.default_rng(seed)
    lens = np.linspace(length // 2, length, rows).astype(int) if rows > 1 else np.array([length])
    ids = np.zeros((rows, length), np.int64)
    mask = np.zeros((rows, length), np.int64)
    types = np.zeros((rows, length), np.int64)
    for b, n in enumerate(lens):
        ids[b, :n] = rng.integers(1000, min(vocab, 9000), n)
        mask[b, :n] = 1
        if kind == "bert":
            types[b, n // 2 : n] = 1
    return ids, mask, types


class Runner:
    """Scores a right-padded batch with one graph, whatever its interface."""

    def __init__(self, name, path, kind, kv=None):
        self.name, self.kind, self.kv = name, kind, kv  # kv: (kv heads, head dim) of a cache input
        self.s = session(path)
        self.inputs = {i.name: i for i in self.s.get_inputs()}
        self.outputs = [o.name for o in self.s.get_outputs()]

    def feeds(self, ids, mask, types):
        f = {}
        B, S = ids.shape
        for name, i in self.inputs.items():
            if name == "input_ids":
                f[name] = ids
            elif name == "attention_mask":
                f[name] = mask.astype(np.int64 if "int64" in i.type else np.int32)
            elif name == "token_type_ids":
                f[name] = types
            elif name == "position_ids":
                f[name] = np.broadcast_to(np.arange(S, dtype=np.int64), (B, S)).copy()
            elif name == "past_lengths":  # twostage's shared-prefix inputs: no prefix
                f[name] = np.zeros((1,), np.int64)
            elif name in ("prefix_index", "present_rows"):
                f[name] = np.zeros((B if name == "prefix_index" else 0,), np.int64)
            elif name.startswith(("past_key_", "past_value_")) and not name.startswith("past_key_values"):
                f[name] = np.zeros((1, 0, i.shape[2]), np.float32)
            elif name.startswith("past_key_values"):
                # [B, kv_heads, 0, head_dim]: an empty cache, prefill only.
                f[name] = np.zeros((B, self.kv[0], 0, self.kv[1]), np.float32)
            else:
                raise SystemExit(f"{self.name}: unknown input {name}")
        return f

    def scores(self, ids, mask, types):
        out = self.s.run([self.outputs[0]], self.feeds(ids, mask, types))[0]
        if out.ndim == 3:  # genai: logits [B, S, V]; score at the last real token
            last = mask.sum(1) - 1
            return out[np.arange(len(last)), last, YES]
        return out.reshape(-1)


def export_genai(ckpt, out, cache):
    import onnxruntime_genai

    builder = os.path.join(os.path.dirname(onnxruntime_genai.__file__), "models", "builder.py")
    subprocess.run([sys.executable, builder, "-i", ckpt, "-o", out, "-p", "fp32", "-e", "cpu", "-c", cache],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return os.path.join(out, "model.onnx")


def export_bert(ckpt, out):
    import torch
    from transformers import BertForSequenceClassification
    from onnxruntime.transformers.optimizer import optimize_model

    cfg = json.load(open(os.path.join(ckpt, "config.json")))
    model = BertForSequenceClassification.from_pretrained(ckpt, torch_dtype=torch.float32, attn_implementation="eager").eval()
    os.makedirs(out, exist_ok=True)
    raw = os.path.join(out, "hf.onnx")
    ids = torch.ones((2, 16), dtype=torch.int64)
    with torch.no_grad():
        torch.onnx.export(
            model, (ids, ids, torch.zeros_like(ids)), raw,
            input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["logits"],
            dynamic_axes={n: {0: "batch", 1: "sequence"} for n in ["input_ids", "attention_mask", "token_type_ids"]},
            opset_version=17, dynamo=False)
    opt = optimize_model(raw, model_type="bert", num_heads=cfg["num_attention_heads"], hidden_size=cfg["hidden_size"])
    path = os.path.join(out, "optimized.onnx")
    opt.save_model_to_file(path)
    return path, opt.get_fused_operator_statistics()


def throughput(runners, kind, vocab, rows, length, reps):
    ids, mask, types = batch(kind, rows, length, vocab)
    tokens = int(mask.sum())
    best = {r.name: float("inf") for r in runners}
    scores = {}
    for r in runners:
        scores[r.name] = r.scores(ids, mask, types)  # warm up
    for _ in range(reps):
        for r in runners:
            # CPU time, not wall time: with one intra-op thread ORT computes on
            # this thread, and CPU time does not count the time other
            # processes on a shared machine hold the core.
            t = time.process_time()
            r.scores(ids, mask, types)
            best[r.name] = min(best[r.name], time.process_time() - t)
    return {n: tokens / t for n, t in best.items()}, scores


def peak_mem(path, kind, length, vocab, kv):
    """Peak resident memory (MiB) one row of length tokens adds, in a fresh process."""
    kv = kv or (0, 0)
    out = subprocess.run([sys.executable, __file__, "--mem", path, kind, str(length), str(vocab), str(kv[0]), str(kv[1])],
                         check=True, capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


def mem_child(path, kind, length, vocab, kv):
    r = Runner("m", path, kind, kv)
    r.scores(*batch(kind, 1, 8, vocab))
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = rss("VmRSS")
    r.scores(*batch(kind, 1, length, vocab))
    print((rss("VmHWM") - before) / 1024)


def rss(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise SystemExit("no " + field)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--mem":
        mem_child(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), (int(sys.argv[6]), int(sys.argv[7])))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True, help="directory holding qwen3/, bert/ and their twostage conversions")
    ap.add_argument("--rows", type=int, default=8)
    ap.add_argument("--length", type=int, default=256)
    ap.add_argument("--reps", type=int, default=10)
    a = ap.parse_args()
    import onnxruntime

    w = a.work
    print(f"ONNX Runtime {onnxruntime.__version__}, CPU, 1 intra-op thread; {a.rows} right-padded rows of "
          f"{a.length // 2}..{a.length} tokens; tokens per CPU-second, best of {a.reps} interleaved runs\n")
    models = []
    for q in ["qwen3", "qwen3v10k"]:
        genai = export_genai(os.path.join(w, q), os.path.join(w, q + "-genai"), os.path.join(w, "cache"))
        c = json.load(open(os.path.join(w, q, "config.json")))
        vocab, kv = c["vocab_size"], (c["num_key_value_heads"], c["head_dim"])
        models.append(("qwen3", f"zerank, vocab {vocab}", vocab, kv, [
            ("twostage fused", os.path.join(w, q + "-fused", "model.onnx")),
            ("twostage plain", os.path.join(w, q + "-plain", "model.onnx")),
            ("onnxruntime-genai builder", genai),
        ]))
    bert, fusedops = export_bert(os.path.join(w, "bert"), os.path.join(w, "bert-hf"))
    print("onnxruntime.transformers.optimizer fused:", {k: v for k, v in fusedops.items() if v})
    models.append(("bert", "bert-cross-encoder", 30522, None, [
        ("twostage fused", os.path.join(w, "bert-fused", "model.onnx")),
        ("twostage plain", os.path.join(w, "bert-plain", "model.onnx")),
        ("HF export + ORT optimizer", bert),
    ]))
    for kind, family, vocab, kv, graphs in models:
        runners = [Runner(n, p, kind, kv) for n, p in graphs]
        tps, scores = throughput(runners, kind, vocab, a.rows, a.length, a.reps)
        ref_name = graphs[-1][0]
        ref = scores[ref_name]
        print(f"\n{family}: exporter = {ref_name}")
        print(f"{'graph':28s} {'tok/CPU-s':>10s} {'x exporter':>10s} {'max |score diff|':>17s} {'MiB @512':>9s} {'MiB @4096':>10s}")
        for n, p in graphs:
            m512 = peak_mem(p, kind, 512, vocab, kv)
            m4k = peak_mem(p, kind, 4096, vocab, kv)
            diff = float(np.max(np.abs(scores[n] - ref)))
            print(f"{n:28s} {tps[n]:10.0f} {tps[n] / tps[ref_name]:10.2f} {diff:17.2e} {m512:9.1f} {m4k:10.1f}")


if __name__ == "__main__":
    main()
