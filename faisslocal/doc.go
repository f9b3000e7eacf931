// Package faisslocal is twostage's embedded vector store: a FAISS index
// (through a small cgo bridge to the C++ library) with the documents, their
// metadata and vectors kept beside it in a bbolt database. It needs no server
// and is the local-development default.
//
// # Building
//
// The FAISS binding needs the C++ library (Debian: libfaiss-dev, with
// libopenblas-dev and liblapack-dev) and the build tag faiss:
//
//	go build -tags faiss ./...
//
// Without the tag the package still compiles, and Open returns an error
// saying how to enable it.
//
// FAISS is linked from .deps/faiss/faiss.o, Debian's libfaiss.a prelinked
// into one object whose code is page-aligned (scripts/deps.sh faiss; make
// runs it). The Debian library is built for baseline x86-64 without loop
// alignment, and its scalar inner product, where Flat, HNSW and IVF-Flat
// searches spend most of their time, runs slower whenever a link puts its
// loop across a 64-byte boundary: with -lfaiss, where FAISS lands depends
// on the size of everything linked before it, so the speed of a program's
// searches changed with unrelated edits to its Go code (README.md has the
// measurements; scripts/faisslayout.sh repeats them). With the prelinked
// object FAISS has the same layout in every program (a test checks it).
// The tags faiss,faiss_system link the system's -lfaiss instead.
//
// Debian's build runs FAISS's scalar distance kernels. faisslocal replaces
// the inner product, the squared L2 distance and the squared norm inside
// FAISS with AVX2+FMA versions (simd.cpp; the prelinked object leaves those
// symbols weak), used when the CPU has AVX2 and FMA: at batch 1 Flat
// searches run about 3 to 4 times and HNSW searches 2 to 3 times as fast
// as with FAISS's scalar kernels (README.md). Scores differ from the scalar
// kernels' in the last bits. TWOSTAGE_FAISS_SIMD=scalar in the environment
// keeps FAISS's own scalar kernels; SIMD reports which run. With
// faiss_system FAISS's own always run.
//
// # Layout and durability
//
// A store is a directory:
//
//	MANIFEST            dimension, metric and index parameters (JSON)
//	LOCK                flock'd while a process has the store open
//	docs.db             bbolt: documents, vectors, and the write-ahead log
//	SNAPSHOT            the index snapshot's slot table, sequence and checksums
//	index-N.faiss       the FAISS index written by the last snapshot
//
// The bbolt database is the source of truth. Upsert and Delete commit one
// bbolt transaction (fsync'd) holding the documents and a log entry per
// change before they touch the in-memory index, so a write is durable once it
// returns. Save (and Close) write a snapshot of the index and trim the log;
// Open loads the snapshot and replays the log entries written after it, so a
// process killed at any point reopens holding every acknowledged write. Files
// are checksummed: a truncated or corrupted file is an error wrapping
// ErrCorrupt, never a panic. Options.RebuildIndex rebuilds the index from the
// documents when the snapshot is lost or damaged.
//
// # Index kinds
//
// Flat (exact, the default), HNSW, IVFFlat and IVFPQ. FAISS positions
// ("slots") identify vectors; string ids map to slots in memory. Overwrites
// and deletes mark the old slot dead; searches skip dead slots with a FAISS
// IDSelectorBitmap. When more than Options.CompactRatio of the slots are
// dead, the write that passes the ratio starts a compaction in the
// background: it builds a new index from the live vectors while searches
// and writes go on against the current one, then takes the lock, replays
// the write-ahead log entries written since it began (the log keeps them
// until then) and swaps the new index in. Save, Close and Compact wait for
// it.
//
// The IVF kinds need training. Until the store holds TrainSize vectors they
// live in an exact flat index, so small collections are searched exactly;
// the Upsert that reaches TrainSize trains the index on every vector held
// and moves them into it. Train forces training earlier and fails with an
// error wrapping ErrTooFewVectors when there are fewer vectors than
// centroids (or PQ codewords).
//
// # Search
//
// Cosine stores normalized vectors in an inner-product index. A filtered
// search over-fetches from the index and evaluates the filter on the stored
// metadata, growing the fetch until k matches are found; when the index
// cannot supply them (a selective filter, or an approximate index returning
// too few) it falls back to an exact scan of the matching documents, so a
// filtered search returns k hits whenever k documents match. IVFPQ re-scores
// RefineFactor*k candidates exactly: by default from the vectors in docs.db
// (memory stays at the PQ codes' size, a read per candidate), or with
// IVFPQ.RefineInMemory inside FAISS from vectors it keeps in memory (an
// IndexRefineFlat: 4*dim more bytes a vector, and faster searches).
//
// Hits are turned into documents from a record cache (Options.
// RecordCacheBytes, 64 MiB by default) before docs.db: a map lookup instead
// of a B+tree descent whose cache misses also evict the index memory the
// next search needs; a search whose hits are all cached opens no bbolt
// transaction. After Open a background goroutine reads the document
// records once (not the vectors), filling the cache while it has room, so
// the first searches of a fresh process do not take a page fault per hit;
// it exits when done or on Close.
//
// # Threads
//
// A single-query search runs FAISS on one OpenMP thread: concurrent searches
// run in parallel on their own goroutines (each cgo call is its own OpenMP
// master with a team of one), and on a small machine a team of OpenMP
// threads for one query costs more than it gains: FAISS 1.7.3's HNSW search
// opens a parallel region and allocates an ntotal-byte visited table per
// thread on every call, and woken workers wait for a CPU (README.md has the
// queries per second of one and two threads under both OpenMP wait
// policies, from cmd/faissbench). Batch searches (Store.SearchBatch),
// training and index builds use Options.Threads threads (default: the
// number of CPUs).
// Set OMP_WAIT_POLICY=PASSIVE in the environment of a process that shares
// its CPUs, so idle OpenMP workers sleep instead of spinning; OpenBLAS (used
// by Flat batches of 20 or more queries and by training) keeps its own
// threads, set with OPENBLAS_NUM_THREADS.
//
// # FAISS 1.7.3 notes
//
// A single HNSW search calls HNSW::search directly with a visited table
// kept per thread, where IndexHNSW::search would allocate and clear one of
// ntotal bytes on every call; batches go through IndexHNSW::search.
//
// IndexIDMap rejects SearchParameters, so faisslocal keeps its own slot ->
// id table and addresses the index's sequential ids; IVF indexes store the
// slot numbers as their ids. SearchParametersHNSW.efSearch is ignored by
// 1.7.3's HNSW search (only hnsw.efSearch counts), so EfSearch is set on the
// index when it is built or loaded; the parameters still carry the
// IDSelectorBitmap that skips dead slots.
package faisslocal
