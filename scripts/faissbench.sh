#!/usr/bin/env bash
# faissbench.sh builds the FAISS C++ baseline (cmd/faissbench/cpp) and
# cmd/faissbench, then runs the benchmark: faisslocal against FAISS called
# directly, side by side. Not part of `make test`. Arguments go to
# faissbench, e.g.:
#
#   scripts/faissbench.sh -n 100000
#   scripts/faissbench.sh -n 1000000 -kinds flat,hnsw -hnsw-m 16
#
# Needs libfaiss-dev, libopenblas-dev, liblapack-dev (scripts/deps.sh apt)
# and the prelinked FAISS object (scripts/deps.sh faiss, run below).
#
# OpenMP workers wait passively (OMP_WAIT_POLICY=PASSIVE, both sides), so
# idle ones do not spin on a small shared machine; override it in the
# environment to compare.
set -euo pipefail
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
cd "$(dirname "$0")/.."
out=${FAISSBENCH_BIN:-.deps/faissbench}
mkdir -p "$out"
scripts/deps.sh faiss
# Both sides link FAISS from the same prelinked object (.deps/faiss/faiss.o,
# see faisslocal/link.go), so both run FAISS's code at the same alignment,
# and the same distance kernels (faisslocal/simd.cpp: AVX2+FMA where the CPU
# has them; TWOSTAGE_FAISS_SIMD=scalar in the environment gives both FAISS's
# scalar ones).
g++ -std=c++17 -O2 -fopenmp -o "$out/faissbench-cpp" cmd/faissbench/cpp/faissbench.cpp \
  faisslocal/simd.cpp .deps/faiss/faiss.o -lopenblas -llapack -lgomp
go build -tags faiss -o "$out/faissbench" ./cmd/faissbench
sym=_ZN5faiss22fvec_inner_product_refEPKfS1_m
for b in faissbench faissbench-cpp; do
  a=$(nm "$out/$b" | awk -v s=$sym '$3 == s {print $1}')
  printf 'faissbench: %s: FAISS inner-product loop at 0x%s (0x%03x modulo 4096)\n' "$b" "$a" $((16#$a % 4096)) >&2
  # One definition of each kernel is left, faisslocal/simd.cpp's.
  for k in _ZN5faiss18fvec_inner_productEPKfS1_m _ZN5faiss10fvec_L2sqrEPKfS1_m _ZN5faiss15fvec_norm_L2sqrEPKfm; do
    t=$(nm "$out/$b" | awk -v s=$k '$3 == s {print $2}')
    [ "$t" = T ] || { echo "faissbench: $b: $k is '$t', want one strong definition (simd.cpp's)" >&2; exit 1; }
  done
done
exec "$out/faissbench" -cpp "$out/faissbench-cpp" "$@"
