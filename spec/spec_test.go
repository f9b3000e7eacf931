package spec

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"twostage"
	"twostage/adapters/memstore"
	"twostage/embed"
	"twostage/rerank"
	"twostage/rerank/remote"
)

func TestUnknownScheme(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		open  func() error
		known []string // schemes the message must list, with their help
	}{
		{"store", func() error { _, err := OpenStore(ctx, "redis://h/c", twostage.Info{Dim: 8}); return err }, []string{"mem (exact in-memory", "faiss (", "qdrant (", "weaviate ("}},
		{"read-only store", func() error { _, err := OpenStoreReadOnly(ctx, "redis://h/c", twostage.Info{Dim: 8}); return err }, []string{"mem ("}},
		{"embedder", func() error { _, err := OpenEmbedder(ctx, "word2vec:x"); return err }, []string{"hash (model-free", "onnx (", "openai (", "tei ("}},
		{"reranker", func() error { _, err := OpenReranker(ctx, "bm42"); return err }, []string{"lexical (model-free", "zerank (", "chain (", "cohere ("}},
	}
	for _, tt := range tests {
		err := tt.open()
		if !errors.Is(err, ErrBadSpec) || !errors.Is(err, twostage.ErrInvalidInput) {
			t.Errorf("%s: err = %v, want ErrBadSpec and ErrInvalidInput", tt.name, err)
			continue
		}
		if !strings.HasPrefix(err.Error(), "spec: unknown ") {
			t.Errorf("%s: %q, want it to start with \"spec: unknown \"", tt.name, err)
		}
		for _, k := range tt.known {
			if !strings.Contains(err.Error(), k) {
				t.Errorf("%s: %q does not list %q", tt.name, err, k)
			}
		}
	}
}

func TestNone(t *testing.T) {
	r, err := OpenReranker(context.Background(), "none")
	if r != nil || err != nil {
		t.Fatalf("none: %v, %v; want nil, nil", r, err)
	}
	for _, s := range Rerankers() {
		if s.Name == "none" {
			t.Errorf("none is listed as a scheme")
		}
	}
}

func TestRegister(t *testing.T) {
	ctx := context.Background()
	var opened, openedRO []string
	open := func(ctx context.Context, spec string, info twostage.Info) (*twostage.Store, error) {
		opened = append(opened, spec)
		return memstore.New(info.Dim, info.Metric)
	}
	openRO := func(ctx context.Context, spec string, info twostage.Info) (*twostage.Store, error) {
		openedRO = append(openedRO, spec)
		return memstore.New(info.Dim, info.Metric)
	}
	if err := RegisterStore("test-rw", "a test store; test-rw:NAME", open, openRO); err != nil {
		t.Fatal(err)
	}
	if err := RegisterStore("test-plain", "a test store without a read-only mode", open, nil); err != nil {
		t.Fatal(err)
	}
	info := twostage.Info{Dim: 8, Metric: twostage.Cosine}
	for _, s := range []struct {
		spec     string
		readOnly bool
	}{{"test-rw:a", false}, {"test-rw:b", true}, {"test-plain:c", true}} {
		var st *twostage.Store
		var err error
		if s.readOnly {
			st, err = OpenStoreReadOnly(ctx, s.spec, info)
		} else {
			st, err = OpenStore(ctx, s.spec, info)
		}
		if err != nil {
			t.Fatal(err)
		}
		st.Close()
	}
	if got := strings.Join(opened, " "); got != "test-rw:a test-plain:c" {
		t.Errorf("opened %q, want test-rw:a and test-plain:c (no read-only mode: opened as usual)", got)
	}
	if got := strings.Join(openedRO, " "); got != "test-rw:b" {
		t.Errorf("opened read-only %q, want test-rw:b", got)
	}
	found := false
	for _, s := range Stores() {
		found = found || s == Scheme{"test-rw", "a test store; test-rw:NAME"}
	}
	if !found {
		t.Errorf("Stores() = %v, want test-rw with its help", Stores())
	}
	if !strings.Contains(Names(Stores()), "mem, qdrant, test-plain, test-rw, weaviate") {
		t.Errorf("Names(Stores()) = %q, want the names sorted", Names(Stores()))
	}

	emb := func(ctx context.Context, spec string) (twostage.Embedder, error) { return embed.NewHashing(8) }
	rr := func(ctx context.Context, spec string) (twostage.Reranker, error) { return rerank.NewLexical(), nil }
	for _, tt := range []struct {
		name string
		err  error
	}{
		{"duplicate store", RegisterStore("mem", "again", open, nil)},
		{"nil store opener", RegisterStore("test-nil", "", nil, nil)},
		{"empty scheme", RegisterEmbedder("", "", emb)},
		{"scheme with a colon", RegisterEmbedder("a:b", "", emb)},
		{"duplicate embedder", RegisterEmbedder("hash", "", emb)},
		{"none", RegisterReranker("none", "", rr)},
		{"duplicate reranker", RegisterReranker("lexical", "", rr)},
	} {
		if !errors.Is(tt.err, twostage.ErrInvalidInput) {
			t.Errorf("%s: err = %v, want ErrInvalidInput", tt.name, tt.err)
		}
	}
	if err := RegisterReranker("test-rr", "a test reranker", rr); err != nil {
		t.Fatal(err)
	}
	// A registered scheme opens inside a chain too.
	r, err := OpenReranker(ctx, "chain:test-rr|lexical")
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := r.(interface{ Close() error }); ok {
		c.Close()
	}
}

