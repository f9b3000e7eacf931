"""faissbench_cpu.py: faiss-cpu (PyPI's FAISS build, in .deps/pystack) as a
baseline server for cmd/faissbench's search child. It speaks the protocol of
cmd/faissbench/cpp/faissbench.cpp's serve mode, so faissbench alternates it
with faisslocal chunk by chunk, exactly as it does with the C++ baseline:

    python faissbench_cpu.py serve INDEX DIM NQ QUERIES.f32 LABELS_OUT EFS NPROBE REFINE

It reads the index file the C++ baseline built (Debian's FAISS 1.7.3 writes
it, faiss-cpu reads it), so both sides search the same graph and lists. One
JSON line first, then per stdin line "b1|b64|labels FROM TO PIN" it answers
"WALL_S CPU_S" (CPU: the whole process). The SIMD level is FAISS's own
choice unless FAISS_SIMD_LEVEL is set (scripts/faissbench-cpu.sh sets AVX2).
Run by scripts/faissbench-cpu.sh; not part of `make test`.
"""

import json
import os
import resource
import sys
import time

import numpy as np

import faiss


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def rss_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def open_index(path, efs, nprobe, refine):
    index = faiss.read_index(path)
    inner = faiss.downcast_index(index)
    if isinstance(inner, faiss.IndexHNSW):
        inner.hnsw.efSearch = efs
    if isinstance(inner, faiss.IndexIVF):
        inner.nprobe = nprobe
    if isinstance(inner, faiss.IndexRefine):
        inner.k_factor = refine
        base = faiss.downcast_index(inner.base_index)
        if isinstance(base, faiss.IndexIVF):
            base.nprobe = nprobe
    return index


def serve(argv):
    if len(argv) != 8:
        sys.exit("usage: serve INDEX DIM NQ QUERIES LABELS_OUT EFS NPROBE REFINE")
    path, d, nq, qpath, lpath, efs, nprobe, refine = argv
    d, nq = int(d), int(nq)
    rss0, t0 = rss_kb(), time.perf_counter()
    index = open_index(path, int(efs), int(nprobe), int(refine))
    reopen = time.perf_counter() - t0
    rss_open = rss_kb()
    xq = np.fromfile(qpath, dtype=np.float32, count=nq * d).reshape(nq, d)
    if xq.shape[0] != nq:
        sys.exit("faissbench_cpu: short read")
    k, threads = 10, faiss.omp_get_max_threads()
    D = np.empty((nq, k), dtype=np.float32)
    I = np.empty((nq, k), dtype=np.int64)
    # Views made once, so the timed loop is the call into FAISS.
    rows = [(xq[i : i + 1], D[i : i + 1], I[i : i + 1]) for i in range(nq)]
    level = faiss.SIMDConfig.get_level_name() if hasattr(faiss, "SIMDConfig") else "?"
    print(json.dumps({"reopen_s": reopen, "rss_open_kb": rss_open, "rss0_kb": rss0, "threads": threads,
                      "faiss": faiss.__version__, "simd": level}), flush=True)
    print("faissbench_cpu: faiss-cpu %s, SIMD level %s, %s" % (faiss.__version__, level, type(faiss.downcast_index(index)).__name__),
          file=sys.stderr)
    every = os.sched_getaffinity(0)
    for line in sys.stdin:
        f = line.split()
        if len(f) != 4:
            break
        op, lo, hi, pin = f[0], int(f[1]), int(f[2]), int(f[3])
        if hi > nq or lo > hi:
            sys.exit("faissbench_cpu: bad range %d..%d" % (lo, hi))
        # pid 0 is this thread, the one that runs FAISS at batch 1.
        os.sched_setaffinity(0, {pin} if pin >= 0 else every)
        s, c = time.perf_counter(), cpu()
        if op == "b64":
            faiss.omp_set_num_threads(threads)
            for i in range(lo, hi, 64):
                j = min(i + 64, hi)
                index.search(xq[i:j], k, D=D[i:j], I=I[i:j])
        else:  # b1, labels
            faiss.omp_set_num_threads(1)
            search = index.search
            for i in range(lo, hi):
                x, dd, ii = rows[i]
                search(x, k, D=dd, I=ii)
        wall, cpus = time.perf_counter() - s, cpu() - c
        if op == "labels":
            I[lo:hi].astype("<i8").tofile(lpath)
        print("%.9f %.9f" % (wall, cpus), flush=True)


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] != "serve":
        sys.exit("usage: faissbench_cpu.py serve ...")
    serve(sys.argv[2:])
