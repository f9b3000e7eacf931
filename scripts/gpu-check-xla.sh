#!/usr/bin/env bash
# gpu-check-xla.sh: the xla backend against PyTorch on one NVIDIA GPU, with
# a zerank-2-shaped model (Qwen3-4B config: 36 layers, hidden 2560, 32 query
# and 8 KV heads, head dim 128, intermediate 9728, vocab 151936, tied
# embeddings; random bf16 weights).
#
#   scripts/gpu-check-xla.sh prepare [BUNDLE]   # here: build the bundle (default .gpu-xla/)
#   scripts/gpu-check-xla.sh run [BUNDLE]       # on the GPU machine, from the checkout
#   scripts/gpu-check-xla.sh smoke              # here: the same run on the CPU plugin, tiny model
#
# prepare builds, on a build machine with Go and the fetched assets, the
# internal/xla test binary with -tags xla (it holds TestGPUCheck, the XLA
# side) into BUNDLE, under 60 MB; nothing is built or fetched on the GPU
# machine. run needs there: python3 with torch and transformers, and JAX's
# CUDA plugin (site-packages/jax_plugins/xla_cuda13/xla_cuda_plugin.so, the
# CUDA libraries under site-packages/nvidia/); PJRT_PLUGIN_LIBRARY_PATH
# overrides the plugin. It
#   1. writes the checkpoint with transformers (on the GPU, then to disk);
#   2. scores every workload with PyTorch (bf16, SDPA attention, zerank's
#      raw score: the "Yes" logit, token 9454, at the last real token);
#   3. scores the same token ids with the xla backend in bf16;
#   4. prints, per workload, both sides' pairs/s, their ratio, the largest
#      raw-score difference and the rank agreement.
# Workloads: 256, 512 and 1,024-token inputs at fixed batch sizes, calls
# of 1 query x 100 documents of 300 to 500 tokens (each call sorted by
# length and run in 4 batches of 25, on both sides), and calls of a 15- and
# a 300-token query x 100 such documents, which xla also runs with the
# shared query prefix (each batch runs its call's prefix once; the row
# under the workload: its pairs/s, its ratio to PyTorch's whole pairs and
# to xla's). Every step writes its results to the work
# directory as it finishes, and step 4 prints what there is, so a run cut
# short still reports its finished workloads. Timings exclude compiling
# (XLA) and warm-up (PyTorch); both are printed.
set -euo pipefail
cd "$(dirname "$0")/.."

cmd="${1:-}"
bundle="${2:-.gpu-xla}"
PY="${PYTHON:-python3}"

case "$cmd" in
prepare)
  mkdir -p "$bundle"
  CGO_ENABLED=1 go test -c -tags xla -trimpath -ldflags='-s -w' -o "$bundle/xla.test" ./internal/xla
  cp -f "$0" "$bundle/gpu-check-xla.sh"
  du -sh "$bundle"
  exit 0
  ;;
run | smoke) ;;
*)
  echo "usage: $0 prepare [BUNDLE] | run [BUNDLE] | smoke" >&2
  exit 2
  ;;
esac

work="${GPU_XLA_WORK:-/tmp/gpu-xla}"
mkdir -p "$work"
rm -f "$work"/*.json
if [ "$cmd" = smoke ]; then
  # A tiny Qwen3 on the CPU: the same steps, minutes shorter.
  export GPU_XLA_TINY=1 GPU_XLA_DEVICE=cpu
  platform=cpu
  [ -x "$bundle/xla.test" ] || "$0" prepare "$bundle"
else
  export GPU_XLA_DEVICE=cuda
  platform=cuda
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || { echo "nvidia-smi failed: no usable GPU" >&2; exit 1; }
  site=$("$PY" -c 'import site; print(site.getsitepackages()[0])')
  if [ -z "${PJRT_PLUGIN_LIBRARY_PATH:-}" ]; then
    export PJRT_PLUGIN_LIBRARY_PATH=$(ls -d "$site"/jax_plugins/xla_cuda1*/xla_cuda_plugin.so 2>/dev/null | head -1)
  fi
  echo "plugin: ${PJRT_PLUGIN_LIBRARY_PATH:-none found}"
  # The CUDA libraries JAX's wheels install, and ptxas/libdevice for XLA.
  libs=$(ls -d "$site"/nvidia/*/lib "$site"/nvidia/cu1*/lib 2>/dev/null | tr '\n' ':')
  export LD_LIBRARY_PATH="${libs}${LD_LIBRARY_PATH:-}"
  libdevice=$(find "$site/nvidia" -name 'libdevice*.bc' 2>/dev/null | head -1)
  if [ -n "$libdevice" ]; then
    cudadir=$(dirname "$(dirname "$(dirname "$libdevice")")")
    export XLA_FLAGS="--xla_gpu_cuda_data_dir=$cudadir ${XLA_FLAGS:-}"
    [ -d "$cudadir/bin" ] && export PATH="$cudadir/bin:$PATH"
  fi
