package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"twostage"
	"twostage/adapters/memstore"
	"twostage/embed"
	"twostage/rerank"
)

// The generated data set: 200 documents in 20 topics, 30 judged queries and
// one unjudged. Each topic has 8 words; a document mixes words of its topic
// with filler. A query asks for three words of a topic; a document of that
// topic holding two or more of them is graded 2, one of them 1, none 0.
// Queries 0-2 also judge a document that is not in the corpus; queries 28
// and 29 judge only non-relevant documents.
const (
	genDocs    = 200
	genQueries = 30
	genTopics  = 20
)

type genDoc struct{ id, title, text string }

type genData struct {
	docs    []genDoc
	queries []struct{ id, text string }
	qrels   map[string]map[string]int
}

func generate() genData {
	rng := rand.New(rand.NewPCG(7, 11))
	topicWord := func(t, j int) string { return fmt.Sprintf("t%dw%d", t, j) }
	var g genData
	for i := range genDocs {
		t := i % genTopics
		var words []string
		for range 12 + rng.IntN(20) {
			if rng.IntN(10) < 3 {
				words = append(words, topicWord(t, rng.IntN(8)))
			} else {
				words = append(words, fmt.Sprintf("f%d", rng.IntN(150)))
			}
		}
		g.docs = append(g.docs, genDoc{
			id:    fmt.Sprintf("doc%03d", i),
			title: topicWord(t, rng.IntN(8)) + " " + fmt.Sprintf("f%d", rng.IntN(150)),
			text:  strings.Join(words, " ") + ".",
		})
	}
	g.qrels = map[string]map[string]int{}
	for q := range genQueries {
		t := q % genTopics
		a, b, c := rng.IntN(8), rng.IntN(8), rng.IntN(8)
		qid := fmt.Sprintf("q%d", q)
		text := fmt.Sprintf("%s %s %s", topicWord(t, a), topicWord(t, b), topicWord(t, c))
		g.queries = append(g.queries, struct{ id, text string }{qid, text})
		j := map[string]int{}
		for i, d := range g.docs {
			if i%genTopics != t {
				continue
			}
			hits := 0
			for _, w := range unique3(topicWord(t, a), topicWord(t, b), topicWord(t, c)) {
				if strings.Contains(" "+d.title+" "+strings.TrimSuffix(d.text, ".")+" ", " "+w+" ") {
					hits++
				}
			}
			grade := min(hits, 2)
			if q >= 28 {
				grade = 0
			}
			j[d.id] = grade
		}
		if q < 3 {
			j[fmt.Sprintf("ghost%d", q)] = 1
		}
		g.qrels[qid] = j
	}
	g.queries = append(g.queries, struct{ id, text string }{"q-unjudged", "t1w1"})
	return g
}

func unique3(a, b, c string) []string {
	out := []string{a}
	for _, w := range []string{b, c} {
		dup := false
		for _, o := range out {
			dup = dup || o == w
		}
		if !dup {
			out = append(out, w)
		}
	}
	return out
}

// writeDataset writes g in the BEIR layout and returns the directory.
func writeDataset(t *testing.T, g genData) string {
	t.Helper()
	dir := t.TempDir()
	var corpus, queries, qrels strings.Builder
	for _, d := range g.docs {
		b, _ := json.Marshal(map[string]string{"_id": d.id, "title": d.title, "text": d.text})
		corpus.Write(append(b, '\n'))
	}
	for _, q := range g.queries {
		b, _ := json.Marshal(map[string]string{"_id": q.id, "text": q.text})
		queries.Write(append(b, '\n'))
	}
	qrels.WriteString("query-id\tcorpus-id\tscore\n")
	for _, q := range g.queries {
		ids := make([]string, 0, len(g.qrels[q.id]))
		for d := range g.qrels[q.id] {
			ids = append(ids, d)
		}
		sort.Strings(ids)
		for _, d := range ids {
			fmt.Fprintf(&qrels, "%s\t%s\t%d\n", q.id, d, g.qrels[q.id][d])
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "qrels"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "corpus.jsonl"), []byte(corpus.String()), 0o644))
	must(os.WriteFile(filepath.Join(dir, "queries.jsonl"), []byte(queries.String()), 0o644))
	must(os.WriteFile(filepath.Join(dir, "qrels", "test.tsv"), []byte(qrels.String()), 0o644))
	return dir
}

