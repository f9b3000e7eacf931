package embed

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"twostage"
	"twostage/convert/onnxgraph"
	"twostage/inference"
	"twostage/internal/leaktest"
	"twostage/internal/refmodel"
	"twostage/internal/testassets"
	"twostage/internal/tinymodel"
	"twostage/modeldir"
	"twostage/tokenizer"
)

var onnxTexts = []string{
	"hi",
	"Machine learning is a field of artificial intelligence that learns from data.",
	"Deep learning",
	"The quick brown fox jumps over the lazy dog, then runs far away into the dark green forest where nobody can find it again.",
	"",
	"vector search with approximate nearest neighbours",
	"Ünïcödé text, emoji 🙂 and punctuation!?",
}

// tinyEmbedder converts (once per process) the tiny BERT bi-encoder with
// seed 1 and opens it with opts in a runtime of its own (so that its
// batching and counters are its own).
func tinyEmbedder(t *testing.T, opts *ONNXOptions) (*ONNX, string) {
	t.Helper()
	testassets.ONNXRuntime(t)
	dir := tinymodel.Model(t, modeldir.FamilyBertEmbedding)
	rt, err := inference.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	leaktest.Close(t, rt) // after e's Close, registered below
	o := ONNXOptions{}
	if opts != nil {
		o = *opts
	}
	o.Runtime = rt
	e, err := NewONNX(dir, &o)
	if err != nil {
		t.Fatal(err)
	}
	leaktest.Close(t, e)
	return e, dir
}

func maxDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	d := 0.0
	for i := range a {
		d = max(d, math.Abs(float64(a[i])-float64(b[i])))
	}
	return d
}

func norm(v []float32) float64 {
	s := 0.0
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}

