#!/usr/bin/env bash
# faissbench-cpu.sh runs cmd/faissbench with faiss-cpu (PyPI's FAISS build,
# in .deps/pystack, scripts/deps.sh pystack) as the search baseline instead
# of FAISS from C++: faisslocal links Debian's FAISS 1.7.3, built for
# baseline x86-64, with its own AVX2+FMA distance kernels swapped in
# (faisslocal/simd.cpp; TWOSTAGE_FAISS_SIMD=scalar runs Debian's scalar
# ones); faiss-cpu 1.15.1 dispatches to AVX2 or AVX-512 kernels at run
# time. The indexes are built once by the C++
# baseline (Debian's FAISS); faisslocal searches its own store, faiss-cpu
# reads the C++-built index file, and the two search the same chunks of
# queries back to back, alternating which goes first, at batch 1 pinned to
# the same CPU (scripts/faissbench_cpu.py speaks the C++ baseline's serve
# protocol). Not part of `make test`. Arguments go to faissbench, e.g.:
#
#   scripts/faissbench-cpu.sh -n 100000 -nq 512 -kinds flat,hnsw
#   TWOSTAGE_FAISS_SIMD=scalar scripts/faissbench-cpu.sh -n 100000 -nq 512 -kinds flat,hnsw
#
# FAISS_SIMD_LEVEL picks faiss-cpu's kernels (default AVX2, the issue's
# baseline; AVX512 is what it picks by itself on an AVX-512 CPU).
set -euo pipefail
cd "$(dirname "$0")/.."
export FAISS_SIMD_LEVEL=${FAISS_SIMD_LEVEL:-AVX2}
scripts/deps.sh pystack
out=$(pwd)/${FAISSBENCH_BIN:-.deps/faissbench}
mkdir -p "$out"
printf '#!/bin/sh\nexec %q %q "$@"\n' "$(pwd)/.deps/pystack/bin/python" "$(pwd)/scripts/faissbench_cpu.py" >"$out/faiss-cpu-serve"
chmod +x "$out/faiss-cpu-serve"
v=$(.deps/pystack/bin/python -c 'import faiss; print(faiss.__version__)')
exec scripts/faissbench.sh -serve "$out/faiss-cpu-serve" -serve-name "faiss-cpu $v ($FAISS_SIMD_LEVEL)" "$@"