// results.json as the test reads it, independently of package eval's types.
type evalJSON struct {
	Dataset struct {
		Docs       int  `json:"docs"`
		Queries    int  `json:"queries"`
		NoRelevant int  `json:"queries_without_relevant"`
		Unjudged   int  `json:"queries_without_judgments"`
		Missing    int  `json:"judged_docs_missing_from_corpus"`
		Indexed    bool `json:"indexed"`
	} `json:"dataset"`
	Runs []struct {
		Name       string                        `json:"name"`
		Reranked   bool                          `json:"reranked"`
		CandidateK int                           `json:"candidate_k"`
		Metrics    map[string]float64            `json:"metrics"`
		PerQuery   map[string]map[string]float64 `json:"per_query"`
		QPS        float64                       `json:"queries_per_second"`
		Latency    map[string]struct {
			N                        int
			Mean, P50, P95, P99, Max float64
		} `json:"latency_ms"`
	} `json:"runs"`
}

func readResults(t *testing.T, path string) evalJSON {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r evalJSON
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// scoredHit is one hit of the test's own pipeline run.
type scoredHit struct {
	id    string
	score float64
}

// ownRankings runs the data set through a pipeline the test builds itself
// (memstore, hashing embedder, lexical reranker) and orders each query's
// hits by score descending, ties by id descending.
func ownRankings(t *testing.T, g genData, candidateK int, reranked bool) map[string][]string {
	t.Helper()
	ctx := context.Background()
	h, _ := embed.NewHashing(0)
	d, err := memstore.NewDriver(h.Dim(), twostage.Cosine)
	if err != nil {
		t.Fatal(err)
	}
	store := twostage.NewStore(d)
	t.Cleanup(func() { store.Close() })
	var rr twostage.Reranker
	if reranked {
		rr = rerank.NewLexical()
	}
	p, err := twostage.NewPipeline(store, h, rr, nil)
	if err != nil {
		t.Fatal(err)
	}
	var docs []twostage.Document
	for _, d := range g.docs {
		docs = append(docs, twostage.Document{ID: d.id, Text: strings.TrimSpace(d.title + " " + d.text)})
	}
	if err := p.Index(ctx, docs, nil); err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, q := range g.queries {
		if _, judged := g.qrels[q.id]; !judged {
			continue
		}
		res, err := p.Search(ctx, q.text, twostage.SearchOptions{TopN: candidateK, CandidateK: candidateK, NoRerank: !reranked})
		if err != nil {
			t.Fatal(err)
		}
		var hs []scoredHit
		for _, h := range res.Hits {
			hs = append(hs, scoredHit{h.ID, h.Score})
		}
		sort.Slice(hs, func(i, j int) bool {
			if hs[i].score != hs[j].score {
				return hs[i].score > hs[j].score
			}
			return hs[i].id > hs[j].id
		})
		for _, h := range hs {
			out[q.id] = append(out[q.id], h.id)
		}
	}
	return out
}

// ownMetrics is a plain re-implementation of the five metrics from the
// definitions (BEIR / trec_eval), written without package eval.
func ownMetrics(judged map[string]int, ranking []string) map[string]float64 {
	relevant := 0
	var grades []int
	for _, g := range judged {
		if g > 0 {
			relevant++
			grades = append(grades, g)
		}
	}
	sort.Sort(sort.Reverse(sort.IntSlice(grades)))
	dcg, idcg := 0.0, 0.0
	for i := 0; i < 10 && i < len(ranking); i++ {
		if g := judged[ranking[i]]; g > 0 {
			dcg += float64(g) / math.Log2(float64(i)+2)
		}
	}
	for i := 0; i < 10 && i < len(grades); i++ {
		idcg += float64(grades[i]) / math.Log2(float64(i)+2)
	}
	m := map[string]float64{"nDCG@10": 0, "Recall@10": 0, "Recall@100": 0, "MRR@10": 0, "MAP@100": 0}
	if idcg > 0 {
		m["nDCG@10"] = dcg / idcg
	}
	found10, found100, apSum := 0, 0, 0.0
	for i, id := range ranking {
		if judged[id] <= 0 {
			continue
		}
		if i < 10 {
			found10++
			if m["MRR@10"] == 0 {
				m["MRR@10"] = 1 / float64(i+1)
			}
		}
		if i < 100 {
			found100++
			apSum += float64(found100) / float64(i+1)
		}
	}
	if relevant > 0 {
		m["Recall@10"] = float64(found10) / float64(relevant)
		m["Recall@100"] = float64(found100) / float64(relevant)
		m["MAP@100"] = apSum / float64(relevant)
	}
	return m
}

func TestEvalEndToEnd(t *testing.T) {
	g := generate()
	data := writeDataset(t, g)
	out := filepath.Join(t.TempDir(), "out")
	code, stdout, stderr := cli(t, "", "eval", "--data", data, "--store", "mem:", "--embedder", "hash", "--reranker", "lexical",
		"--candidate-k", "10,50,100", "--out", out, "--concurrency", "3")
	if code != 0 {
		t.Fatalf("eval exit %d: %s", code, stderr)
	}
	t.Logf("twostage eval output:\n%s", stdout)
	if dir := os.Getenv("TWOSTAGE_EVAL_KEEP"); dir != "" { // to look at the charts
		os.CopyFS(dir, os.DirFS(out))
	}
	r := readResults(t, filepath.Join(out, "results.json"))

	if r.Dataset.Docs != genDocs || r.Dataset.Queries != genQueries || r.Dataset.NoRelevant != 2 || r.Dataset.Unjudged != 1 ||
		r.Dataset.Missing != 3 || !r.Dataset.Indexed {
		t.Errorf("dataset = %+v; want 200 docs, 30 queries, 2 without relevant, 1 unjudged, 3 missing, indexed", r.Dataset)
	}
	wantRuns := []struct {
		name     string
		reranked bool
		k        int
	}{{"first-stage", false, 100}, {"reranked@10", true, 10}, {"reranked@50", true, 50}, {"reranked@100", true, 100}}
	if len(r.Runs) != len(wantRuns) {
		t.Fatalf("%d runs, want %d", len(r.Runs), len(wantRuns))
	}
	for i, w := range wantRuns {
		run := r.Runs[i]
		if run.Name != w.name || run.Reranked != w.reranked || run.CandidateK != w.k {
			t.Errorf("run %d = %s reranked %v k %d; want %s %v %d", i, run.Name, run.Reranked, run.CandidateK, w.name, w.reranked, w.k)
		}
		// The expected values, from the test's own pipeline and metric code.
		ranks := ownRankings(t, g, w.k, w.reranked)
		want := map[string]float64{}
		for q, ranking := range ranks {
			for name, v := range ownMetrics(g.qrels[q], ranking) {
				want[name] += v / genQueries
				if got := run.PerQuery[q][name]; math.Abs(got-v) > 1e-9 {
					t.Errorf("%s %s %s = %.6f, want %.6f", run.Name, q, name, got, v)
				}
			}
		}
		for name, v := range want {
			if got, ok := run.Metrics[name]; !ok || math.Abs(got-v) > 1e-9 {
				t.Errorf("%s %s = %.6f, want %.6f", run.Name, name, got, v)
			}
		}
		if len(run.PerQuery) != genQueries {
			t.Errorf("%s: %d queries scored, want %d", run.Name, len(run.PerQuery), genQueries)
		}
		// Latencies: every stage that ran, one sample per query, ordered percentiles.
		stages := []string{"embed", "retrieve", "total"}
		if w.reranked {
			stages = append(stages, "rerank")
		} else if _, ok := run.Latency["rerank"]; ok {
			t.Errorf("%s reports a rerank latency", run.Name)
		}
		for _, st := range stages {
			l, ok := run.Latency[st]
			if !ok || l.N != genQueries || l.P50 > l.P95 || l.P95 > l.P99 || l.P99 > l.Max || l.Max <= 0 {
				t.Errorf("%s latency %s = %+v", run.Name, st, l)
			}
		}
		if run.QPS <= 0 {
			t.Errorf("%s: throughput %v", run.Name, run.QPS)
		}
		// The TREC run file holds the same rankings.
		if got := readTRECRun(t, filepath.Join(out, "runs", run.Name+".trec")); !maps.EqualFunc(got, ranks, slices.Equal) {
			t.Errorf("%s: the run file's rankings differ from the test's own", run.Name)
		}
	}

	for _, want := range []string{"first-stage", "reranked@100", "vs first stage", "nDCG@10", "MAP@100", "p99 ms", "queries/s",
		"latency per query", "rerank", "200 documents, 30 queries", "2 without a relevant judgment", "3 judgments name documents missing"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, stdout)
		}
	}
	if !strings.Contains(stderr, "evaluating: 120 queries in") || !strings.Contains(stderr, "indexing: 200 docs") {
		t.Errorf("stderr lacks the progress summaries: %q", stderr)
	}
	if !strings.Contains(stderr, `query "q0" document "ghost0"`) {
		t.Errorf("stderr does not name the missing documents: %q", stderr)
	}
	for _, name := range []string{"metrics.png", "latency.png", "tradeoff.png"} {
		f, err := os.Open(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if b := img.Bounds(); b.Dx() != 1000 || b.Dy() != 560 {
			t.Errorf("%s: %dx%d, want 1000x560", name, b.Dx(), b.Dy())
		}
	}
}

