// faissbench.cpp: the baseline for cmd/faissbench. It builds and searches a
// FAISS index directly through the C++ API, on the same data files and with
// the same parameters as faisslocal.
//
//   faissbench-cpp build KIND DIM N BASE.f32 METRIC INDEX_OUT M EFC NLIST PQM NBITS TRAIN REFINE
//   faissbench-cpp serve INDEX DIM NQ QUERIES.f32 LABELS_OUT EFS NPROBE REFINE
//
// serve reads the index (timed, with the resident memory it adds) and the
// queries, prints one JSON line, then answers commands on stdin, one per
// line, each with "WALL_S CPU_S" (CPU: the whole process):
//
//   b1 FROM TO PIN       queries FROM..TO-1 one at a time on one OpenMP thread
//   b64 FROM TO PIN      queries FROM..TO-1 in batches of 64 on all threads
//   labels FROM TO PIN   as b1, then writes the top-10 labels to LABELS_OUT
//
// PIN is the CPU to run on, or -1 for any.
//
// cmd/faissbench alternates these with the same searches through
// faisslocal, chunk by chunk, so both sides meet the same machine load.
//
// KIND: flat, hnsw, ivfflat or ivfpq; METRIC: ip or l2 (the data is
// normalized already for cosine). Built by scripts/faissbench.sh.

#include <omp.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/IndexRefine.h>
#include <faiss/index_io.h>

static double now() {
    struct timeval tv;
    gettimeofday(&tv, nullptr);
    return tv.tv_sec + tv.tv_usec * 1e-6;
}

// cpu returns the process's user+system CPU seconds.
static double cpu() {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
}

// rss_kb returns VmRSS from /proc/self/status.
static long rss_kb() {
    FILE* f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    long kb = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmRSS:", 6) == 0) kb = atol(line + 6);
    }
    fclose(f);
    return kb;
}

static void read_rows(FILE* f, size_t row0, size_t n, int d, float* out) {
    if (fseeko(f, off_t(row0) * d * 4, SEEK_SET) != 0 || fread(out, 4 * d, n, f) != n) {
        fprintf(stderr, "faissbench-cpp: short read\n");
        exit(1);
    }
}


static int build(int argc, char** argv) {
    if (argc != 15) {
        fprintf(stderr, "usage: build KIND DIM N BASE METRIC INDEX_OUT M EFC NLIST PQM NBITS TRAIN REFINE\n");
        return 2;
    }
    std::string kind = argv[2];
    int d = atoi(argv[3]);
    size_t n = atol(argv[4]);
    const char* base = argv[5];
    faiss::MetricType metric = std::string(argv[6]) == "l2" ? faiss::METRIC_L2 : faiss::METRIC_INNER_PRODUCT;
    const char* out = argv[7];
    int M = atoi(argv[8]), efc = atoi(argv[9]), nlist = atoi(argv[10]);
    int pqm = atoi(argv[11]), nbits = atoi(argv[12]), train = atoi(argv[13]), refine = atoi(argv[14]);

    long rss0 = rss_kb();
    FILE* bf = fopen(base, "rb");
    if (!bf) { perror(base); return 1; }
    std::unique_ptr<faiss::Index> index;
    double t0 = now();
    if (kind == "flat") {
        index.reset(new faiss::IndexFlat(d, metric));
    } else if (kind == "hnsw") {
        auto* hnsw = new faiss::IndexHNSWFlat(d, M, metric);
        hnsw->hnsw.efConstruction = efc;
        index.reset(hnsw);
    } else {
        auto* q = new faiss::IndexFlat(d, metric);
        faiss::IndexIVF* ivf;
        if (kind == "ivfflat") {
            ivf = new faiss::IndexIVFFlat(q, d, nlist, metric);
        } else {
            auto* pq = new faiss::IndexIVFPQ(q, d, nlist, pqm, nbits, metric);
            pq->pq.cp.min_points_per_centroid = 1;
            ivf = pq;
        }
        ivf->own_fields = true;
        ivf->cp.min_points_per_centroid = 1;
        // faisslocal trains on the first TRAIN vectors, when the store
        // reaches that size.
        size_t nt = std::min(n, size_t(train));
        std::vector<float> xt(nt * d);
        read_rows(bf, 0, nt, d, xt.data());
        ivf->train(nt, xt.data());
        if (kind == "ivfpq") {
            // faisslocal re-scores refine*k IVFPQ candidates exactly.
            auto* r = new faiss::IndexRefineFlat(ivf);
            r->own_fields = true;
            r->k_factor = refine;
            index.reset(r);
        } else {
            index.reset(ivf);
        }
    }
    const size_t chunk = 10000;
    std::vector<float> buf(chunk * d);
    for (size_t i = 0; i < n; i += chunk) {
        size_t m = std::min(chunk, n - i);
        read_rows(bf, i, m, d, buf.data());
        index->add(m, buf.data());
    }
    fclose(bf);
    double build_s = now() - t0;
    long rss_build = rss_kb();
    double save_s = now();
    faiss::write_index(index.get(), out);
    save_s = now() - save_s;
    printf("{\"build_s\":%.3f,\"save_s\":%.3f,\"rss_build_kb\":%ld,\"rss0_kb\":%ld}\n", build_s, save_s, rss_build, rss0);
    return 0;
}