fi

# Steps 1 and 2: the checkpoint, the workloads' token ids, PyTorch's scores.
PYTHONUNBUFFERED=1 "$PY" - "$work" <<'PYEOF'
import json, os, sys, time
import torch
from transformers import Qwen3Config, Qwen3ForCausalLM

work = sys.argv[1]
dev = os.environ.get("GPU_XLA_DEVICE", "cuda")
tiny = os.environ.get("GPU_XLA_TINY") == "1"
torch.manual_seed(0)
if tiny:
    cfg = Qwen3Config(vocab_size=151936, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, head_dim=32, tie_word_embeddings=True,
                      max_position_embeddings=40960, rope_theta=1e6, rms_norm_eps=1e-6)
else:
    cfg = Qwen3Config(vocab_size=151936, hidden_size=2560, intermediate_size=9728, num_hidden_layers=36,
                      num_attention_heads=32, num_key_value_heads=8, head_dim=128, tie_word_embeddings=True,
                      max_position_embeddings=40960, rope_theta=1e6, rms_norm_eps=1e-6)
cfg.architectures = ["Qwen3ForCausalLM"]
t0 = time.time()
with torch.device(dev):
    model = Qwen3ForCausalLM(cfg).to(torch.bfloat16)
# Random weights of a realistic spread (default init gives near-constant logits).
with torch.no_grad():
    for p in model.parameters():
        if p.dim() == 2:
            p.normal_(0, 0.02)
model.eval()
ckpt = os.path.join(work, "ckpt")
model.save_pretrained(ckpt, safe_serialization=True)
print(f"checkpoint: {sum(p.numel() for p in model.parameters())/1e9:.2f}B parameters, written in {time.time()-t0:.1f}s", flush=True)
model.config._attn_implementation = "sdpa"