func readTRECRun(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 6 || fields[1] != "Q0" {
			t.Fatalf("%s: bad line %q", path, sc.Text())
		}
		if rank, _ := strconv.Atoi(fields[3]); rank != len(out[fields[0]])+1 {
			t.Fatalf("%s: rank %s out of order", path, fields[3])
		}
		out[fields[0]] = append(out[fields[0]], fields[2])
	}
	return out
}

func TestEvalLimitAndFirstStageOnly(t *testing.T) {
	data := writeDataset(t, generate())
	out := t.TempDir()
	code, stdout, stderr := cli(t, "", "eval", "--data", data, "--reranker", "none", "--limit", "7", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	r := readResults(t, filepath.Join(out, "results.json"))
	if r.Dataset.Queries != 7 || len(r.Runs) != 1 || r.Runs[0].Name != "first-stage" || len(r.Runs[0].PerQuery) != 7 {
		t.Errorf("dataset %+v, %d runs; want 7 queries and the first stage only", r.Dataset, len(r.Runs))
	}
	if _, err := os.Stat(filepath.Join(out, "tradeoff.png")); !os.IsNotExist(err) {
		t.Errorf("a first-stage-only eval wrote tradeoff.png (%v)", err)
	}
	if strings.Contains(stdout, "reranked@") {
		t.Errorf("table shows reranked runs:\n%s", stdout)
	}
}

func TestEvalReusesAnIndex(t *testing.T) {
	g := generate()
	data := writeDataset(t, g)
	store := "mem:" + filepath.Join(t.TempDir(), "beir.snap")
	args := []string{"eval", "--data", data, "--store", store, "--candidate-k", "20", "--limit", "10"}
	// A named store that does not exist is not created...
	code, _, stderr := cli(t, "", args...)
	if code != 1 || !strings.Contains(stderr, "no store at "+store) || !strings.Contains(stderr, "--reindex") {
		t.Fatalf("run on a missing store: exit %d, stderr %q", code, stderr)
	}
	// ...unless --reindex asks eval to index the corpus into it.
	code, first, stderr := cli(t, "", append(args, "--reindex")...)
	if code != 0 || !strings.Contains(stderr, "indexing") {
		t.Fatalf("first run: exit %d, stderr %q", code, stderr)
	}
	code, second, stderr := cli(t, "", args...)
	if code != 0 || !strings.Contains(stderr, "reusing the 200 documents") || strings.Contains(stderr, "indexing") {
		t.Fatalf("second run: exit %d, stderr %q", code, stderr)
	}
	metricsOf := func(table string) string { // the metric columns of the first-stage row
		for _, l := range strings.Split(table, "\n") {
			if f := strings.Fields(l); len(f) > 6 && f[0] == "first-stage" {
				return strings.Join(f[:6], " ")
			}
		}
		return ""
	}
	if m1, m2 := metricsOf(first), metricsOf(second); m1 == "" || m1 != m2 {
		t.Errorf("reused index gives other metrics: %q vs %q", m1, m2)
	}

	// A store holding other documents is refused, also with --reindex: a
	// --store that contradicts --data is a usage error (exit 2), found before
	// any work.
	other := "mem:" + filepath.Join(t.TempDir(), "other.snap")
	if code, _, stderr := cli(t, `{"id": "x", "text": "unrelated"}`, "index", "--store", other); code != 0 {
		t.Fatalf("index: %s", stderr)
	}
	code, _, stderr = cli(t, "", "eval", "--data", data, "--store", other)
	if code != 2 || !strings.Contains(stderr, "holds 1 documents but the corpus has 200") {
		t.Errorf("eval over another store: exit %d, stderr %q", code, stderr)
	}
	// eval never writes into a store it did not create.
	code, _, stderr = cli(t, "", "eval", "--data", data, "--store", other, "--reindex")
	if code != 2 || !strings.Contains(stderr, "eval indexes only into a store it created") {
		t.Errorf("eval --reindex over another store: exit %d, stderr %q", code, stderr)
	}
	if code, out, _ := cli(t, "", "info", "--store", other); code != 0 || !strings.Contains(out, "documents     1\n") {
		t.Errorf("the other store changed: %q", out)
	}
}

func TestEvalOrderAndConcurrencyAgree(t *testing.T) {
	data := writeDataset(t, generate())
	get := func(args ...string) evalJSON {
		t.Helper()
		out := t.TempDir()
		code, _, stderr := cli(t, "", append([]string{"eval", "--data", data, "--candidate-k", "30", "--out", out}, args...)...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		return readResults(t, filepath.Join(out, "results.json"))
	}
	serial, parallel := get("--concurrency", "1"), get("--concurrency", "8", "--warmup", "0")
	for i := range serial.Runs {
		for name, v := range serial.Runs[i].Metrics {
			if parallel.Runs[i].Metrics[name] != v {
				t.Errorf("%s %s: %v serial, %v with 8 in flight", serial.Runs[i].Name, name, v, parallel.Runs[i].Metrics[name])
			}
		}
	}
	// Pipeline order keeps the first-stage order among tied rerank scores;
	// with the lexical reranker's zero scores that changes some rankings
	// below the top, but never the first stage (no ties there).
	po := get("--order", "pipeline")
	if po.Runs[0].Metrics["nDCG@10"] != serial.Runs[0].Metrics["nDCG@10"] {
		t.Errorf("first-stage nDCG@10 depends on --order: %v vs %v", po.Runs[0].Metrics["nDCG@10"], serial.Runs[0].Metrics["nDCG@10"])
	}
}

func TestEvalBadInput(t *testing.T) {
	data := writeDataset(t, generate())
	bad := t.TempDir()
	os.MkdirAll(filepath.Join(bad, "qrels"), 0o755)
	os.WriteFile(filepath.Join(bad, "corpus.jsonl"), []byte(`{"_id": "d1", "text": "x"}`+"\n"), 0o644)
	os.WriteFile(filepath.Join(bad, "queries.jsonl"), []byte(`{"_id": "q1", "text": "x"}`+"\n"), 0o644)
	os.WriteFile(filepath.Join(bad, "qrels", "test.tsv"), []byte("query-id\tcorpus-id\tscore\nq1\td1\thigh\n"), 0o644)
	tests := []struct {
		args     []string
		code     int
		inStderr string
	}{
		{[]string{"eval"}, 2, "give the data set"},
		{[]string{"eval", "--data", data, "--candidate-k", "10,x"}, 2, "--candidate-k"},
		{[]string{"eval", "--data", data, "--candidate-k", "0"}, 2, "--candidate-k"},
		{[]string{"eval", "--data", data, "--reranker", "none", "--candidate-k", "10"}, 2, "needs a reranker"},
		{[]string{"eval", "--data", data, "--metrics", "ndcg@10,P@5"}, 2, "unknown measure"},
		{[]string{"eval", "--data", data, "--order", "random"}, 2, "--order"},
		{[]string{"eval", "--data", data, "--limit", "-1"}, 2, "--limit"},
		{[]string{"eval", "--data", data, "--concurrency", "0"}, 2, "--concurrency"},
		{[]string{"eval", "--data", data, "extra"}, 2, "unexpected argument"},
		{[]string{"eval", "--data", filepath.Join(data, "nope")}, 1, "no such file"},
		{[]string{"eval", "--data", bad}, 1, "test.tsv: line 2: score \"high\" is not an integer"},
		{[]string{"eval", "--data", data, "--split", "dev"}, 1, "dev.tsv"},
	}
	for _, tc := range tests {
		code, _, stderr := cli(t, "", tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.inStderr) {
			t.Errorf("twostage %q: exit %d stderr %q; want exit %d and %q", tc.args, code, stderr, tc.code, tc.inStderr)
		}
	}
}

func TestEvalIgnoresIdenticalIDs(t *testing.T) {
	// The query q1 is also a document (as in ArguAna or Quora). Its text
	// equals the query, so the first stage ranks it first, then d1 (the one
	// relevant document), then d2.
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "qrels"), 0o755)
	os.WriteFile(filepath.Join(dir, "corpus.jsonl"), []byte(`{"_id": "q1", "text": "alpha beta"}
{"_id": "d1", "text": "alpha beta gamma delta"}
{"_id": "d2", "text": "zeta eta theta"}
`), 0o644)
	os.WriteFile(filepath.Join(dir, "queries.jsonl"), []byte(`{"_id": "q1", "text": "alpha beta"}`+"\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "qrels", "test.tsv"), []byte("query-id\tcorpus-id\tscore\nq1\td1\t1\n"), 0o644)
	tests := []struct {
		flag        string
		mrr, map100 float64
	}{
		// Dropped: d1 is at rank 1. MRR@10 = 1, MAP@100 = 1/1 / 1 = 1.
		{"--ignore-identical-ids=true", 1, 1},
		// Kept: d1 is at rank 2. MRR@10 = 1/2, MAP@100 = (1/2) / 1 = 0.5.
		{"--ignore-identical-ids=false", 0.5, 0.5},
	}
	for _, tc := range tests {
		out := t.TempDir()
		code, _, stderr := cli(t, "", "eval", "--data", dir, "--reranker", "none", "--out", out, tc.flag)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", tc.flag, code, stderr)
		}
		m := readResults(t, filepath.Join(out, "results.json")).Runs[0].Metrics
		if m["MRR@10"] != tc.mrr || m["MAP@100"] != tc.map100 {
			t.Errorf("%s: MRR@10 %v MAP@100 %v; want %v and %v", tc.flag, m["MRR@10"], m["MAP@100"], tc.mrr, tc.map100)
		}
	}
}
