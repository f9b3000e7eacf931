package rerank

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"twostage"
	"twostage/convert"
	"twostage/inference"
	"twostage/internal/tinymodel"
	"twostage/modeldir"
)

// prefixQueries differ in length, from a few tokens to well over
// MinSharedPrefix.
var prefixQueries = []string{
	"cross-encoders?",
	testQuery,
	strings.Repeat("Which rerankers read the query and the document together, and why does that help retrieval quality? ", 6),
}

// prefixEngines opens engines on dir with the given modes, in one runtime
// of their own (the model and its tokenizer loaded once), batching up to
// 64 pairs of any fill and waiting long enough for concurrent calls to
// share batches. The engines share the model, and so its Stats.
func prefixEngines(t *testing.T, dir string, modes ...PrefixMode) []*Engine {
	t.Helper()
	rt, err := inference.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	var out []*Engine
	for _, mode := range modes {
		out = append(out, openEngine(t, dir, &EngineOptions{Runtime: rt, SharedPrefix: mode,
			ModelOptions: inference.ModelOptions{MaxBatchSize: 64, MaxWait: 200 * time.Millisecond, MinFill: -1}}))
	}
	return out
}

// rerankAll runs one call per query at once and returns their scores.
func rerankAll(t *testing.T, e *Engine, docs []string, opts twostage.RerankOptions) [][]twostage.Score {
	t.Helper()
	out := make([][]twostage.Score, len(prefixQueries))
	errs := make([]error, len(prefixQueries))
	var wg sync.WaitGroup
	for i, q := range prefixQueries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i], errs[i] = e.RerankWith(context.Background(), q, docs, opts)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSharedPrefixScores: with the shared prefix on, calls of different
// query lengths batched together score as with it off (each pair whole),
// within 1e-5 relative, and as the float64 reference (1e-4), on the fused
// and the plain graph of both decoder families. testDocs hold documents
// whose first characters merge with the template's last token (leading
// newlines and spaces), an empty one and duplicates.
func TestSharedPrefixScores(t *testing.T) {
	docs := append(append([]string(nil), testDocs...), testDocs[0], testDocs[2])
	for _, family := range []string{modeldir.FamilyZerank, modeldir.FamilyQwen3Reranker} {
		for _, graph := range []string{convert.GraphFused, convert.GraphPlain} {
			t.Run(family+" "+graph, func(t *testing.T) {
				dir := tinymodel.ModelSpec(t, tinymodel.Spec{Family: family, Seed: 1}, &convert.Options{Graph: graph})
				es := prefixEngines(t, dir, PrefixOn, PrefixOff)
				on, off := es[0], es[1]
				got := rerankAll(t, on, docs, twostage.RerankOptions{})
				st := on.Stats()
				if st.PrefixTokens == 0 || st.Batches >= int64(len(prefixQueries)) {
					t.Errorf("shared-prefix engine stats %+v: want prefixes run, and calls sharing batches", st)
				}
				want := rerankAll(t, off, docs, twostage.RerankOptions{})
				if after := off.Stats(); after.PrefixTokens != st.PrefixTokens {
					t.Errorf("engine with SharedPrefix off ran %d prefix tokens", after.PrefixTokens-st.PrefixTokens)
				}
				ref, tok := reference(t, family), testTokenizer(t, dir)
				for c, q := range prefixQueries {
					for i, doc := range docs {
						g, w := got[c][i].Raw, want[c][i].Raw
						if math.Abs(g-w) > 1e-5*math.Abs(w) {
							t.Errorf("query %d doc %d: shared prefix %.8g, whole %.8g", c, i, g, w)
						}
						if graph == convert.GraphFused || c == 0 || i >= 4 {
							continue // the reference is slow: the plain graph's first documents (an empty one, leading newlines) do
						}
						ids, _ := wholeIDs(t, tok, family, q, doc)
						r, err := ref.Score(ids, nil)
						if err != nil {
							t.Fatal(err)
						}
						if !near(g, r, 1e-4) {
							t.Errorf("query %d doc %d: shared prefix %.7f, reference %.7f", c, i, g, r)
						}
					}
				}
			})
		}
	}
}