// open_index reads an index and sets its search parameters.
static std::unique_ptr<faiss::Index> open_index(const char* path, int efs, int nprobe, int refine) {
    std::unique_ptr<faiss::Index> index(faiss::read_index(path));
    if (auto* h = dynamic_cast<faiss::IndexHNSW*>(index.get())) h->hnsw.efSearch = efs;
    if (auto* v = dynamic_cast<faiss::IndexIVF*>(index.get())) v->nprobe = nprobe;
    if (auto* r = dynamic_cast<faiss::IndexRefine*>(index.get())) {
        r->k_factor = refine;
        if (auto* v = dynamic_cast<faiss::IndexIVF*>(r->base_index)) v->nprobe = nprobe;
    }
    return index;
}

static std::vector<float> read_queries(const char* path, size_t nq, int d) {
    std::vector<float> xq(nq * d);
    FILE* qf = fopen(path, "rb");
    if (!qf) {
        perror(path);
        exit(1);
    }
    read_rows(qf, 0, nq, d, xq.data());
    fclose(qf);
    return xq;
}

static int serve(int argc, char** argv) {
    if (argc != 10) {
        fprintf(stderr, "usage: serve INDEX DIM NQ QUERIES LABELS_OUT EFS NPROBE REFINE\n");
        return 2;
    }
    int d = atoi(argv[3]);
    size_t nq = atol(argv[4]);
    const char* lpath = argv[6];
    long rss0 = rss_kb();
    double t0 = now();
    auto index = open_index(argv[2], atoi(argv[7]), atoi(argv[8]), atoi(argv[9]));
    double reopen = now() - t0;
    long rss_open = rss_kb();
    std::vector<float> xq = read_queries(argv[5], nq, d);
    const int k = 10, threads = omp_get_max_threads();
    std::vector<float> D(nq * k);
    std::vector<faiss::Index::idx_t> I(nq * k);
    printf("{\"reopen_s\":%.3f,\"rss_open_kb\":%ld,\"rss0_kb\":%ld,\"threads\":%d}\n", reopen, rss_open, rss0, threads);
    fflush(stdout);
    cpu_set_t all;
    sched_getaffinity(0, sizeof all, &all);
    char cmd[16];
    size_t from, to;
    int pin;
    while (scanf("%15s %zu %zu %d", cmd, &from, &to, &pin) == 4) {
        if (to > nq || from > to) {
            fprintf(stderr, "faissbench-cpp: bad range %zu..%zu\n", from, to);
            return 2;
        }
        // PIN >= 0: run on that CPU only (cmd/faissbench pins both sides'
        // batch-1 chunks to the same CPU, so neither gets the quieter one).
        if (pin >= 0) {
            cpu_set_t one;
            CPU_ZERO(&one);
            CPU_SET(pin, &one);
            sched_setaffinity(0, sizeof one, &one);
        } else {
            sched_setaffinity(0, sizeof all, &all);
        }
        double s = now(), c = cpu();
        if (strcmp(cmd, "b64") == 0) {
            omp_set_num_threads(threads);
            for (size_t i = from; i < to; i += 64) {
                index->search(std::min<size_t>(64, to - i), xq.data() + i * d, k, D.data() + i * k, I.data() + i * k);
            }
        } else {  // b1, labels
            omp_set_num_threads(1);
            for (size_t i = from; i < to; i++) {
                index->search(1, xq.data() + i * d, k, D.data() + i * k, I.data() + i * k);
            }
        }
        double wall = now() - s, cpus = cpu() - c;
        if (strcmp(cmd, "labels") == 0) {
            FILE* lf = fopen(lpath, "wb");
            if (!lf || fwrite(I.data() + from * k, sizeof(faiss::Index::idx_t), (to - from) * k, lf) != (to - from) * k) {
                perror(lpath);
                return 1;
            }
            fclose(lf);
        }
        printf("%.9f %.9f\n", wall, cpus);
        fflush(stdout);
    }
    return 0;
}

int main(int argc, char** argv) {
    std::string mode = argc > 1 ? argv[1] : "";
    try {
        if (mode == "build") return build(argc, argv);
        if (mode == "serve") return serve(argc, argv);
    } catch (const std::exception& e) {
        fprintf(stderr, "faissbench-cpp: %s\n", e.what());
        return 1;
    }
    fprintf(stderr, "usage: %s build|serve ...\n", argv[0]);
    return 2;
}
