#!/usr/bin/env bash
# faissbench-avx2.sh measures what an AVX2 inner product would give
# faisslocal against faiss-cpu. Three servers of cmd/faissbench's C++
# baseline protocol search the same index file (built by Debian's FAISS
# 1.7.3) side by side at batch 1, chunk by chunk, rotating which goes
# first, each chunk pinned to one CPU for all (faissbench -layout):
#   debian-faiss-1.7.3          the C++ baseline as faisslocal links it
#                               (.deps/faiss/faiss.o, scalar inner product)
#   debian-faiss-1.7.3+avx2-ip  the same with faiss::fvec_inner_product made
#                               weak in a copy of faiss.o and replaced by
#                               cmd/faissbench/cpp/ip_avx2.cpp (AVX2+FMA)
#   faiss-cpu-1.15.1-avx2       faiss-cpu from .deps/pystack, FAISS_SIMD_LEVEL=AVX2
#                               (scripts/faissbench_cpu.py)
# Not part of `make test`. Arguments go to faissbench, e.g.:
#
#   scripts/faissbench-avx2.sh -n 100000 -nq 512 -kinds flat,hnsw
set -euo pipefail
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
export FAISS_SIMD_LEVEL=${FAISS_SIMD_LEVEL:-AVX2}
cd "$(dirname "$0")/.."
scripts/deps.sh faiss pystack
out=$(pwd)/${FAISSBENCH_BIN:-.deps/faissbench}/avx2
mkdir -p "$out"
sym=_ZN5faiss18fvec_inner_productEPKfS1_m
objcopy --weaken-symbol=$sym .deps/faiss/faiss.o "$out/faiss-weak-ip.o"
g++ -std=c++17 -O2 -fopenmp -o "$out/debian-faiss-1.7.3" cmd/faissbench/cpp/faissbench.cpp \
  .deps/faiss/faiss.o -lopenblas -llapack -lgomp
g++ -std=c++17 -O2 -fopenmp -o "$out/debian-faiss-1.7.3+avx2-ip" cmd/faissbench/cpp/faissbench.cpp \
  cmd/faissbench/cpp/ip_avx2.cpp "$out/faiss-weak-ip.o" -lopenblas -llapack -lgomp
v=$(.deps/pystack/bin/python -c 'import faiss; print(faiss.__version__)')
cpu="$out/faiss-cpu-$v-$(echo "$FAISS_SIMD_LEVEL" | tr A-Z a-z)"
printf '#!/bin/sh\nexec %q %q "$@"\n' "$(pwd)/.deps/pystack/bin/python" "$(pwd)/scripts/faissbench_cpu.py" >"$cpu"
chmod +x "$cpu"
# One definition of the inner product is left in the AVX2 build: ip_avx2.cpp's.
n=$(nm "$out/debian-faiss-1.7.3+avx2-ip" | awk -v s=$sym '$3 == s' | wc -l)
[ "$n" = 1 ] || { echo "faissbench-avx2: $n definitions of $sym" >&2; exit 1; }
go build -tags faiss -o "$out/faissbench" ./cmd/faissbench
exec "$out/faissbench" -layout "$out/debian-faiss-1.7.3,$out/debian-faiss-1.7.3+avx2-ip,$cpu" -kinds flat,hnsw "$@"
