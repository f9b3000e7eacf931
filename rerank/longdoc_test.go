package rerank

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"twostage"
	"twostage/modeldir"
	"twostage/tokenizer"
)

// longDoc is a document of several windows at the sizes below, with
// multi-byte characters so that character and byte offsets differ.
var longDoc = strings.Repeat("Rerankers read the query and the document together. ", 6) +
	"Über Käse und Brötchen: 日本語の文書も長い。 " +
	strings.Repeat("Chunked scoring keeps the best window of a long page. ", 8)

// TestChunkedScoreIsBestChunk checks that a chunked document's score is the
// best of its windows each scored alone as a document, that the reported
// offsets name that window, and that the windows respect the size, overlap
// and count bounds.
func TestChunkedScoreIsBestChunk(t *testing.T) {
	const n, overlap, maxChunks = 24, 6, 5
	for _, family := range crossFamilies {
		t.Run(family, func(t *testing.T) {
			dir := model(t, family)
			tok := testTokenizer(t, dir)
			e := openEngine(t, dir, &EngineOptions{MaxLength: 128})
			ctx := context.Background()
			docs := []string{"short one", longDoc, "x"}
			opts := twostage.RerankOptions{LongDocuments: twostage.Chunk, ChunkTokens: n, ChunkOverlap: overlap, MaxChunks: maxChunks}
			got, err := e.RerankWith(ctx, testQuery, docs, opts)
			if err != nil {
				t.Fatal(err)
			}
			for i, doc := range docs {
				ws := windows(tok, doc, n, overlap, maxChunks)
				if len(ws) == 0 || len(ws) > maxChunks {
					t.Fatalf("doc %d: %d windows, want 1 to %d", i, len(ws), maxChunks)
				}
				if i == 1 && len(ws) != maxChunks {
					t.Errorf("long doc: %d windows, want the bound %d", len(ws), maxChunks)
				}
				if ws[0].lo != 0 || (len(ws) < maxChunks && ws[len(ws)-1].hi != len(doc)) {
					t.Errorf("doc %d: windows %v do not start at 0 and, under the bound, end at %d", i, ws, len(doc))
				}
				texts := make([]string, len(ws))
				for k, w := range ws {
					texts[k] = doc[w.lo:w.hi]
					if c := len(mustEncode(t, tok, texts[k])); c > n {
						t.Errorf("doc %d window %d: %d tokens, above %d", i, k, c, n)
					}
					if k > 0 {
						prev := ws[k-1]
						if w.lo <= prev.lo || w.lo >= prev.hi {
							t.Errorf("doc %d window %d starts at %d, want inside the previous window (%d, %d)", i, k, w.lo, prev.lo, prev.hi)
						} else if c := len(mustEncode(t, tok, doc[w.lo:prev.hi])); c < overlap || c > overlap+2 {
							t.Errorf("doc %d window %d shares %d tokens with the previous, want about %d", i, k, c, overlap)
						}
					}
				}
				alone, err := e.Rerank(ctx, testQuery, texts)
				if err != nil {
					t.Fatal(err)
				}
				best := 0
				for k := range alone {
					if alone[k].Raw > alone[best].Raw {
						best = k
					}
				}
				if !near(got[i].Raw, alone[best].Raw, 1e-5) || !near(got[i].Score, alone[best].Score, 1e-5) {
					t.Errorf("doc %d: chunked raw %v score %v, want the best window's %v %v", i, got[i].Raw, got[i].Score, alone[best].Raw, alone[best].Score)
				}
				c := got[i].Chunk
				if c == nil {
					t.Fatalf("doc %d: no chunk offsets", i)
				}
				runes := []rune(doc)
				if c.Start < 0 || c.End > len(runes) || c.Start > c.End {
					t.Fatalf("doc %d: chunk %+v outside the %d characters", i, *c, len(runes))
				}
				if s := string(runes[c.Start:c.End]); s != texts[best] {
					t.Errorf("doc %d: chunk %+v is %q, want the best window %q", i, *c, s, texts[best])
				}
			}
			if c := got[0].Chunk; *c != (twostage.Span{Start: 0, End: utf8.RuneCountInString(docs[0])}) {
				t.Errorf("short doc: chunk %+v, want the whole text", *c)
			}
			plain, err := e.Rerank(ctx, testQuery, docs[:1])
			if err != nil {
				t.Fatal(err)
			}
			if !near(got[0].Raw, plain[0].Raw, 1e-5) {
				t.Errorf("short doc: chunked raw %v, truncated %v; one window should score as the whole", got[0].Raw, plain[0].Raw)
			}
		})
	}
}

