#!/usr/bin/env bash
# exporters-compare.sh: twostage's converted graphs against Microsoft's own
# ONNX exporters on the same tiny checkpoints and the same ONNX Runtime:
# onnxruntime-genai's model builder (Qwen3, fp32, CPU) and a Hugging Face
# ONNX export through onnxruntime.transformers.optimizer (BERT). Prints
# tokens per second as ratios to the exporter, score differences, and peak
# memory at 512 and 4,096 tokens (scripts/exporters-compare.py).
#
#   scripts/exporters-compare.sh [WORK_DIR]
#
# Needs the exporters venv (scripts/deps.sh exporters, several GB) and the
# Qwen3 and BERT tokenizers (scripts/deps.sh tokenizers).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh exporters
work=${1:-$(mktemp -d)}
mkdir -p "$work"
bin="$work/bin"
mkdir -p "$bin"
go build -o "$bin/twostage" ./cmd/twostage
go build -o "$bin/tinyckpt" ./internal/tinymodel/tinyckpt
# Qwen3: GQA (4 query heads on 2 key/value heads), the real 151,936-token
# vocabulary (the exporter computes every logit; twostage only the score row).
[ -d "$work/qwen3" ] || "$bin/tinyckpt" --family zerank --hidden 256 --layers 2 --heads 4 --kv-heads 2 \
  --head-dim 64 --intermediate 768 --dtype F32 --dir "$work/qwen3"
# The same with a 10,000-token vocabulary, so the exporter's full LM head
# weighs less and the comparison is closer to the layers' kernels.
[ -d "$work/qwen3v10k" ] || "$bin/tinyckpt" --family zerank --hidden 256 --layers 2 --heads 4 --kv-heads 2 \
  --head-dim 64 --intermediate 768 --vocab 10000 --dtype F32 --dir "$work/qwen3v10k"
[ -d "$work/bert" ] || "$bin/tinyckpt" --family bert-cross-encoder --hidden 256 --layers 2 --heads 4 \
  --intermediate 1024 --max-positions 4096 --dtype F32 --dir "$work/bert"
for m in qwen3 qwen3v10k bert; do
  for g in fused plain; do
    [ -d "$work/$m-$g" ] || "$bin/twostage" convert --from "$work/$m" --to "$work/$m-$g" --graph "$g" --quiet
  done
done
OMP_NUM_THREADS=1 .deps/exporters/bin/python scripts/exporters-compare.py --work "$work"
