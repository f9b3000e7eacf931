#!/usr/bin/env bash
# gpu-check.sh: the rerank engine's GPU checks, for a machine with an NVIDIA
# GPU and a GPU build of ONNX Runtime (see rerank/README.md, "Running
# zerank-2 on an NVIDIA GPU"). This project's build machines have no GPU;
# run this where there is one and paste its output into the issue.
#
#   ONNXRUNTIME_LIB=/opt/onnxruntime-gpu/lib/libonnxruntime.so scripts/gpu-check.sh [cuda|tensorrt]
#
# It needs the repository's fetched assets (scripts/deps.sh: tokenizers) and
# Go. Steps:
#   1. nvidia-smi and the library's directory (the provider libraries must
#      sit next to libonnxruntime.so);
#   2. TestGPU: every family's scores on the GPU against the float64
#      reference (1e-4, TF32 off) and alone-vs-batched, fp16 models against
#      fp32 (2e-2);
#   3. provider errors and the rest of the engine tests, on the CPU, with
#      the GPU library loaded;
#   4. the engine-vs-raw-session benchmark on the GPU, with a larger random
#      Qwen3 (hidden 1024, 8 layers, fp16 compute; override with
#      TWOSTAGE_BENCH_HIDDEN / _LAYERS / _COMPUTE / _BATCH_TOKENS).
set -euo pipefail
cd "$(dirname "$0")/.."

provider="${1:-cuda}"
case "$provider" in cuda|tensorrt) ;; *) echo "usage: $0 [cuda|tensorrt]" >&2; exit 2 ;; esac
: "${ONNXRUNTIME_LIB:?set ONNXRUNTIME_LIB to the GPU build of libonnxruntime.so}"
libdir="$(dirname "$ONNXRUNTIME_LIB")"
export LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

echo "== device"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || { echo "nvidia-smi failed: no usable GPU" >&2; exit 1; }
echo "== library $ONNXRUNTIME_LIB"
ls -l "$libdir"/libonnxruntime*.so* || true
if [ ! -e "$libdir/libonnxruntime_providers_${provider}.so" ]; then
  echo "warning: $libdir/libonnxruntime_providers_${provider}.so not found; the $provider provider will not load" >&2
fi

echo "== GPU scores ($provider)"
TWOSTAGE_TEST_PROVIDER="$provider" TWOSTAGE_REQUIRE_DEPS=1 \
  go test -count=1 -run 'TestGPU' -v ./rerank 2>&1 | grep -E 'worst|^(---|ok|FAIL|PASS)|Error|error' 

echo "== engine tests with the GPU library loaded"
TWOSTAGE_REQUIRE_DEPS=1 go test -count=1 ./internal/batcher ./rerank

echo "== benchmark: engine vs raw session on $provider"
TWOSTAGE_BENCH_PROVIDER="$provider" \
TWOSTAGE_BENCH_HIDDEN="${TWOSTAGE_BENCH_HIDDEN:-1024}" \
TWOSTAGE_BENCH_LAYERS="${TWOSTAGE_BENCH_LAYERS:-8}" \
TWOSTAGE_BENCH_COMPUTE="${TWOSTAGE_BENCH_COMPUTE:-fp16}" \
TWOSTAGE_BENCH_BATCH_TOKENS="${TWOSTAGE_BENCH_BATCH_TOKENS:-65536}" \
  go test -count=1 -run '^$' -bench EngineVsRaw -benchtime 1x -v -timeout 60m ./rerank