// TestChunkDefaults checks the engine-level defaults and the default window
// (what fits beside the query): a document that fits is one window, and
// truncation gives no offsets.
func TestChunkDefaults(t *testing.T) {
	dir := model(t, modeldir.FamilyZerank)
	ctx := context.Background()
	e := openEngine(t, dir, &EngineOptions{MaxLength: 64, LongDocuments: twostage.Chunk, MaxChunks: 3})
	got, err := e.Rerank(ctx, testQuery, []string{longDoc, "fits"})
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Chunk == nil || got[1].Chunk == nil || got[1].Chunk.End != 4 {
		t.Fatalf("engine default chunk: chunks %v, %v; want both set, the second [0, 4)", got[0].Chunk, got[1].Chunk)
	}
	budget := 64 - len(e.prompt.pair(e.prompt.query(testQuery), "").IDs)
	if ws := windows(e.prompt.tok, longDoc, budget, 0, 3); len(ws) != 3 {
		t.Fatalf("%d default windows of %d tokens, want 3", len(ws), budget)
	} else if s := longDoc[ws[0].lo:ws[0].hi]; utf8.RuneCountInString(s) < got[0].Chunk.End-got[0].Chunk.Start-1 && got[0].Chunk.Start == 0 {
		t.Errorf("first window %q shorter than the reported chunk %+v", s, *got[0].Chunk)
	}
	tr, err := e.RerankWith(ctx, testQuery, []string{longDoc}, twostage.RerankOptions{LongDocuments: twostage.Truncate})
	if err != nil {
		t.Fatal(err)
	}
	if tr[0].Chunk != nil {
		t.Errorf("truncate per call over a chunking engine: chunk %+v, want none", *tr[0].Chunk)
	}
	for _, bad := range []twostage.RerankOptions{
		{LongDocuments: "split"},
		{ChunkTokens: 8, ChunkOverlap: 8},
		{MaxChunks: -1},
		{MaxTokensPerDoc: -2},
	} {
		if _, err := e.RerankWith(ctx, testQuery, []string{"a"}, bad); !errors.Is(err, twostage.ErrInvalidInput) {
			t.Errorf("options %+v: err %v, want ErrInvalidInput", bad, err)
		}
	}
}

const testInstruction = "Rank passages about rerankers first"

// TestInstructionTemplates pins the instruction formats byte for byte and
// checks that the engine's piecewise tokens equal the whole string's.
func TestInstructionTemplates(t *testing.T) {
	q, d := "what is x?", "x is y."
	if got, want := ZerankInstructionTemplate("", q, d), ZerankTemplate(q, d); got != want {
		t.Errorf("empty instruction: %q, want the plain template %q", got, want)
	}
	want := "<|im_start|>system\n<query>what is x?</query>\n<instruction>" + testInstruction + "</instruction><|im_end|>\n<|im_start|>user\nx is y.<|im_end|>\n<|im_start|>assistant\n"
	if got := ZerankInstructionTemplate(testInstruction, q, d); got != want {
		t.Errorf("zerank instruction template\n%q\nwant\n%q", got, want)
	}
	for _, family := range []string{modeldir.FamilyZerank, modeldir.FamilyQwen3Reranker} {
		t.Run(family, func(t *testing.T) {
			p, tok := uncutPrompter(t, family)
			for _, instr := range []string{"", testInstruction, "\nleading newline instruction"} {
				qq := p.queryWith(testQuery, instr)
				for di, doc := range testDocs {
					text := ZerankInstructionTemplate(instr, testQuery, doc)
					if family == modeldir.FamilyQwen3Reranker {
						text = Qwen3RerankerTemplate(instr, testQuery, doc)
					}
					if got, want := p.pair(qq, doc).IDs, concat(mustEncode(t, tok, text)); !equalIDs(got, want) {
						t.Errorf("instruction %q doc %d: ids %v, want the whole string's %v", instr, di, got, want)
					}
				}
			}
		})
	}
}