# zerank's template around random query/document tokens (token ids are what
# both sides score; the template's special tokens keep the shape of real inputs).
pre = [151644, 8948, 198]          # <|im_start|>system\n
mid = [151645, 198, 151644, 872, 198]  # <|im_end|>\n<|im_start|>user\n
post = [151645, 198, 151644, 77091, 198]  # <|im_end|>\n<|im_start|>assistant\n
g = torch.Generator().manual_seed(1)
def seq(n, query):
    body = n - len(pre) - len(mid) - len(post)
    q = query[: max(1, body // 8)]
    d = torch.randint(1000, 150000, (body - len(q),), generator=g).tolist()
    return pre + q + mid + d + post
def query():
    return torch.randint(1000, 150000, (40,), generator=g).tolist()

scale = 8 if tiny else 1
work_items = [
    {"name": "256 tokens", "batch": 64, "seqs": [seq(256, query()) for _ in range(512 // scale)]},
    {"name": "512 tokens", "batch": 32, "seqs": [seq(512, query()) for _ in range(256 // scale)]},
    {"name": "1024 tokens", "batch": 16, "seqs": [seq(1024, query()) for _ in range(128 // scale)]},
]
calls = 2 if tiny else 5
mixed = []
for c in range(calls):
    q = query()
    docs = [seq(int(torch.randint(300, 501, (1,), generator=g)), q) for _ in range(100)]
    mixed += sorted(docs, key=len)  # each call sorted by length, batches of 25 within it
work_items.append({"name": f"{calls} calls of 1 query x 100 docs, 300-500 tokens", "batch": 25, "seqs": mixed, "call": 100})
# The shared query prefix: calls whose 100 documents follow one query of
# 15 or 300 tokens; xla runs them whole and with the prefix run once per batch.
for qlen in (15, 300):
    shared = []
    for c in range(min(calls, 3)):
        head = pre + torch.randint(1000, 150000, (qlen,), generator=g).tolist() + mid
        docs = [head + torch.randint(1000, 150000, (int(torch.randint(300, 501, (1,), generator=g)) - len(post),), generator=g).tolist() + post
                for _ in range(100)]
        shared += sorted(docs, key=len)
    work_items.append({"name": f"{min(calls, 3)} calls of a {qlen}-token query x 100 docs, shared prefix", "batch": 25, "seqs": shared,
                       "call": 100, "prefix": len(pre) + qlen + len(mid)})
with open(os.path.join(work, "pairs.json"), "w") as f:
    json.dump(work_items, f)

W = model.get_input_embeddings().weight[9454].float()
@torch.no_grad()
def score(rows):
    S = max(len(r) for r in rows)
    ids = torch.full((len(rows), S), 151643, dtype=torch.long)
    mask = torch.zeros((len(rows), S), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r)
        mask[i, : len(r)] = 1
    ids, mask = ids.to(dev), mask.to(dev)
    h = model.model(input_ids=ids, attention_mask=mask).last_hidden_state
    last = mask.sum(1) - 1
    return (h[torch.arange(len(rows), device=dev), last].float() @ W).tolist()

def run_all(w):
    out = []
    step = w.get("call") or len(w["seqs"])
    for c in range(0, len(w["seqs"]), step):
        call = w["seqs"][c : c + step]
        for i in range(0, len(call), w["batch"]):
            out += score(call[i : i + w["batch"]])
    return out

results = []
for w in work_items:
    t0 = time.time(); run_all(w); sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None); sync()
    warm = time.time() - t0
    t0 = time.time(); scores = run_all(w); sync()
    secs = time.time() - t0
    results.append({"name": w["name"], "pairs": len(w["seqs"]), "seconds": secs, "warmup_seconds": warm, "scores": scores})
    print(f"pytorch {w['name']}: {len(w['seqs'])/secs:.1f} pairs/s", flush=True)
    with open(os.path.join(work, "torch.json"), "w") as f:
        json.dump(results, f)
PYEOF

# Step 3: the xla backend on the same token ids, batched as PyTorch batched
# them (the mixed workload: within each call of 100, sorted, 25 at a time).
timeout "${GPU_XLA_TIMEOUT:-420}" "$bundle/xla.test" -test.run '^TestGPUCheck$' -test.v -test.timeout 30m \
  -xla.gpucheck "$work/ckpt" -xla.pairs "$work/pairs.json" -xla.out "$work/xla.json" \
  -xla.platform "$platform" -xla.compute bf16 2>&1 | grep -v '^=== RUN' || echo "xla side stopped early (results so far are kept)"

# Step 4: the report, from whatever finished.
"$PY" - "$work" <<'PYEOF'
import json, os, sys
work = sys.argv[1]
def load(n):
    try:
        return {r["name"]: r for r in json.load(open(os.path.join(work, n)))}
    except FileNotFoundError:
        return {}
torch_r, xla_r = load("torch.json"), load("xla.json")
def ranks(v):
    order = sorted(range(len(v)), key=lambda i: -v[i])
    r = [0] * len(v)
    for k, i in enumerate(order):
        r[i] = k
    return r
def spearman(a, b):
    ra, rb = ranks(a), ranks(b)
    n = len(a)
    return 1 - 6 * sum((x - y) ** 2 for x, y in zip(ra, rb)) / (n * (n * n - 1)) if n > 1 else 1.0
print(f"{'workload':52} {'torch p/s':>10} {'xla p/s':>10} {'ratio':>7} {'max |draw|':>11} {'spearman':>9} {'top10 same':>10}")
for name, t in torch_r.items():
    x = xla_r.get(name)
    tp = t["pairs"] / t["seconds"]
    if x is None:
        print(f"{name:52} {tp:10.1f} {'-':>10} (xla did not finish)")
        continue
    xp = x["pairs"] / x["seconds"]
    d = max(abs(a - b) for a, b in zip(t["scores"], x["scores"]))
    ta = sorted(range(len(t["scores"])), key=lambda i: -t["scores"][i])[:10]
    xa = sorted(range(len(x["scores"])), key=lambda i: -x["scores"][i])[:10]
    print(f"{name:52} {tp:10.1f} {xp:10.1f} {xp/tp:7.2f} {d:11.4f} {spearman(t['scores'], x['scores']):9.4f} {len(set(ta) & set(xa)):>7}/10"
          f"   (xla first pass with compiling {x['compile_seconds']:.1f}s; torch warm-up {t['warmup_seconds']:.1f}s)")
    if x.get("prefix_seconds"):
        pp = x["pairs"] / x["prefix_seconds"]
        d = max(abs(a - b) for a, b in zip(t["scores"], x["prefix_scores"]))
        print(f"{'  xla with the shared prefix':52} {tp:10.1f} {pp:10.1f} {pp/tp:7.2f} {d:11.4f} {spearman(t['scores'], x['prefix_scores']):9.4f}"
              f"   ({pp/xp:.2f}x xla whole; first pass with compiling {x['prefix_compile_seconds']:.1f}s)")
PYEOF
