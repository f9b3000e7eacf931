#!/usr/bin/env bash
# faisslayout.sh shows how much FAISS's search speed depends on where the
# linker puts its code. It builds the C++ baseline of cmd/faissbench four
# times against the system's libfaiss.a (-lfaiss, as any C++ program would),
# with 0, 16, 32 and 48 bytes of padding linked before it, prints where
# FAISS's scalar inner product landed in each, and has all four search the
# same queries side by side (faissbench -layout). This is why faisslocal
# links FAISS from the page-aligned .deps/faiss/faiss.o (faisslocal/link.go).
# Not part of `make test`. Arguments go to faissbench, e.g.:
#
#   scripts/faisslayout.sh -n 100000 -nq 512 -kinds flat,hnsw,ivfflat
set -euo pipefail
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
cd "$(dirname "$0")/.."
scripts/deps.sh apt
out=${FAISSBENCH_BIN:-.deps/faissbench}/layout
mkdir -p "$out"
sym=_ZN5faiss22fvec_inner_product_refEPKfS1_m
bins=()
for pad in 0 16 32 48; do
  printf '.text\n.fill %d,1,0x90\n.section .note.GNU-stack,"",@progbits\n' "$pad" >"$out/pad$pad.s"
  g++ -std=c++17 -O2 -fopenmp -o "$out/faissbench-cpp-pad$pad" cmd/faissbench/cpp/faissbench.cpp "$out/pad$pad.s" \
    -lfaiss -lopenblas -llapack -lgomp
  a=$(nm "$out/faissbench-cpp-pad$pad" | awk -v s=$sym '$3 == s {print $1}')
  printf 'faisslayout: pad %2d: FAISS inner product at 0x%s (0x%02x modulo 64)\n' "$pad" "$a" $((16#$a % 64)) >&2
  bins+=("$out/faissbench-cpp-pad$pad")
done
go build -tags faiss -o "$out/faissbench" ./cmd/faissbench
IFS=, ; exec "$out/faissbench" -layout "${bins[*]}" -kinds flat "$@"
