// Package eval measures what a retrieve-and-rerank pipeline does on a
// judged data set: the ranking metrics of BEIR (nDCG@k, Recall@k, MAP@k as
// pytrec_eval computes them, MRR@k as BEIR's own code does), a loader for
// the BEIR data layout, latency percentiles, and the report that
// `twostage eval` prints and writes.
//
// # Definitions
//
// A query's judgments map document ids to integer grades. A document is
// relevant when its grade is greater than 0 (trec_eval's relevance_level 1);
// a document that is not judged counts as grade 0. For a ranking d1, d2, ...
// and a cutoff k:
//
//   - nDCG@k = DCG@k / IDCG@k with DCG@k = Σ_{i=1..min(k,n)} grade(d_i) /
//     log2(i+1) (linear gain, negative grades count 0) and IDCG@k the same
//     sum over the grades of all of the query's judged documents sorted
//     descending (trec_eval ndcg_cut). The ideal uses every judged document,
//     retrieved or not, present in the corpus or not.
//   - Recall@k = |relevant in the top k| / |relevant judged| (trec_eval
//     recall; BEIR's "Recall@k"). The denominator is not capped at k.
//   - MAP@k = Σ over relevant d_i with i <= k of precision@i, divided by
//     |relevant judged| (trec_eval map_cut; BEIR's "MAP@k"). The
//     denominator is the number of relevant documents, not min(k, that).
//   - MRR@k = 1/i for the first relevant d_i with i <= k, else 0 (BEIR's
//     custom mrr).
//
// A query whose judgments hold no relevant document scores 0 on every
// metric and still counts in the mean: trec_eval (and so pytrec_eval and
// BEIR) ignores only queries with no judgments at all. Queries without
// judgments are ignored, as are run queries missing from the qrels. A
// cutoff larger than the ranking behaves as if non-relevant documents
// filled the rest. A document named in the qrels but missing from the
// corpus still counts as a relevant document that was never retrieved, as
// in BEIR; LoadOptions.DropMissing removes such judgments instead.
//
// # Ties
//
// trec_eval ignores the ranks a run gives: it sorts each query's documents
// by score descending and breaks ties by document id descending, comparing
// bytes (strcmp). Rank applies that order, so metrics computed from scored
// hits equal pytrec_eval's. Functions taking a ranking ([]string) use the
// order as given. MRR is computed on the same order as the other metrics;
// BEIR's own mrr instead keeps a tie in the order the run listed it.
package eval
