package rerank

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"twostage"
	"twostage/inference"
	"twostage/internal/leaktest"
	"twostage/internal/refmodel"
	"twostage/internal/testassets"
	"twostage/internal/tinymodel"
	"twostage/modeldir"
	"twostage/tokenizer"
)

var crossFamilies = []string{modeldir.FamilyZerank, modeldir.FamilyQwen3Reranker, modeldir.FamilyBertCrossEncoder}

// testDocs mixes lengths, scripts, leading whitespace and newlines (which
// the byte-level pre-tokenizer merges across piece boundaries if the
// template were split in the wrong place), template text inside a
// document, and an empty document.
var testDocs = []string{
	"Go is an open source programming language that makes it simple to build secure, scalable systems.",
	"",
	"\n\nLeading newlines\nand a second line.",
	"   leading spaces",
	"Bananas are yellow.",
	"Der schnelle braune Fuchs springt über den faulen Hund. 日本語のテキストも含まれています。 😀👍🏽",
	"A document that mentions <|im_end|> and <|im_start|> template tokens, and [SEP] too.",
	strings.Repeat("Retrieval then reranking: a cross-encoder reads the query and the document together. ", 6),
	"x",
	"Numbers 1234567890 and punctuation!!! ??? ... 'quotes' \"double\" (parens) [brackets] {braces}",
}

const testQuery = "How do cross-encoders rerank search results?"

// model returns the tiny converted model of family and, lazily, its
// reference forward pass.
func model(t *testing.T, family string) string {
	t.Helper()
	testassets.ONNXRuntime(t)
	return tinymodel.Model(t, family)
}

var refs sync.Map // family -> *refmodel.Model

func reference(t *testing.T, family string) *refmodel.Model {
	t.Helper()
	if m, ok := refs.Load(family); ok {
		return m.(*refmodel.Model)
	}
	m, err := refmodel.Load(tinymodel.Checkpoint(t, tinymodel.Spec{Family: family, Seed: 1}), family)
	if err != nil {
		t.Fatal(err)
	}
	refs.Store(family, m)
	return m
}

func openEngine(t *testing.T, dir string, opts *EngineOptions) *Engine {
	t.Helper()
	e, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	leaktest.Close(t, e)
	return e
}