// TestInstructionPerCall checks that a call's instruction scores as the
// engine option does, that an empty one is the plain prompt, and that the
// scores match the reference forward pass on the whole string's tokens.
func TestInstructionPerCall(t *testing.T) {
	ctx := context.Background()
	for _, family := range []string{modeldir.FamilyZerank, modeldir.FamilyQwen3Reranker} {
		t.Run(family, func(t *testing.T) {
			dir := model(t, family)
			ref := reference(t, family)
			tok := testTokenizer(t, dir)
			plainE := openEngine(t, dir, nil)
			instrE := openEngine(t, dir, &EngineOptions{Instruction: testInstruction})
			docs := testDocs[:4]
			plain, err := plainE.Rerank(ctx, testQuery, docs)
			if err != nil {
				t.Fatal(err)
			}
			perCall, err := plainE.RerankWith(ctx, testQuery, docs, twostage.RerankOptions{Instruction: testInstruction})
			if err != nil {
				t.Fatal(err)
			}
			byOption, err := instrE.Rerank(ctx, testQuery, docs)
			if err != nil {
				t.Fatal(err)
			}
			changed := false
			for i, doc := range docs {
				text := ZerankInstructionTemplate(testInstruction, testQuery, doc)
				if family == modeldir.FamilyQwen3Reranker {
					text = Qwen3RerankerTemplate(testInstruction, testQuery, doc)
				}
				want, err := ref.Score(concat(mustEncode(t, tok, text)), nil)
				if err != nil {
					t.Fatal(err)
				}
				if !near(perCall[i].Raw, want, 1e-4) || !near(byOption[i].Raw, perCall[i].Raw, 1e-5) {
					t.Errorf("doc %d: per call %v, engine option %v, reference %v", i, perCall[i].Raw, byOption[i].Raw, want)
				}
				changed = changed || !near(perCall[i].Raw, plain[i].Raw, 1e-6)
			}
			if !changed {
				t.Error("the instruction changed no score")
			}
		})
	}
	long := strings.Repeat("a long instruction ", 40)
	if _, err := Open(model(t, modeldir.FamilyZerank), &EngineOptions{MaxLength: 64, Instruction: long}); !errors.Is(err, twostage.ErrInvalidInput) {
		t.Errorf("open zerank with an instruction above the max length: %v, want ErrInvalidInput", err)
	}
	short := openEngine(t, model(t, modeldir.FamilyZerank), &EngineOptions{MaxLength: 64})
	if _, err := short.RerankWith(ctx, testQuery, []string{"a"}, twostage.RerankOptions{Instruction: long}); !errors.Is(err, twostage.ErrInvalidInput) {
		t.Errorf("a call's instruction above the max length: %v, want ErrInvalidInput", err)
	}
	bert := openEngine(t, model(t, modeldir.FamilyBertCrossEncoder), nil)
	if _, err := bert.RerankWith(ctx, testQuery, []string{"a"}, twostage.RerankOptions{Instruction: "x"}); !errors.Is(err, twostage.ErrUnsupported) {
		t.Errorf("bert with an instruction: %v, want ErrUnsupported", err)
	}
	if _, err := Open(model(t, modeldir.FamilyBertCrossEncoder), &EngineOptions{Instruction: "x"}); !errors.Is(err, twostage.ErrUnsupported) {
		t.Errorf("open bert with an instruction: %v, want ErrUnsupported", err)
	}
}

