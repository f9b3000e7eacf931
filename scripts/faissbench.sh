#!/usr/bin/env bash
# faissbench.sh builds the FAISS C++ baseline (cmd/faissbench/cpp) and
# cmd/faissbench, then runs the benchmark: faisslocal against FAISS called
# directly, side by side. Not part of `make test`. Arguments go to
# faissbench, e.g.:
#
#   scripts/faissbench.sh -n 100000
#   scripts/faissbench.sh -n 1000000 -kinds flat,hnsw -hnsw-m 16
#
# Needs libfaiss-dev, libopenblas-dev, liblapack-dev (scripts/deps.sh apt).
#
# OpenMP workers wait passively (OMP_WAIT_POLICY=PASSIVE, both sides), so
# idle ones do not spin on a small shared machine; override it in the
# environment to compare.
set -euo pipefail
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
cd "$(dirname "$0")/.."
out=${FAISSBENCH_BIN:-.deps/faissbench}
mkdir -p "$out"
g++ -std=c++17 -O2 -fopenmp -o "$out/faissbench-cpp" cmd/faissbench/cpp/faissbench.cpp \
  -lfaiss -lopenblas -llapack -lgomp
go build -tags faiss -o "$out/faissbench" ./cmd/faissbench
exec "$out/faissbench" -cpp "$out/faissbench-cpp" "$@"