// TestSharedPrefixBoundary: the shared prefix is the longest common token
// prefix of the pairs as tokenized whole, so a document whose first
// characters merge with the template's "user\n" shortens it, and a call
// whose documents are all alike still leaves each pair its last token.
func TestSharedPrefixBoundary(t *testing.T) {
	dir := model(t, modeldir.FamilyZerank)
	es := prefixEngines(t, dir, PrefixOn, PrefixAuto)
	e, auto := es[0], es[1]
	q := e.prompt.query(testQuery)
	plain := e.share(e.pairs(q, []string{"alpha", "beta"}))
	head := len(e.prompt.pair(q, "").IDs) - len(e.prompt.post) // the template up to the document
	if plain[0].Prefix != head {
		t.Errorf("prefix of two plain documents is %d tokens, want the %d up to the document", plain[0].Prefix, head)
	}
	merged := e.share(e.pairs(q, []string{"alpha", "\n\nLeading newlines"}))
	if merged[0].Prefix >= head || merged[0].Prefix != merged[1].Prefix {
		t.Errorf("with a document that starts with newlines the prefix is %d and %d tokens, want below %d", merged[0].Prefix, merged[1].Prefix, head)
	}
	same := e.share(e.pairs(q, []string{"same", "same"}))
	if n := len(same[0].IDs); same[0].Prefix != n-1 {
		t.Errorf("identical pairs of %d tokens share %d, want %d", n, same[0].Prefix, n-1)
	}
	if one := e.share(e.pairs(q, []string{"alone"})); one[0].Prefix != 0 {
		t.Errorf("a single pair has a prefix of %d tokens", one[0].Prefix)
	}
	if short := auto.share(auto.pairs(q, []string{"alpha", "beta"})); short[0].Prefix != 0 {
		t.Errorf("auto mode shares a %d-token prefix, below MinSharedPrefix %d", short[0].Prefix, MinSharedPrefix)
	}
	long := auto.prompt.query(prefixQueries[2])
	if got := auto.share(auto.pairs(long, []string{"alpha", "beta"})); got[0].Prefix < MinSharedPrefix {
		t.Errorf("auto mode shares %d tokens of a long query", got[0].Prefix)
	}
}

// TestSharedPrefixChunksAndInstructions: chunked long documents and
// instructions (zerank's format and Qwen3-Reranker's) score alike with the
// shared prefix on and off, and pick the same chunks.
func TestSharedPrefixChunksAndInstructions(t *testing.T) {
	long := strings.Repeat("Cross-encoders read the query and the document together. Bananas are yellow. ", 12)
	docs := []string{long, "short one", "\n" + long}
	opts := twostage.RerankOptions{LongDocuments: twostage.Chunk, ChunkTokens: 40, ChunkOverlap: 8, Instruction: "Prefer documents about fruit."}
	for _, family := range []string{modeldir.FamilyZerank, modeldir.FamilyQwen3Reranker} {
		t.Run(family, func(t *testing.T) {
			dir := model(t, family)
			es := prefixEngines(t, dir, PrefixOn, PrefixOff)
			got := rerankAll(t, es[0], docs, opts)
			if es[0].Stats().PrefixTokens == 0 {
				t.Error("no prefix was run")
			}
			want := rerankAll(t, es[1], docs, opts)
			for c := range got {
				for i := range docs {
					g, w := got[c][i], want[c][i]
					if math.Abs(g.Raw-w.Raw) > 1e-5*math.Abs(w.Raw) || (g.Chunk == nil) != (w.Chunk == nil) || (g.Chunk != nil && *g.Chunk != *w.Chunk) {
						t.Errorf("query %d doc %d: shared prefix %v chunk %v, whole %v chunk %v", c, i, g.Raw, g.Chunk, w.Raw, w.Chunk)
					}
				}
			}
		})
	}
}

func TestSharedPrefixOption(t *testing.T) {
	if _, err := Open(model(t, modeldir.FamilyZerank), &EngineOptions{SharedPrefix: "sometimes"}); !errors.Is(err, twostage.ErrInvalidInput) {
		t.Errorf("bad SharedPrefix: %v, want ErrInvalidInput", err)
	}
}