// TestONNXBatchInvariance: each text embeds identically (1e-5) alone, in
// one big batch, in other orders, in small token-budget batches and from
// concurrent callers whose texts share dynamic batches.
func TestONNXBatchInvariance(t *testing.T) {
	// MinFill -1: length grouping takes any fill, so batches mix lengths.
	e, _ := tinyEmbedder(t, &ONNXOptions{ModelOptions: inference.ModelOptions{MinFill: -1}})
	ctx := context.Background()
	if e.Dim() != 32 || e.Pooling() != modeldir.PoolingMean || !e.Normalized() {
		t.Fatalf("dim %d pooling %q normalized %v, want 32 mean true", e.Dim(), e.Pooling(), e.Normalized())
	}
	alone := make([][]float32, len(onnxTexts))
	for i, s := range onnxTexts {
		v, err := e.EmbedDocuments(ctx, []string{s})
		if err != nil {
			t.Fatal(err)
		}
		alone[i] = v[0]
	}
	check := func(name string, got [][]float32, idx []int) {
		t.Helper()
		for k, i := range idx {
			if d := maxDiff(got[k], alone[i]); d > 1e-5 {
				t.Errorf("%s: text %d differs from its embedding alone by %g", name, i, d)
			}
		}
	}
	all := make([]int, len(onnxTexts))
	for i := range all {
		all[i] = i
	}
	got, err := e.EmbedDocuments(ctx, onnxTexts)
	if err != nil {
		t.Fatal(err)
	}
	check("one batch", got, all)
	rev := make([]int, len(all))
	revTexts := make([]string, len(all))
	for k := range rev {
		rev[k] = len(all) - 1 - k
		revTexts[k] = onnxTexts[rev[k]]
	}
	got, _ = e.EmbedDocuments(ctx, revTexts)
	check("reversed", got, rev)
	// Repeats: the same text several times in one batch.
	rep := []int{3, 0, 3, 1, 0}
	var repTexts []string
	for _, i := range rep {
		repTexts = append(repTexts, onnxTexts[i])
	}
	got, _ = e.EmbedDocuments(ctx, repTexts)
	check("repeats", got, rep)
	if st := e.Stats(); st.PaddedTokens <= st.RealTokens {
		t.Fatalf("stats %+v: no batch held padding, the test does not exercise padding", st)
	}

	small, _ := tinyEmbedder(t, &ONNXOptions{ModelOptions: inference.ModelOptions{MaxBatchSize: 2, MaxBatchTokens: 40}})
	got, err = small.EmbedDocuments(ctx, onnxTexts)
	if err != nil {
		t.Fatal(err)
	}
	check("small batches", got, all)
	if st := small.Stats(); st.Batches < 4 {
		t.Errorf("small batches: %d batches for %d texts with batch cap 2", st.Batches, len(onnxTexts))
	}

	// Concurrent callers share batches.
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < 4; k++ {
				i := (g + k) % len(onnxTexts)
				v, err := e.EmbedQuery(ctx, onnxTexts[i])
				if err != nil {
					errs <- err
					return
				}
				if d := maxDiff(v, alone[i]); d > 1e-5 {
					errs <- fmt.Errorf("concurrent: text %d differs by %g", i, d)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestONNXPoolingReference checks the pooled vectors against the
// converter's independent float64 forward pass: mean over the real tokens
// only (the texts run padded in one batch), CLS, and last token, with and
// without normalization.
func TestONNXPoolingReference(t *testing.T) {
	testassets.ONNXRuntime(t)
	ckpt := tinymodel.Checkpoint(t, tinymodel.Spec{Family: modeldir.FamilyBertEmbedding, Seed: 1})
	ref, err := refmodel.Load(ckpt, modeldir.FamilyBertEmbedding)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.FromFile(filepath.Join(ckpt, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	texts := []string{"short", onnxTexts[3], "a mid length sentence about search"}
	hidden := make([][][]float64, len(texts))
	for i, s := range texts {
		enc, _ := tok.Encode(s, true)
		ids := make([]int64, enc.Len())
		for j, id := range enc.IDs {
			ids[j] = int64(id)
		}
		if hidden[i], err = ref.HiddenStates(ids, make([]int64, len(ids))); err != nil {
			t.Fatal(err)
		}
	}
	no := false
	ctx := context.Background()
	for _, tc := range []struct {
		pooling   string
		normalize bool
	}{
		{modeldir.PoolingMean, true}, {modeldir.PoolingMean, false},
		{modeldir.PoolingCLS, false}, {modeldir.PoolingLast, false}, {modeldir.PoolingCLS, true},
	} {
		t.Run(fmt.Sprintf("%s/normalize=%v", tc.pooling, tc.normalize), func(t *testing.T) {
			opts := &ONNXOptions{Pooling: tc.pooling}
			if !tc.normalize {
				opts.Normalize = &no
			}
			e, _ := tinyEmbedder(t, opts)
			got, err := e.EmbedDocuments(ctx, texts)
			if err != nil {
				t.Fatal(err)
			}
			for i, hs := range hidden {
				want := make([]float64, len(hs[0]))
				switch tc.pooling {
				case modeldir.PoolingMean:
					for _, h := range hs {
						for k, x := range h {
							want[k] += x / float64(len(hs))
						}
					}
				case modeldir.PoolingCLS:
					copy(want, hs[0])
				case modeldir.PoolingLast:
					copy(want, hs[len(hs)-1])
				}
				if tc.normalize {
					n := 0.0
					for _, x := range want {
						n += x * x
					}
					for k := range want {
						want[k] /= math.Sqrt(n)
					}
				}
				for k := range want {
					if d := math.Abs(float64(got[i][k]) - want[k]); d > 1e-4 {
						t.Fatalf("text %d (%d tokens) dim %d: got %v, reference %v (diff %g)", i, len(hs), k, got[i][k], want[k], d)
					}
				}
				n := norm(got[i])
				if tc.normalize && math.Abs(n-1) > 1e-5 {
					t.Errorf("text %d: norm %v, want 1", i, n)
				}
				if !tc.normalize && math.Abs(n-1) < 1e-3 {
					t.Errorf("text %d: unnormalized vector has norm %v", i, n)
				}
			}
		})
	}
}

// TestONNXTruncationAndPrefixes: texts beyond MaxLength embed as their
// first MaxLength tokens (special tokens included); prefixes go in front of
// queries and documents.
func TestONNXTruncationAndPrefixes(t *testing.T) {
	ctx := context.Background()
	plain, dir := tinyEmbedder(t, nil)
	short, _ := tinyEmbedder(t, &ONNXOptions{MaxLength: 8})
	if short.MaxLength() != 8 || plain.MaxLength() != 512 {
		t.Fatalf("max lengths %d, %d, want 8 and 512", short.MaxLength(), plain.MaxLength())
	}
	long := "one two three four five six seven eight nine ten eleven twelve"
	got, err := short.EmbedQuery(ctx, long)
	if err != nil {
		t.Fatal(err)
	}
	// [CLS] + 6 word tokens + [SEP] == "one two three four five six".
	want, _ := plain.EmbedQuery(ctx, "one two three four five six")
	if d := maxDiff(got, want); d > 1e-5 {
		t.Errorf("truncated text differs from its first 6 words by %g", d)
	}
	other, _ := plain.EmbedQuery(ctx, long)
	if d := maxDiff(other, want); d < 1e-3 {
		t.Errorf("untruncated text equals the truncated one (diff %g): truncation not exercised", d)
	}

	e5, err := NewONNX(dir, &ONNXOptions{QueryPrefix: "query: ", PassagePrefix: "passage: "})
	if err != nil {
		t.Fatal(err)
	}
	defer e5.Close()
	q, _ := e5.EmbedQuery(ctx, "what is search")
	d, _ := e5.EmbedDocuments(ctx, []string{"search finds documents"})
	wq, _ := plain.EmbedQuery(ctx, "query: what is search")
	wd, _ := plain.EmbedDocuments(ctx, []string{"passage: search finds documents"})
	if x := maxDiff(q, wq); x > 1e-5 {
		t.Errorf("query prefix: diff %g", x)
	}
	if x := maxDiff(d[0], wd[0]); x > 1e-5 {
		t.Errorf("passage prefix: diff %g", x)
	}
	np, _ := plain.EmbedQuery(ctx, "what is search")
	if x := maxDiff(q, np); x < 1e-3 {
		t.Errorf("prefix changed nothing (diff %g)", x)
	}
}

func TestONNXErrorsAndClose(t *testing.T) {
	testassets.ONNXRuntime(t)
	ctx := context.Background()
	dir := tinymodel.Model(t, modeldir.FamilyBertEmbedding)
	cross := tinymodel.Model(t, modeldir.FamilyBertCrossEncoder)
	empty := t.TempDir()
	for _, tc := range []struct {
		name string
		dir  string
		opts *ONNXOptions
		want error
	}{
		{"missing dir", filepath.Join(empty, "none"), nil, twostage.ErrNotFound},
		{"no model files", empty, nil, twostage.ErrNotFound},
		{"cross-encoder", cross, nil, twostage.ErrUnsupported},
		{"bad pooling", dir, &ONNXOptions{Pooling: "max"}, twostage.ErrInvalidInput},
		{"negative batch", dir, &ONNXOptions{ModelOptions: inference.ModelOptions{MaxBatchSize: -1}}, twostage.ErrInvalidInput},
		{"max length below specials", dir, &ONNXOptions{MaxLength: 2}, twostage.ErrInvalidInput},
		{"gpu provider on cpu library", dir, &ONNXOptions{ModelOptions: inference.ModelOptions{Provider: "cuda"}}, twostage.ErrUnsupported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := NewONNX(tc.dir, tc.opts)
			if err == nil {
				e.Close()
				t.Fatal("NewONNX succeeded")
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	e, err := NewONNX(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.EmbedDocuments(ctx, []string{"ok", "bad \xff"}); !errors.Is(err, twostage.ErrInvalidInput) {
		t.Errorf("invalid UTF-8: %v, want ErrInvalidInput", err)
	}
	if vs, err := e.EmbedDocuments(ctx, nil); err != nil || len(vs) != 0 {
		t.Errorf("no texts: %v, %v", vs, err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := e.EmbedDocuments(cctx, []string{"x"}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
	checkClose(t, e)
}

// TestONNXPublishedLayout: a Hugging Face style export (onnx/model.onnx,
// tokenizer.json, sentence-transformers pooling and modules files, no
// twostage.json) takes its pooling and normalization from those files.
func TestONNXPublishedLayout(t *testing.T) {
	ctx := context.Background()
	_, conv := tinyEmbedder(t, nil)
	pub := t.TempDir()
	os.MkdirAll(filepath.Join(pub, "onnx"), 0o755)
	os.MkdirAll(filepath.Join(pub, "1_Pooling"), 0o755)
	link := func(src, dst string) {
		if err := os.Symlink(src, dst); err != nil {
			t.Fatal(err)
		}
	}
	link(modeldir.ModelPath(conv), filepath.Join(pub, "onnx", "model.onnx"))
	link(modeldir.TokenizerPath(conv), filepath.Join(pub, "tokenizer.json"))
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(pub, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("1_Pooling/config.json", `{"word_embedding_dimension": 32, "pooling_mode_cls_token": true, "pooling_mode_mean_tokens": false}`)
	write("modules.json", `[{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},{"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"}]`)
	write("sentence_bert_config.json", `{"max_seq_length": 16, "do_lower_case": false}`)
	e, err := NewONNX(pub, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if e.Pooling() != modeldir.PoolingCLS || e.Normalized() || e.MaxLength() != 16 || e.Dim() != 32 {
		t.Fatalf("pooling %q normalized %v max length %d dim %d, want cls false 16 32", e.Pooling(), e.Normalized(), e.MaxLength(), e.Dim())
	}
	no := false
	ref, _ := tinyEmbedder(t, &ONNXOptions{Pooling: modeldir.PoolingCLS, Normalize: &no, MaxLength: 16})
	got, err := e.EmbedDocuments(ctx, onnxTexts)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := ref.EmbedDocuments(ctx, onnxTexts)
	for i := range got {
		if d := maxDiff(got[i], want[i]); d > 1e-6 {
			t.Errorf("text %d: diff %g", i, d)
		}
	}
	// With a Normalize module, vectors have norm 1.
	write("modules.json", `[{"type":"sentence_transformers.models.Transformer"},{"type":"sentence_transformers.models.Pooling"},{"type":"sentence_transformers.models.Normalize"}]`)
	n, err := NewONNX(pub, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	v, _ := n.EmbedQuery(ctx, "normalized")
	if !n.Normalized() || math.Abs(norm(v)-1) > 1e-5 {
		t.Errorf("normalized %v, norm %v", n.Normalized(), norm(v))
	}
}

// pooledModel writes a published-layout model whose output is already
// pooled: sentence_embedding [batch, 4] = the sum of table rows of the real
// tokens (table row i = (i mod 7, i mod 5 - 2, 1, -(i mod 3))).
func pooledModel(t *testing.T, tokJSON string) (string, func(ids []int) []float64) {
	t.Helper()
	dir := t.TempDir()
	const vocab, h = 30522, 4
	row := func(i int) []float64 { return []float64{float64(i % 7), float64(i%5 - 2), 1, -float64(i % 3)} }
	table := make([]byte, vocab*h*4)
	for i := 0; i < vocab; i++ {
		for k, x := range row(i) {
			binary.LittleEndian.PutUint32(table[(i*h+k)*4:], math.Float32bits(float32(x)))
		}
	}
	g, err := onnxgraph.New("pooled", filepath.Join(dir, "spill"))
	if err != nil {
		t.Fatal(err)
	}
	ids := g.Input("input_ids", onnxgraph.Int64, "batch", "seq")
	mask := g.Input("attention_mask", onnxgraph.Int64, "batch", "seq")
	w, err := g.Weight("table", onnxgraph.Float, []int64{vocab, h}, table)
	if err != nil {
		t.Fatal(err)
	}
	emb := g.Op("Gather", []string{w, ids})                                                                                                  // [B,S,H]
	m := g.Op("Unsqueeze", []string{g.Op("Cast", []string{mask}, onnxgraph.Int("to", int64(onnxgraph.Float))), g.ConstInt64([]int64{2}, 1)}) // [B,S,1]
	sum := g.Op("ReduceSum", []string{g.Op("Mul", []string{emb, m}), g.ConstInt64([]int64{1}, 1)}, onnxgraph.Int("keepdims", 0))
	g.Output(sum, "sentence_embedding", onnxgraph.Float, "batch", int64(h))
	if err := g.Save(filepath.Join(dir, "model.onnx"), filepath.Join(dir, "model.onnx.data"), false); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(tokJSON)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "tokenizer.json"), b, 0o644)
	return dir, func(ids []int) []float64 {
		out := make([]float64, h)
		for _, id := range ids {
			for k, x := range row(id) {
				out[k] += x
			}
		}
		return out
	}
}

// TestONNXPooledOutput: a model whose output is already pooled is used as
// it is (no pooling on top), normalized only when asked.
func TestONNXPooledOutput(t *testing.T) {
	testassets.ONNXRuntime(t)
	tokPath := testassets.BertTokenizer(t)
	dir, want := pooledModel(t, tokPath)
	tok, _ := tokenizer.FromFile(tokPath)
	ctx := context.Background()
	for _, normalize := range []bool{false, true} {
		e, err := NewONNX(dir, &ONNXOptions{Normalize: &normalize})
		if err != nil {
			t.Fatal(err)
		}
		if e.Pooling() != "" || e.Dim() != 4 {
			t.Fatalf("pooling %q dim %d, want already pooled, 4", e.Pooling(), e.Dim())
		}
		got, err := e.EmbedDocuments(ctx, onnxTexts)
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range onnxTexts {
			enc, _ := tok.Encode(s, true)
			w := want(enc.IDs)
			if normalize {
				n := math.Sqrt(w[0]*w[0] + w[1]*w[1] + w[2]*w[2] + w[3]*w[3])
				for k := range w {
					w[k] /= n
				}
			}
			for k := range w {
				if math.Abs(float64(got[i][k])-w[k]) > 1e-4*max(1, math.Abs(w[k])) {
					t.Fatalf("normalize=%v text %q: got %v, want %v", normalize, s, got[i], w)
				}
			}
		}
		e.Close()
	}
}

func TestPoolHelpers(t *testing.T) {
	// Two real tokens, then a padded one holding huge values that must not
	// count (the runtime passes only the real tokens' rows; pool must not
	// read beyond n).
	hs := []float32{1, 2, 3, 4, 1e6, -1e6}
	for _, tc := range []struct {
		mode string
		want []float32
	}{
		{modeldir.PoolingMean, []float32{2, 3}},
		{modeldir.PoolingCLS, []float32{1, 2}},
		{modeldir.PoolingLast, []float32{3, 4}},
	} {
		got := pool(tc.mode, hs, 2, 2)
		if maxDiff(got, tc.want) != 0 {
			t.Errorf("%s: got %v, want %v", tc.mode, got, tc.want)
		}
	}
	if !strings.Contains(fmt.Sprint(onnxTexts[6]), "🙂") {
		t.Fatal("test corpus lost its emoji")
	}
}