func TestHashSpec(t *testing.T) {
	for _, tt := range []struct {
		spec string
		dim  int
		err  error
	}{
		{"hash", 384, nil},
		{"hash:16", 16, nil},
		{"hash:x", 0, ErrBadSpec},
		{"hash:4", 0, twostage.ErrInvalidInput}, // embed's range check
	} {
		e, err := OpenEmbedder(context.Background(), tt.spec)
		switch {
		case tt.err != nil:
			if !errors.Is(err, tt.err) {
				t.Errorf("%s: err = %v, want %v", tt.spec, err, tt.err)
			}
		case err != nil || e.Dim() != tt.dim:
			t.Errorf("%s: %v, %v; want dimension %d", tt.spec, e, err, tt.dim)
		}
	}
	if _, err := OpenEmbedder(context.Background(), "hash:4"); errors.Is(err, ErrBadSpec) {
		t.Errorf("hash:4: %v is the embedder's range check, not an error in the spec as written", err)
	}
}

// TestMemSnapshot: mem:FILE.snap saves on close and loads on open; the
// read-only view holds no lock once open and saves nothing.
func TestMemSnapshot(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "docs.snap")
	info := twostage.Info{Dim: 2, Metric: twostage.Cosine}
	st, err := OpenStore(ctx, "mem:"+path, info)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Upsert(ctx, []twostage.Document{{ID: "a", Text: "a", Vector: []float32{1, 0}}}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(path)
	if err != nil {
		t.Fatalf("no snapshot after close: %v", err)
	}

	ro, err := OpenStoreReadOnly(ctx, "mem:"+path, info)
	if err != nil {
		t.Fatal(err)
	}
	writer, err := OpenStore(ctx, "mem:"+path, info)
	if err != nil {
		t.Fatalf("open beside a read-only view: %v (the view must hold no lock)", err)
	}
	defer writer.Close()
	if n, err := ro.Count(ctx); err != nil || n != 1 {
		t.Fatalf("read-only count %d, %v; want 1", n, err)
	}
	if err := ro.Upsert(ctx, []twostage.Document{{ID: "b", Text: "b", Vector: []float32{0, 1}}}); err != nil {
		t.Fatal(err)
	}
	if err := ro.Close(); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(path)
	if err != nil || !after.ModTime().Equal(before.ModTime()) || after.Size() != before.Size() {
		t.Errorf("the read-only store rewrote %s on close", path)
	}

	for _, bad := range []string{"mem:" + filepath.Join(t.TempDir(), "docs.jsonl"), "faiss:", "faiss:d?index=lsh", "qdrant://h:1", "weaviate://h:1/C?colour=red"} {
		if _, err := OpenStore(ctx, bad, info); !errors.Is(err, ErrBadSpec) {
			t.Errorf("%s: err = %v, want ErrBadSpec", bad, err)
		}
	}
}

// TestFaissOptionOfAnotherIndex: an index option without index= names the
// default index, flat (it said index "").
func TestFaissOptionOfAnotherIndex(t *testing.T) {
	_, err := faissIndexSpec("nlist=4")
	if !errors.Is(err, ErrBadSpec) || !strings.Contains(err.Error(), `option "nlist" does not apply to index "flat"`) {
		t.Errorf("err = %v, want ErrBadSpec naming index flat", err)
	}
}

// TestXLAKeysWithoutProviderXLA: platform, compute and family without
// provider=xla are bad specs, found before the model is looked for (they
// failed at Open with EngineOptions' field names, not as a spec error).
func TestXLAKeysWithoutProviderXLA(t *testing.T) {
	ctx := context.Background()
	absent := filepath.Join(t.TempDir(), "absent")
	for _, s := range []string{"zerank:" + absent + ",family=zerank", "onnx:" + absent + ",provider=cuda,compute=bf16"} {
		if _, err := OpenReranker(ctx, s); !errors.Is(err, ErrBadSpec) || !strings.Contains(err.Error(), "provider=xla") {
			t.Errorf("%s: err = %v, want ErrBadSpec naming provider=xla", s, err)
		}
	}
	if _, err := OpenEmbedder(ctx, "onnx:"+absent+",platform=cuda"); !errors.Is(err, ErrBadSpec) || !strings.Contains(err.Error(), "provider=xla") {
		t.Errorf("embedder: err = %v, want ErrBadSpec naming provider=xla", err)
	}
}