// TestCapsKeepTemplate checks, on token ids, that the template survives
// whatever the caps and the max length: long queries, long documents,
// instructions, per-document and per-query caps.
func TestCapsKeepTemplate(t *testing.T) {
	const maxLen = 96 // qwen3-reranker's template with the default instruction is 73 tokens
	longQ := strings.Repeat("a very long query about rerankers ", 30)
	longD := strings.Repeat("The document goes on and on about rerankers. ", 40)
	ctx := context.Background()
	for _, family := range []string{modeldir.FamilyZerank, modeldir.FamilyQwen3Reranker} {
		t.Run(family, func(t *testing.T) {
			dir := model(t, family)
			tok := testTokenizer(t, dir)
			e := openEngine(t, dir, &EngineOptions{MaxLength: maxLen})
			for _, instr := range []string{"", "short task"} {
				for _, c := range []struct{ q, d string }{{testQuery, longD}, {longQ, "short doc"}, {longQ, longD}} {
					name := fmt.Sprintf("instr %q query %d doc %d", instr, len(c.q), len(c.d))
					ids := e.prompt.pair(e.prompt.queryWith(c.q, instr), c.d).IDs
					if len(ids) > maxLen {
						t.Errorf("%s: %d tokens, above %d", name, len(ids), maxLen)
					}
					// The template's pieces, in order, as token ids.
					var pieces []string
					switch family {
					case modeldir.FamilyZerank:
						pieces = []string{zerankPre + zerankQ, zerankMid + zerankDoc, zerankPost}
						if instr != "" {
							pieces = []string{zerankPre + zerankQ + "<query>", "</query>\n<instruction>" + instr + "</instruction>" + zerankMid + zerankDoc, zerankPost}
						}
					default:
						in := instr
						if in == "" {
							in = DefaultInstruction
						}
						pieces = []string{qwen3Prefix + "<Instruct>: " + in + "\n<Query>:", "\n<Document>:", qwen3Suffix}
					}
					if !containsInOrder(ids, tok, pieces, t) {
						t.Errorf("%s: ids %v lack a template piece of %q", name, ids, pieces)
					}
					if pre := concat(e.prompt.pre); !equalIDs(ids[:len(pre)], pre) {
						t.Errorf("%s: starts %v, want the template's start %v", name, ids[:len(pre)], pre)
					}
					if post := concat(mustEncode(t, tok, pieces[len(pieces)-1])); !equalIDs(ids[len(ids)-len(post):], post) {
						t.Errorf("%s: ends %v, want the template's end %v", name, ids[len(ids)-len(post):], post)
					}
				}
			}
			// The caps cut the texts before the prompt, as CutTokens does.
			opts := twostage.RerankOptions{MaxTokensPerDoc: 5, MaxTokensPerQuery: 4}
			got, err := e.RerankWith(ctx, longQ, []string{longD, "tiny"}, opts)
			if err != nil {
				t.Fatal(err)
			}
			cq, _, err := e.CutTokens([]string{longQ}, 4)
			if err != nil {
				t.Fatal(err)
			}
			cd, _, err := e.CutTokens([]string{longD, "tiny"}, 5)
			if err != nil {
				t.Fatal(err)
			}
			want, err := e.Rerank(ctx, cq[0], cd)
			if err != nil {
				t.Fatal(err)
			}
			for i := range want {
				if !near(got[i].Raw, want[i].Raw, 1e-5) {
					t.Errorf("capped doc %d: raw %v, want %v (texts cut by CutTokens)", i, got[i].Raw, want[i].Raw)
				}
			}
			ids := e.prompt.pair(e.prompt.query(cq[0]), cd[0]).IDs
			if n := len(ids) - len(e.prompt.pair(e.prompt.query(""), "").IDs); n > 4+5+1 {
				t.Errorf("capped pair has %d text tokens, want at most the caps' 9 (+1 for a merge)", n)
			}
		})
	}
}

// containsInOrder reports whether ids hold the template's special tokens
// (three <|im_start|>, two <|im_end|>, by id) and decode to a text holding
// each piece, in order.
func containsInOrder(ids []int64, tok *tokenizer.Tokenizer, pieces []string, t *testing.T) bool {
	t.Helper()
	start, _ := tok.TokenToID("<|im_start|>")
	end, _ := tok.TokenToID("<|im_end|>")
	var starts, ends int
	plain := make([]int, len(ids))
	for i, id := range ids {
		plain[i] = int(id)
		switch int(id) {
		case start:
			starts++
		case end:
			ends++
		}
	}
	if starts != 3 || ends != 2 {
		t.Logf("%d <|im_start|> and %d <|im_end|> ids, want 3 and 2", starts, ends)
		return false
	}
	text, err := tok.Decode(plain, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pieces {
		k := strings.Index(text, p)
		if k < 0 {
			t.Logf("%q lacks %q", text, p)
			return false
		}
		text = text[k+len(p):]
	}
	return true
}