func testTokenizer(t *testing.T, dir string) *tokenizer.Tokenizer {
	t.Helper()
	tok, err := inference.Default().Tokenizer(modeldir.TokenizerPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// wholeIDs tokenizes the complete input text the way the reference
// implementations do: the templated string in one piece for the decoder
// families, the pair with special tokens for BERT.
func wholeIDs(t *testing.T, tok *tokenizer.Tokenizer, family, query, doc string) (ids, types []int64) {
	t.Helper()
	var e *tokenizer.Encoding
	var err error
	switch family {
	case modeldir.FamilyZerank:
		e, err = tok.Encode(ZerankTemplate(query, doc), false)
	case modeldir.FamilyQwen3Reranker:
		e, err = tok.Encode(Qwen3RerankerTemplate("", query, doc), false)
	default:
		e, err = tok.EncodePair(query, doc, true)
	}
	if err != nil {
		t.Fatal(err)
	}
	ids, types = make([]int64, e.Len()), make([]int64, e.Len())
	for i := range e.IDs {
		ids[i], types[i] = int64(e.IDs[i]), int64(e.TypeIDs[i])
	}
	return ids, types
}

// referenceRaw is the float64 reference's raw score of (query, doc) fed as
// the engine feeds the model: the whole template, token types for BERT only.
func referenceRaw(t *testing.T, ref *refmodel.Model, tok *tokenizer.Tokenizer, family, query, doc string) float64 {
	t.Helper()
	ids, types := wholeIDs(t, tok, family, query, doc)
	if family != modeldir.FamilyBertCrossEncoder {
		types = nil
	}
	want, err := ref.Score(ids, types)
	if err != nil {
		t.Fatal(err)
	}
	return want
}

// uncutPrompter returns a prompter for the tiny model of family with a max
// length nothing reaches, and the model's tokenizer.
func uncutPrompter(t *testing.T, family string) (*prompter, *tokenizer.Tokenizer) {
	t.Helper()
	tok := testTokenizer(t, tinymodel.Model(t, family))
	p, err := newPrompter(family, tok, 100000, "")
	if err != nil {
		t.Fatal(err)
	}
	return p, tok
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

func near(a, b, rel float64) bool { return math.Abs(a-b) <= rel*max(1, math.Abs(b)) }

func equalIDs(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestPiecewiseTokenizationMatchesWholeString checks that the engine's
// template pieces, tokenized separately, concatenate to the tokens of the
// whole templated string (what Hugging Face gives) when nothing is cut.
func TestPiecewiseTokenizationMatchesWholeString(t *testing.T) {
	for _, family := range crossFamilies {
		t.Run(family, func(t *testing.T) {
			p, tok := uncutPrompter(t, family)
			queries := []string{testQuery, "\nquery with a leading newline", "é", strings.Repeat("long query ", 300)}
			for qi, query := range queries {
				q := p.query(query)
				for di, doc := range testDocs {
					got := p.pair(q, doc)
					ids, types := wholeIDs(t, tok, family, query, doc)
					if !equalIDs(got.IDs, ids) {
						t.Errorf("query %d doc %d: piecewise ids\n%v\nwhole-string ids\n%v", qi, di, got.IDs, ids)
					}
					if family == modeldir.FamilyBertCrossEncoder && !equalIDs(got.TypeIDs, types) {
						t.Errorf("query %d doc %d: type ids %v, want %v", qi, di, got.TypeIDs, types)
					}
				}
			}
		})
	}
}

func TestCharacterCuts(t *testing.T) {
	q := strings.Repeat("é", 2500)
	d := strings.Repeat("日", 12000)
	got := ZerankTemplate(q, d)
	want := "<|im_start|>system\n" + strings.Repeat("é", 2000) + "<|im_end|>\n<|im_start|>user\n" + strings.Repeat("日", 10000) + "<|im_end|>\n<|im_start|>assistant\n"
	if got != want {
		t.Fatalf("ZerankTemplate does not cut to 2,000 and 10,000 characters: got %d bytes, want %d", len(got), len(want))
	}
	if got := ZerankTemplate("short", "doc"); got != "<|im_start|>system\nshort<|im_end|>\n<|im_start|>user\ndoc<|im_end|>\n<|im_start|>assistant\n" {
		t.Fatalf("template %q", got)
	}
}

// TestScoresMatchReference compares the engine's scores, batched and
// padded, with the float64 reference forward pass over the whole-string
// tokens, one unpadded sequence at a time.
func TestScoresMatchReference(t *testing.T) {
	for _, family := range crossFamilies {
		t.Run(family, func(t *testing.T) {
			dir := model(t, family)
			ref := reference(t, family)
			tok := testTokenizer(t, dir)
			e := openEngine(t, dir, &EngineOptions{ModelOptions: inference.ModelOptions{MaxBatchSize: 4}})
			got, err := e.Rerank(context.Background(), testQuery, testDocs)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(testDocs) {
				t.Fatalf("%d scores for %d docs", len(got), len(testDocs))
			}
			scale := 1.0
			if family == modeldir.FamilyZerank {
				scale = 0.2
			}
			distinct := map[float64]bool{}
			for i, doc := range testDocs {
				want := referenceRaw(t, ref, tok, family, testQuery, doc)
				if !near(got[i].Raw, want, 1e-4) {
					t.Errorf("doc %d: raw %.7f, reference %.7f", i, got[i].Raw, want)
				}
				if c := sigmoid(scale * got[i].Raw); math.Abs(got[i].Score-c) > 1e-12 || got[i].Score < 0 || got[i].Score > 1 {
					t.Errorf("doc %d: calibrated %v, want sigmoid(%v * %v) = %v", i, got[i].Score, scale, got[i].Raw, c)
				}
				distinct[got[i].Raw] = true
			}
			if len(distinct) < len(testDocs)-1 {
				t.Errorf("only %d distinct scores for %d docs", len(distinct), len(testDocs))
			}
		})
	}
}

// TestTruncationKeepsTemplate scores documents longer than a small max
// length: inputs must be exactly max length, keep the template's end, and
// still match the reference on those tokens.
func TestTruncationKeepsTemplate(t *testing.T) {
	long := strings.Repeat("The document goes on and on about rerankers. ", 40)
	for _, family := range crossFamilies {
		t.Run(family, func(t *testing.T) {
			maxLen := 64
			if family == modeldir.FamilyQwen3Reranker {
				maxLen = 96 // its template with the default instruction is 73 tokens
			}
			dir := model(t, family)
			ref := reference(t, family)
			tok := testTokenizer(t, dir)
			e := openEngine(t, dir, &EngineOptions{MaxLength: maxLen})
			if e.MaxLength() != maxLen {
				t.Fatalf("MaxLength %d, want %d", e.MaxLength(), maxLen)
			}
			q := e.prompt.query(testQuery)
			p := e.prompt.pair(q, long)
			if len(p.IDs) != maxLen {
				t.Fatalf("%d tokens, want %d", len(p.IDs), maxLen)
			}
			whole, _ := wholeIDs(t, tok, family, testQuery, long)
			var wantTail []int64
			switch family {
			case modeldir.FamilyZerank:
				wantTail = concat(mustEncode(t, tok, zerankPost))
			case modeldir.FamilyQwen3Reranker:
				wantTail = concat(mustEncode(t, tok, qwen3Suffix))
			default:
				enc, err := tok.EncodeTruncated(tokenizer.Input{Text: testQuery, Pair: long, HasPair: true}, true, maxLen, tokenizer.LongestFirst)
				if err != nil {
					t.Fatal(err)
				}
				if !equalIDs(p.IDs, concat(enc.IDs)) {
					t.Fatalf("bert truncation %v, want %v (EncodeTruncated longest-first)", p.IDs, enc.IDs)
				}
				wantTail = concat(enc.IDs[len(enc.IDs)-1:])
			}
			if !equalIDs(p.IDs[maxLen-len(wantTail):], wantTail) {
				t.Errorf("template tail %v, want %v", p.IDs[maxLen-len(wantTail):], wantTail)
			}
			head := maxLen - len(wantTail)
			if family != modeldir.FamilyBertCrossEncoder && !equalIDs(p.IDs[:head], whole[:head]) {
				t.Errorf("kept tokens %v differ from the whole string's %v", p.IDs[:head], whole[:head])
			}
			got, err := e.Rerank(context.Background(), testQuery, []string{long, "short"})
			if err != nil {
				t.Fatal(err)
			}
			var types []int64
			if family == modeldir.FamilyBertCrossEncoder {
				types = p.TypeIDs
			}
			want, err := ref.Score(p.IDs, types)
			if err != nil {
				t.Fatal(err)
			}
			if !near(got[0].Raw, want, 1e-4) {
				t.Errorf("truncated doc: raw %v, reference %v", got[0].Raw, want)
			}
		})
	}
}

func mustEncode(t *testing.T, tok *tokenizer.Tokenizer, s string) []int {
	t.Helper()
	e, err := tok.Encode(s, false)
	if err != nil {
		t.Fatal(err)
	}
	return e.IDs
}

// mixedDocs returns n documents of very different lengths.
func mixedDocs(n int, seed uint64) []string {
	rng := rand.New(rand.NewPCG(seed, 3))
	words := strings.Fields("rerank query document model token batch padding length engine score search vector the a of and")
	docs := make([]string, n)
	for i := range docs {
		k := 1 + int(math.Exp(rng.NormFloat64()*0.9+2.5))
		var b strings.Builder
		for j := 0; j < k; j++ {
			b.WriteString(words[rng.IntN(len(words))])
			b.WriteByte(' ')
		}
		docs[i] = fmt.Sprintf("%d: %s", i, b.String())
	}
	return docs
}

// TestBatchInvariance scores each document alone, then in batches of every
// shape (sizes, grouping on and off, many concurrent callers): every score
// must equal the alone score within 1e-5 relative.
func TestBatchInvariance(t *testing.T) {
	for _, family := range crossFamilies {
		t.Run(family, func(t *testing.T) {
			dir := model(t, family)
			docs := mixedDocs(60, 1)
			alone := make([]float64, len(docs))
			{
				e := openEngine(t, dir, &EngineOptions{ModelOptions: inference.ModelOptions{MaxBatchSize: 1, IntraOpThreads: 1}})
				for i, d := range docs {
					s, err := e.Rerank(context.Background(), testQuery, []string{d})
					if err != nil {
						t.Fatal(err)
					}
					alone[i] = s[0].Raw
				}
				if st := e.Stats(); st.Fill() != 1 || st.Batches != int64(len(docs)) {
					t.Fatalf("alone: stats %+v, want one unpadded batch per doc", st)
				}
				e.Close()
			}
			for _, o := range []EngineOptions{
				{ModelOptions: inference.ModelOptions{MaxBatchSize: 64, NoLengthGrouping: true, IntraOpThreads: 1}},
				{ModelOptions: inference.ModelOptions{MaxBatchSize: 7, MinFill: -1, IntraOpThreads: 2}},
				{ModelOptions: inference.ModelOptions{MaxBatchSize: 32, MaxBatchTokens: 1000, IntraOpThreads: 1}},
			} {
				e := openEngine(t, dir, &o)
				check := func(idx []int, got []twostage.Score) error {
					for k, i := range idx {
						if !near(got[k].Raw, alone[i], 1e-5) {
							return fmt.Errorf("options %+v: doc %d: batched %v, alone %v", o, i, got[k].Raw, alone[i])
						}
					}
					return nil
				}
				got, err := e.Rerank(context.Background(), testQuery, docs)
				if err != nil {
					t.Fatal(err)
				}
				if err := check(seq(len(docs)), got); err != nil {
					t.Fatal(err)
				}
				if o.NoLengthGrouping && e.Stats().Fill() > 0.9 {
					t.Errorf("arrival-order batches of mixed lengths are %.2f full: padding not exercised", e.Stats().Fill())
				}
				// Concurrent callers with random subsets in random order.
				var wg sync.WaitGroup
				errs := make(chan error, 8)
				for c := 0; c < 8; c++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						rng := rand.New(rand.NewPCG(uint64(c), 9))
						for round := 0; round < 3; round++ {
							idx := rng.Perm(len(docs))[:1+rng.IntN(len(docs))]
							sub := make([]string, len(idx))
							for k, i := range idx {
								sub[k] = docs[i]
							}
							got, err := e.Rerank(context.Background(), testQuery, sub)
							if err == nil {
								err = check(idx, got)
							}
							if err != nil {
								errs <- err
								return
							}
						}
					}()
				}
				wg.Wait()
				select {
				case err := <-errs:
					t.Fatal(err)
				default:
				}
				e.Close()
			}
		})
	}
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// TestConcurrentQueriesGetTheirOwnScores runs callers with different
// queries over the same documents at once; each must get its own query's
// scores (checked against a sequential run).
func TestConcurrentQueriesGetTheirOwnScores(t *testing.T) {
	dir := model(t, modeldir.FamilyZerank)
	e := openEngine(t, dir, nil)
	docs := mixedDocs(30, 2)
	queries := []string{"padding", "what is a token", "search engine vectors", "batch", "model length", "the a of"}
	want := make([][]twostage.Score, len(queries))
	for i, q := range queries {
		var err error
		if want[i], err = e.Rerank(context.Background(), q, docs); err != nil {
			t.Fatal(err)
		}
	}
	if near(want[0][0].Raw, want[1][0].Raw, 1e-6) {
		t.Fatal("different queries give the same score: the test cannot tell callers apart")
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(queries)*4)
	for r := 0; r < 4; r++ {
		for i, q := range queries {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got, err := e.Rerank(context.Background(), q, docs)
				if err != nil {
					errs <- err
					return
				}
				for k := range docs {
					if !near(got[k].Raw, want[i][k].Raw, 1e-5) {
						errs <- fmt.Errorf("query %q doc %d: %v, want %v", q, k, got[k].Raw, want[i][k].Raw)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// badInput is a rerank call every engine refuses with ErrInvalidInput.
type badInput struct {
	name  string
	query string
	docs  []string
}

var badInputs = []badInput{
	{"empty query", "", []string{"a"}},
	{"blank query", " \n\t", []string{"a"}},
	{"invalid utf-8 query", "bad \xff query", []string{"a"}},
	{"invalid utf-8 document", "query", []string{"fine", "bad \xc3\x28"}},
}

func TestBadInput(t *testing.T) {
	dir := model(t, modeldir.FamilyBertCrossEncoder)
	e := openEngine(t, dir, nil)
	ctx := context.Background()
	for _, tc := range append(badInputs, badInput{"empty query, no docs", "", nil}) {
		t.Run(tc.name, func(t *testing.T) {
			got, err := e.Rerank(ctx, tc.query, tc.docs)
			if !errors.Is(err, twostage.ErrInvalidInput) || got != nil {
				t.Fatalf("got %v, %v; want nil, ErrInvalidInput", got, err)
			}
		})
	}
	got, err := e.Rerank(ctx, "query", nil)
	if err != nil || got == nil || len(got) != 0 {
		t.Fatalf("zero docs: %v, %v; want empty, nil", got, err)
	}
	got, err = e.Rerank(ctx, "query", []string{""})
	if err != nil || len(got) != 1 || math.IsNaN(got[0].Raw) {
		t.Fatalf("empty document: %v, %v; want one score", got, err)
	}
	if st := e.Stats(); st.Calls != 1 {
		t.Fatalf("%d calls queued work; only the empty-document call should have", st.Calls)
	}
}

// TestLongCallIsSplit scores 10,000 documents in one call.
func TestLongCallIsSplit(t *testing.T) {
	dir := model(t, modeldir.FamilyBertCrossEncoder)
	e := openEngine(t, dir, &EngineOptions{ModelOptions: inference.ModelOptions{MaxBatchSize: 64}})
	docs := mixedDocs(10000, 3)
	got, err := e.Rerank(context.Background(), testQuery, docs)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(docs) {
		t.Fatalf("%d scores for %d docs", len(got), len(docs))
	}
	st := e.Stats()
	if st.Items != 10000 || st.Batches < 10000/64 {
		t.Fatalf("stats %+v: want 10000 pairs in at least %d batches", st, 10000/64)
	}
	for _, i := range []int{0, 4999, 9999} {
		one, err := e.Rerank(context.Background(), testQuery, docs[i:i+1])
		if err != nil {
			t.Fatal(err)
		}
		if !near(got[i].Raw, one[0].Raw, 1e-5) {
			t.Errorf("doc %d: %v in the long call, %v alone", i, got[i].Raw, one[0].Raw)
		}
	}
}

func TestCancellation(t *testing.T) {
	dir := model(t, modeldir.FamilyZerank)
	e := openEngine(t, dir, &EngineOptions{ModelOptions: inference.ModelOptions{MaxBatchSize: 8}})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.Rerank(ctx, testQuery, []string{"a"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled context: %v", err)
	}
	// Cancel a long call once its first batch has run. 30,000 pairs take
	// seconds (3,000 took 0.66s under -race, short enough for a poller
	// stalled by load to see the call already finished).
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	docs := mixedDocs(30000, 4)
	go func() {
		_, err := e.Rerank(ctx, testQuery, docs)
		done <- err
	}()
	deadline := time.Now().Add(30 * time.Second)
	for e.Stats().Batches == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("call cancelled midway: %v, want context.Canceled", err)
	}
	st := e.Stats()
	if st.Cancelled == 0 || st.Items >= int64(len(docs)) {
		t.Fatalf("stats %+v: queued pairs of the cancelled call should have been dropped", st)
	}
	// The engine still works.
	if got, err := e.Rerank(context.Background(), testQuery, docs[:5]); err != nil || len(got) != 5 {
		t.Fatalf("after cancellation: %v, %v", got, err)
	}
}

// TestOverloadAndCloseDrains queues a call that cannot fill a batch (long
// MaxWait), overflows the queue with a second, then closes the engine: the
// queued call must still get its scores.
func TestOverloadAndCloseDrains(t *testing.T) {
	leaktest.Check(t)
	dir := model(t, modeldir.FamilyBertCrossEncoder)
	e, err := Open(dir, &EngineOptions{ModelOptions: inference.ModelOptions{MaxBatchSize: 64, MaxBatchTokens: 1 << 20, MaxWait: time.Hour, MaxQueue: 50}})
	if err != nil {
		t.Fatal(err)
	}
	docs := mixedDocs(40, 5)
	type result struct {
		s   []twostage.Score
		err error
	}
	first := make(chan result, 1)
	go func() {
		s, err := e.Rerank(context.Background(), testQuery, docs)
		first <- result{s, err}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for e.Queued() < 40 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if _, err := e.Rerank(context.Background(), testQuery, docs[:20]); !errors.Is(err, twostage.ErrOverloaded) {
		t.Fatalf("over the queue bound: %v, want ErrOverloaded", err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	r := <-first
	if r.err != nil || len(r.s) != len(docs) {
		t.Fatalf("queued call after Close: %d scores, %v; want %d scores", len(r.s), r.err, len(docs))
	}
	if st := e.Stats(); st.Overloaded != 20 || st.Items != 40 {
		t.Fatalf("stats %+v: want 20 overloaded, 40 run", st)
	}
	if err := e.Close(); !errors.Is(err, twostage.ErrClosed) {
		t.Fatalf("second Close: %v, want ErrClosed", err)
	}
	if _, err := e.Rerank(context.Background(), testQuery, docs); !errors.Is(err, twostage.ErrClosed) {
		t.Fatalf("Rerank after Close: %v, want ErrClosed", err)
	}
}

// TestCloseDuringLoad closes the engine while callers hammer it: every
// call either gets full, correct-length results or ErrClosed, and every
// goroutine stops.
func TestCloseDuringLoad(t *testing.T) {
	leaktest.Check(t)
	dir := model(t, modeldir.FamilyZerank)
	e, err := Open(dir, &EngineOptions{ModelOptions: inference.ModelOptions{MaxBatchSize: 8}})
	if err != nil {
		t.Fatal(err)
	}
	closeUnderLoad(t, e, 30*time.Second)
}

// closeUnderLoad runs 8 callers reranking in a loop on e, closes e after
// its 10th batch (or after wait), and checks that every call returned
// full-length results or ErrClosed and that all 8 callers saw ErrClosed.
func closeUnderLoad(t *testing.T, e *Engine, wait time.Duration) {
	t.Helper()
	docs := mixedDocs(40, 6)
	var wg sync.WaitGroup
	var closed sync.Map
	errs := make(chan error, 8)
	for c := 0; c < 8; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				n := 1 + (c*7+i)%len(docs)
				got, err := e.Rerank(context.Background(), testQuery, docs[:n])
				switch {
				case errors.Is(err, twostage.ErrClosed):
					closed.Store(c, true)
					return
				case err != nil:
					errs <- err
					return
				case len(got) != n:
					errs <- fmt.Errorf("%d scores for %d docs", len(got), n)
					return
				}
			}
		}()
	}
	deadline := time.Now().Add(wait)
	for e.Stats().Batches < 10 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	n := 0
	closed.Range(func(any, any) bool { n++; return true })
	if n != 8 {
		t.Fatalf("%d of 8 callers saw ErrClosed", n)
	}
}

// TestSharedEngine: engines on the same model directory and backend
// options share one model (one batch queue, one set of counters) in a
// runtime, whatever their MaxLength; different backend options load
// another; batching options that differ from the loaded model's fail Open
// instead of being dropped; a runtime of its own shares nothing.
func TestSharedEngine(t *testing.T) {
	leaktest.Check(t)
	dir := model(t, modeldir.FamilyBertCrossEncoder)
	a, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A relative path to the same directory shares the model.
	wd, _ := os.Getwd()
	rel, err := filepath.Rel(wd, dir)
	if err != nil {
		rel = dir
	}
	if _, err := Open(rel, &EngineOptions{ModelOptions: inference.ModelOptions{MaxBatchSize: 3}}); !errors.Is(err, twostage.ErrInvalidInput) || !strings.Contains(err.Error(), "MaxBatchSize 32, not 3") {
		t.Fatalf("Open with other batching: %v; want ErrInvalidInput naming MaxBatchSize", err)
	}
	b, err := Open(rel, &EngineOptions{ModelOptions: inference.ModelOptions{MaxBatchSize: inference.DefaultMaxBatchSize}}) // the same batching shares
	if err != nil {
		t.Fatal(err)
	}
	c, err := Open(dir, &EngineOptions{MaxLength: 64}) // a front-end option shares the model too
	if err != nil {
		t.Fatal(err)
	}
	nospin, err := Open(dir, &EngineOptions{ModelOptions: inference.ModelOptions{SessionConfig: map[string]string{"session.intra_op.allow_spinning": "0"}}}) // session config does not
	if err != nil {
		t.Fatal(err)
	}
	rt, err := inference.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	own, err := Open(dir, &EngineOptions{Runtime: rt}) // nor does another runtime
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Rerank(context.Background(), testQuery, testDocs); err != nil {
		t.Fatal(err)
	}
	n := int64(len(testDocs))
	for _, tc := range []struct {
		name string
		e    *Engine
		want int64
	}{{"a", a, n}, {"b", b, n}, {"c", c, n}, {"nospin", nospin, 0}, {"own runtime", own, 0}} {
		if got := tc.e.Stats().Items; got != tc.want {
			t.Errorf("%s counts %d pairs after b's call, want %d", tc.name, got, tc.want)
		}
	}
	if err := errors.Join(nospin.Close(), rt.Close()); err != nil {
		t.Fatal(err)
	}
	if _, err := own.Rerank(context.Background(), testQuery, testDocs); !errors.Is(err, twostage.ErrClosed) {
		t.Fatalf("engine of a closed runtime: %v, want ErrClosed", err)
	}
	if err := own.Close(); err != nil {
		t.Fatalf("Close after the runtime's: %v", err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Rerank(context.Background(), testQuery, testDocs); !errors.Is(err, twostage.ErrClosed) {
		t.Fatalf("closed handle: %v", err)
	}
	if _, err := b.Rerank(context.Background(), testQuery, testDocs); err != nil {
		t.Fatalf("other handle after one Close: %v", err)
	}
	if err := errors.Join(b.Close(), c.Close()); err != nil {
		t.Fatal(err)
	}
	d, err := Open(dir, &EngineOptions{ModelOptions: inference.ModelOptions{MaxBatchSize: 3}}) // a fresh model takes new batching
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.Stats().Items != 0 {
		t.Fatal("Open after the last Close reused the stopped model")
	}
}

func TestOpenErrors(t *testing.T) {
	testassets.ONNXRuntime(t)
	leaktest.Check(t) // a failed Open leaves no model running
	zr := tinymodel.Model(t, modeldir.FamilyZerank)
	bert := tinymodel.Model(t, modeldir.FamilyBertCrossEncoder)

	// A zerank graph (input_ids, attention_mask) described as a BERT
	// cross-encoder, which must take token_type_ids too.
	missing := t.TempDir()
	for _, f := range []string{modeldir.ModelFile} {
		if err := os.Link(filepath.Join(zr, f), filepath.Join(missing, f)); err != nil {
			copyFile(t, filepath.Join(zr, f), filepath.Join(missing, f))
		}
	}
	copyFile(t, modeldir.TokenizerPath(bert), modeldir.TokenizerPath(missing))
	cfg, err := modeldir.Load(bert)
	if err != nil {
		t.Fatal(err)
	}
	if err := modeldir.Save(missing, cfg); err != nil {
		t.Fatal(err)
	}
	// The BERT graph (with token_type_ids) whose config says it has none.
	extra := t.TempDir()
	copyFile(t, modeldir.ModelPath(bert), modeldir.ModelPath(extra))
	copyFile(t, modeldir.TokenizerPath(bert), modeldir.TokenizerPath(extra))
	cfg2 := *cfg
	cfg2.HasTokenTypeIDs = false
	if err := modeldir.Save(extra, &cfg2); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name    string
		dir     string
		opts    *EngineOptions
		want    error
		message string
	}{
		{"no such directory", filepath.Join(t.TempDir(), "nope"), nil, twostage.ErrNotFound, "not a model directory"},
		{"model missing token_type_ids", missing, nil, inference.ErrModel, "lacks that input"},
		{"model with an undeclared input", extra, nil, inference.ErrModel, "token_type_ids"},
		{"embedding model", tinymodel.Model(t, modeldir.FamilyBertEmbedding), nil, twostage.ErrUnsupported, "not a cross-encoder"},
		{"cuda on the cpu library", zr, &EngineOptions{ModelOptions: inference.ModelOptions{Provider: inference.ProviderCUDA}}, twostage.ErrUnsupported, "cuda execution provider not available"},
		{"tensorrt on the cpu library", zr, &EngineOptions{ModelOptions: inference.ModelOptions{Provider: inference.ProviderTensorRT}}, twostage.ErrUnsupported, "tensorrt execution provider not available"},
		{"unknown provider", zr, &EngineOptions{ModelOptions: inference.ModelOptions{Provider: "tpu"}}, twostage.ErrInvalidInput, "unknown execution provider"},
		{"max length above the model's", bert, &EngineOptions{MaxLength: 100000}, twostage.ErrInvalidInput, "above the model's"},
		{"negative batch size", bert, &EngineOptions{ModelOptions: inference.ModelOptions{MaxBatchSize: -1}}, twostage.ErrInvalidInput, "MaxBatchSize"},
		{"provider options on cpu", bert, &EngineOptions{ModelOptions: inference.ModelOptions{ProviderOptions: map[string]string{"x": "y"}}}, twostage.ErrInvalidInput, "provider options"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.opts != nil && (tc.opts.Provider == inference.ProviderCUDA || tc.opts.Provider == inference.ProviderTensorRT) && providerLibraryPresent(tc.opts.Provider) {
				t.Skipf("the loaded onnx runtime library ships the %s provider (scripts/gpu-check.sh covers it)", tc.opts.Provider)
			}
			e, err := Open(tc.dir, tc.opts)
			if err == nil {
				e.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.message) {
				t.Fatalf("error %q; want one wrapping %v and saying %q", err, tc.want, tc.message)
			}
		})
	}
}

// providerLibraryPresent reports whether the ONNX Runtime library that
// tests load has provider p's shared library next to it (a GPU build).
func providerLibraryPresent(p string) bool {
	lib := os.Getenv("ONNXRUNTIME_LIB")
	if lib == "" {
		lib = filepath.Join(testassets.Deps(), "lib", "libonnxruntime.so")
	}
	_, err := os.Stat(filepath.Join(filepath.Dir(lib), "libonnxruntime_providers_"+p+".so"))
	return err == nil
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