func TestPulledSpec(t *testing.T) {
	registered := func(s string) bool { return s == "lexical" || s == "zerank" || s == "onnx" }
	for _, tt := range []struct{ in, want string }{
		{"zerank-2", "onnx:zerank-2"},
		{"all-MiniLM-L6-v2,batch=8", "onnx:all-MiniLM-L6-v2,batch=8"},
		{"org/name@main", "onnx:org/name@main"},
		{"lexical", "lexical"},
		{"zerank:zerank-2", "zerank:zerank-2"},
		{"./models/z2", "./models/z2"},
	} {
		if got := pulledSpec(tt.in, registered); got != tt.want {
			t.Errorf("pulledSpec(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// A bare pulled model name reaches the onnx opener as onnx:NAME, which looks
// for it in the model cache, for embedders and rerankers alike.
func TestPulledNameOpensAsONNX(t *testing.T) {
	t.Setenv("TWOSTAGE_HOME", t.TempDir())
	ctx := context.Background()
	for kind, open := range map[string]func(string) error{
		"embedder": func(s string) error { _, err := OpenEmbedder(ctx, s); return err },
		"reranker": func(s string) error { _, err := OpenReranker(ctx, s); return err },
	} {
		err := open("org/none@main")
		if err == nil || !strings.Contains(err.Error(), "run `twostage pull org/none`") {
			t.Errorf("%s org/none@main: %v, want the onnx opener's error for a model that is not pulled", kind, err)
		}
	}
}

func TestRemoteSpecs(t *testing.T) {
	t.Setenv("ZEROENTROPY_API_KEY", "k")
	ctx := context.Background()
	for _, tt := range []struct{ spec, url string }{
		{"tei:127.0.0.1:8080", "https://127.0.0.1:8080/rerank"}, // no scheme: https, never a key in clear
		{"vllm:http://gpu:8000", "http://gpu:8000/v1/rerank"},
		{"zeroentropy:#model=zerank-2&latency=slow", ""},
	} {
		r, err := OpenReranker(ctx, tt.spec)
		if err != nil {
			t.Fatalf("%s: %v", tt.spec, err)
		}
		rr := r.(*remote.Reranker)
		if tt.url != "" && rr.URL() != tt.url {
			t.Errorf("%s: URL %s, want %s", tt.spec, rr.URL(), tt.url)
		}
		rr.Close()
	}
	for _, bad := range []string{"zeroentropy:#latency", "cohere:http://x#colour=red", "chain:lexical|none", "chain:", "onnx:dir,prefix=often",
		"lexical:k1=2", "chain:zeroentropy|lexical:x"} { // lexical takes no argument: not dropped
		if _, err := OpenReranker(ctx, bad); !errors.Is(err, ErrBadSpec) {
			t.Errorf("%s: err = %v, want ErrBadSpec", bad, err)
		}
	}
}

// TestRemoteMissingKey: a remote reranker without its key is a bad spec,
// and the message says "invalid input" once (it said it twice).
func TestRemoteMissingKey(t *testing.T) {
	t.Setenv("ZEROENTROPY_API_KEY", "")
	for _, s := range []string{"zeroentropy", "chain:lexical|zeroentropy"} {
		_, err := OpenReranker(context.Background(), s)
		if !errors.Is(err, ErrBadSpec) || !errors.Is(err, twostage.ErrInvalidInput) {
			t.Fatalf("%s: err = %v, want ErrBadSpec", s, err)
		}
		if n := strings.Count(err.Error(), twostage.ErrInvalidInput.Error()); n != 1 || !strings.Contains(err.Error(), "ZEROENTROPY_API_KEY") {
			t.Errorf("%s: err = %q, want the key's name and %q once", s, err, twostage.ErrInvalidInput)
		}
	}
}

func TestOptions(t *testing.T) {
	for _, tt := range []struct {
		spec, msg string
	}{
		{"onnx:dir,colour=red", `unknown option "colour"`},
		{"onnx:dir,batch", `option "batch" is not key=value`},
		{"onnx:,batch=1", "missing onnx target"},
		{"onnx:dir,batch=-1", "not a non-negative number"},
	} {
		_, err := OpenEmbedder(context.Background(), tt.spec)
		if !errors.Is(err, ErrBadSpec) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: err = %v, want ErrBadSpec saying %q", tt.spec, err, tt.msg)
		}
	}
}
