package hub_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"twostage/convert"
	"twostage/hub"
	"twostage/internal/hubtest"
	"twostage/internal/tinymodel"
	"twostage/modeldir"
	"twostage/rerank"
	"twostage/retry"
)

// decoys are files real repositories carry that a pull must never request.
var decoys = map[string][]byte{
	"pytorch_model.bin":  []byte("torch weights"),
	"model.onnx":         []byte("onnx graph"),
	"onnx/model.onnx":    []byte("onnx graph"),
	"model.gguf":         []byte("gguf"),
	"tf_model.h5":        []byte("h5"),
	"flax_model.msgpack": []byte("msgpack"),
	"README.md":          []byte("# model card"),
	".gitattributes":     []byte("*.safetensors filter=lfs"),
}

// crossNeed is what a cross-encoder pull may fetch; embedders add the
// sentence-transformers files.
var crossNeed = []string{"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"}
var embedNeed = append(slices.Clone(crossNeed), "modules.json", "sentence_bert_config.json", "1_Pooling/config.json")

// cleanEnv keeps the developer's Hugging Face settings out of the tests.
func cleanEnv(t *testing.T) {
	t.Helper()
	t.Setenv("HF_TOKEN", "")
	t.Setenv("HF_TOKEN_PATH", filepath.Join(t.TempDir(), "no-token"))
	t.Setenv("HF_HUB_OFFLINE", "")
	t.Setenv("HF_ENDPOINT", "")
}

// newHub starts a stand-in Hub for a test, with the developer's Hugging
// Face settings kept out (cleanEnv).
func newHub(t *testing.T) *hubtest.Server {
	t.Helper()
	cleanEnv(t)
	return hubtest.New(t)
}

// newRepo builds a stand-in repository from a tiny checkpoint of family,
// with the decoys and, for every family, the sentence-transformers files
// (zerank-2 carries them too); need lists what a pull may request.
func newRepo(t *testing.T, id, family string, need []string) hubtest.Repo {
	t.Helper()
	ckpt := tinymodel.Checkpoint(t, tinymodel.Spec{Family: family, Seed: 1})
	r, err := hubtest.RepoFromDir(id, ckpt, decoys)
	if err != nil {
		t.Fatal(err)
	}
	r.Files["tokenizer_config.json"] = []byte(`{"model_max_length": 512}`)
	r.Files["special_tokens_map.json"] = []byte(`{}`)
	r.Files["modules.json"] = []byte(`[{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},` +
		`{"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"},` +
		`{"idx":2,"name":"2","path":"2_Normalize","type":"sentence_transformers.models.Normalize"}]`)
	r.Files["sentence_bert_config.json"] = []byte(`{"max_seq_length": 128, "do_lower_case": false}`)
	r.Files["1_Pooling/config.json"] = []byte(`{"word_embedding_dimension": 32, "pooling_mode_cls_token": true, "pooling_mode_mean_tokens": false}`)
	r.Need = func(f string) bool { return slices.Contains(need, f) }
	return r
}

func client(t *testing.T, s *hubtest.Server, home string, mod func(*hub.Options)) *hub.Client {
	t.Helper()
	o := &hub.Options{Endpoint: s.URL, Home: home, Retry: retry.Policy{Attempts: 4, Initial: time.Millisecond, Max: 5 * time.Millisecond}}
	if mod != nil {
		mod(o)
	}
	c, err := hub.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func readAll(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		b, err := os.ReadFile(p)
		out[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func keys(m map[string][]byte) []string {
	k := make([]string, 0, len(m))
	for n := range m {
		k = append(k, n)
	}
	sort.Strings(k)
	return k
}

// assertNothingInstalled checks that a failed pull left no snapshot and no
// model directory, and that Lookup does not find it.
func assertNothingInstalled(t *testing.T, c *hub.Client, ref string) {
	t.Helper()
	if m, err := c.Lookup(ref, ""); !errors.Is(err, hub.ErrNotPulled) {
		t.Fatalf("Lookup after a failed pull = %+v, %v; want ErrNotPulled", m, err)
	}
	for _, pat := range []string{"hub/*/snapshots/*", "hub/*/models/*/*"} {
		if got, _ := filepath.Glob(filepath.Join(c.Home(), pat)); len(got) > 0 {
			t.Fatalf("a failed pull installed %v", got)
		}
	}
}

func TestPullMatchesConvertByHand(t *testing.T) {
	s := newHub(t)
	repo := newRepo(t, "org/tiny-zerank", modeldir.FamilyZerank, crossNeed)
	commit := s.Add(repo)
	c := client(t, s, t.TempDir(), nil)
	ctx := context.Background()

	m, err := c.Pull(ctx, "org/tiny-zerank", nil)
	if err != nil {
		t.Fatal(err)
	}
	if m.Commit != commit || m.Family != modeldir.FamilyZerank || m.Dtype != modeldir.DtypeFP16 {
		t.Fatalf("pulled commit %s family %s dtype %s, want %s zerank fp16", m.Commit, m.Family, m.Dtype, commit)
	}
	// The snapshot holds exactly the needed files, byte for byte.
	snap := readAll(t, m.Snapshot)
	if got := keys(snap); !slices.Equal(got, slices.Sorted(slices.Values(crossNeed))) {
		t.Fatalf("snapshot files %v, want %v", got, crossNeed)
	}
	for n, b := range snap {
		if string(b) != string(repo.Files[n]) {
			t.Fatalf("snapshot %s differs from the repository's", n)
		}
	}
	// LFS weights came from the CDN host after a redirect; small files from the Hub.
	var cdn, weights int
	for _, r := range s.Requests() {
		if r.Host == "cdn" {
			cdn++
		}
		if r.File == "model.safetensors" {
			weights++
		}
	}
	if cdn != 1 || weights != 1 {
		t.Fatalf("%d CDN requests and %d resolve requests for the weights, want 1 and 1", cdn, weights)
	}

	// Converting the same files by hand gives the same model directory.
	byHand := filepath.Join(t.TempDir(), "by-hand")
	ckpt := tinymodel.Checkpoint(t, tinymodel.Spec{Family: modeldir.FamilyZerank, Seed: 1})
	if _, err := convert.Convert(ctx, ckpt, byHand, &convert.Options{Family: modeldir.FamilyZerank, Dtype: modeldir.DtypeFP16, Source: "org/tiny-zerank@" + commit}); err != nil {
		t.Fatal(err)
	}
	want, got := readAll(t, byHand), readAll(t, m.Dir)
	if !slices.Equal(keys(got), keys(want)) {
		t.Fatalf("model files %v, want %v", keys(got), keys(want))
	}
	for n := range want {
		if string(got[n]) != string(want[n]) {
			t.Fatalf("model file %s differs from the hand conversion", n)
		}
	}
	scores := func(dir string) []float64 {
		e, err := rerank.Open(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		sc, err := e.Rerank(ctx, "what is a cross-encoder?", []string{"A cross-encoder reads query and document together.", "Bananas are yellow."})
		if err != nil {
			t.Fatal(err)
		}
		out := make([]float64, len(sc))
		for i, x := range sc {
			out[i] = x.Raw
		}
		return out
	}
	if a, b := scores(m.Dir), scores(byHand); !slices.Equal(a, b) {
		t.Fatalf("pulled model scores %v, hand-converted %v", a, b)
	}

	// A second pull of the same revision downloads nothing.
	s.Reset()
	m2, err := c.Pull(ctx, "org/tiny-zerank@main", nil)
	if err != nil {
		t.Fatal(err)
	}
	if m2.Dir != m.Dir || m2.Downloaded != 0 || m2.Files != 0 {
		t.Fatalf("second pull: dir %s downloaded %d bytes in %d files; want %s, 0, 0", m2.Dir, m2.Downloaded, m2.Files, m.Dir)
	}
	for _, r := range s.Requests() {
		if r.File != "" || r.Host == "cdn" {
			t.Fatalf("second pull requested %s %s", r.Host, r.Path)
		}
	}
	// The cache answers by name, and lists the model.
	l, err := c.Lookup("org/tiny-zerank", "")
	if err != nil || l.Dir != m.Dir {
		t.Fatalf("Lookup = %+v, %v; want dir %s", l, err, m.Dir)
	}
	list, err := c.List()
	if err != nil || len(list) != 1 || list[0].Dir != m.Dir || list[0].Ref.Revision != "main" {
		t.Fatalf("List = %+v, %v", list, err)
	}
}

func TestPullEmbedderSentenceTransformers(t *testing.T) {
	s := newHub(t)
	s.Add(newRepo(t, "org/tiny-embed", modeldir.FamilyBertEmbedding, embedNeed))
	c := client(t, s, t.TempDir(), nil)
	m, err := c.Pull(context.Background(), "org/tiny-embed", nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := modeldir.Load(m.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Family != modeldir.FamilyBertEmbedding || cfg.Pooling != modeldir.PoolingCLS || !cfg.Normalize || cfg.MaxLength != 128 || cfg.Dtype != modeldir.DtypeFP32 {
		t.Fatalf("embedder config %+v, want bert-embedding, cls pooling, normalized, max length 128, fp32", cfg)
	}
	for _, f := range embedNeed {
		if n := s.Count("org/tiny-embed", f); n != 1 {
			t.Errorf("%s requested %d times, want 1", f, n)
		}
	}
}

// A sentence_bert_config.json max_seq_length beyond the checkpoint's
// position table is capped at the table, as `twostage convert` records it
// (convert reads the sentence-transformers files for pull too).
func TestPullEmbedderMaxSeqLengthCapped(t *testing.T) {
	s := newHub(t)
	r := newRepo(t, "org/long-embed", modeldir.FamilyBertEmbedding, embedNeed)
	r.Files["sentence_bert_config.json"] = []byte(`{"max_seq_length": 1000000, "do_lower_case": false}`)
	s.Add(r)
	m, err := client(t, s, t.TempDir(), nil).Pull(context.Background(), "org/long-embed", nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := modeldir.Load(m.Dir)
	if err != nil {
		t.Fatal(err)
	}
	var hf struct {
		MaxPositionEmbeddings int `json:"max_position_embeddings"`
	}
	if err := json.Unmarshal(r.Files["config.json"], &hf); err != nil || hf.MaxPositionEmbeddings == 0 {
		t.Fatalf("the checkpoint's config.json: %v, max_position_embeddings %d", err, hf.MaxPositionEmbeddings)
	}
	if cfg.MaxLength != hf.MaxPositionEmbeddings || cfg.Pooling != modeldir.PoolingCLS || !cfg.Normalize {
		t.Errorf("embedder config %+v, want max length %d (the position table), cls pooling, normalized", cfg, hf.MaxPositionEmbeddings)
	}
}

func TestGated(t *testing.T) {
	s := newHub(t)
	r := newRepo(t, "org/gated", modeldir.FamilyBertCrossEncoder, crossNeed)
	r.Gated = true
	s.Add(r)
	ctx := context.Background()
	for _, tt := range []struct {
		token  string
		status string
	}{{"", "401"}, {"hf_wrong", "403"}} {
		c := client(t, s, t.TempDir(), func(o *hub.Options) { o.Token = tt.token })
		_, err := c.Pull(ctx, "org/gated", nil)
		if !errors.Is(err, hub.ErrUnauthorized) {
			t.Fatalf("token %q: err = %v, want ErrUnauthorized", tt.token, err)
		}
		msg := err.Error()
		if !strings.Contains(msg, "org/gated") || !strings.Contains(msg, "HF_TOKEN") || !strings.Contains(msg, tt.status) || strings.Contains(msg, "\n") {
			t.Fatalf("token %q: error %q should be one line naming the repository, %s and HF_TOKEN", tt.token, msg, tt.status)
		}
		assertNothingInstalled(t, c, "org/gated")
	}
	// The token from HF_TOKEN goes to the Hub and never to the CDN (the
	// stand-in fails the test if it does).
	t.Setenv("HF_TOKEN", s.Token)
	c := client(t, s, t.TempDir(), nil)
	s.Reset()
	if _, err := c.Pull(ctx, "org/gated", nil); err != nil {
		t.Fatal(err)
	}
	for _, r := range s.Requests() {
		if want := map[string]string{"hub": "Bearer " + s.Token, "cdn": ""}[r.Host]; r.Auth != want {
			t.Fatalf("%s request %s sent Authorization %q, want %q", r.Host, r.Path, r.Auth, want)
		}
	}
	// Without HF_TOKEN, the huggingface-cli token file ($HF_HOME/token).
	t.Setenv("HF_TOKEN", "")
	t.Setenv("HF_TOKEN_PATH", "")
	hfHome := t.TempDir()
	t.Setenv("HF_HOME", hfHome)
	if err := os.WriteFile(filepath.Join(hfHome, "token"), []byte(s.Token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := client(t, s, t.TempDir(), nil).Pull(ctx, "org/gated", nil); err != nil {
		t.Fatalf("pull with the token file: %v", err)
	}
}

func TestNotFound(t *testing.T) {
	s := newHub(t)
	s.Add(newRepo(t, "org/model", modeldir.FamilyBertCrossEncoder, crossNeed))
	noTok := newRepo(t, "org/no-tokenizer", modeldir.FamilyBertCrossEncoder, crossNeed)
	delete(noTok.Files, "tokenizer.json")
	s.Add(noTok)
	onlyBin := newRepo(t, "org/only-bin", modeldir.FamilyBertCrossEncoder, crossNeed)
	delete(onlyBin.Files, "model.safetensors")
	s.Add(onlyBin)
	s.Inject("org/model", "tokenizer.json", hubtest.Fault{Status: 404})
	tests := []struct {
		ref  string
		want error
		text string
	}{
		{"org/missing", hub.ErrRepoNotFound, "org/missing not found"},
		{"org/model@v9", hub.ErrRevisionNotFound, `no revision "v9"`},
		{"org/no-tokenizer", hub.ErrFileNotFound, "no tokenizer.json"},
		{"org/only-bin", hub.ErrUnsupported, "no safetensors"},
		{"org/model", hub.ErrFileNotFound, "no file tokenizer.json"}, // the API lists it, resolve answers 404
	}
	for _, tt := range tests {
		c := client(t, s, t.TempDir(), nil)
		_, err := c.Pull(context.Background(), tt.ref, &hub.PullOptions{Family: modeldir.FamilyBertCrossEncoder})
		if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.text) {
			t.Errorf("%s: err = %v, want %v containing %q", tt.ref, err, tt.want, tt.text)
		}
		assertNothingInstalled(t, c, tt.ref)
	}
}

func TestRetries(t *testing.T) {
	s := newHub(t)
	s.Add(newRepo(t, "org/model", modeldir.FamilyBertCrossEncoder, crossNeed))
	ctx := context.Background()

	// 429 with Retry-After: 1 waits a second (the client's own backoff is
	// at most 5 ms here), then succeeds.
	s.Inject("org/model", "config.json", hubtest.Fault{Status: 429, RetryAfter: "1"})
	c := client(t, s, t.TempDir(), nil)
	start := time.Now()
	if _, err := c.Pull(ctx, "org/model", nil); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Fatalf("pull took %v after a 429 with Retry-After: 1; it did not wait", d)
	}
	if n := s.Count("org/model", "config.json"); n != 2 {
		t.Fatalf("config.json requested %d times, want 2", n)
	}

	// 5xx twice, then success (on the Hub for a small file, on the resolve
	// for the LFS weights).
	s.Reset()
	s.Inject("org/model", "tokenizer.json", hubtest.Fault{Status: 500}, hubtest.Fault{Status: 503})
	s.Inject("org/model", "model.safetensors", hubtest.Fault{Status: 502})
	c = client(t, s, t.TempDir(), nil)
	if _, err := c.Pull(ctx, "org/model", nil); err != nil {
		t.Fatal(err)
	}
	if a, b := s.Count("org/model", "tokenizer.json"), s.Count("org/model", "model.safetensors"); a != 3 || b != 2 {
		t.Fatalf("requests: tokenizer.json %d, model.safetensors %d; want 3 and 2", a, b)
	}

	// 5xx past the attempts fails the pull and installs nothing.
	s.Inject("org/model", "model.safetensors", hubtest.Fault{Status: 500}, hubtest.Fault{Status: 500}, hubtest.Fault{Status: 500}, hubtest.Fault{Status: 500})
	c = client(t, s, t.TempDir(), nil)
	if _, err := c.Pull(ctx, "org/model", nil); !errors.Is(err, hub.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	assertNothingInstalled(t, c, "org/model")
}

func TestIntegrity(t *testing.T) {
	s := newHub(t)
	s.Add(newRepo(t, "org/model", modeldir.FamilyBertCrossEncoder, crossNeed))
	for _, tt := range []struct {
		name  string
		file  string
		fault hubtest.Fault
		text  string
	}{
		{"sha256", "model.safetensors", hubtest.Fault{Corrupt: true}, "sha256"},
		{"size", "model.safetensors", hubtest.Fault{WrongSize: true}, "announced"},
		{"git-sha1", "tokenizer.json", hubtest.Fault{Corrupt: true}, "git sha1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s.Inject("org/model", tt.file, tt.fault)
			c := client(t, s, t.TempDir(), nil)
			_, err := c.Pull(context.Background(), "org/model", nil)
			if !errors.Is(err, hub.ErrIntegrity) || !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("err = %v, want ErrIntegrity mentioning %q", err, tt.text)
			}
			assertNothingInstalled(t, c, "org/model")
			// The bad bytes are gone: the next pull fetches the file whole
			// (other files, cut off when the pull failed, may resume).
			s.Reset()
			m, err := c.Pull(context.Background(), "org/model", nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range s.Requests() {
				if r.Range != "" && (r.File == tt.file || (r.Host == "cdn" && tt.file == "model.safetensors")) {
					t.Fatalf("the pull after a corrupt download resumed (%s %s)", r.Path, r.Range)
				}
			}
			if _, err := os.Stat(filepath.Join(m.Snapshot, tt.file)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestResume(t *testing.T) {
	s := newHub(t)
	repo := newRepo(t, "org/model", modeldir.FamilyBertCrossEncoder, crossNeed)
	s.Add(repo)
	ctx := context.Background()
	const cut = 1 << 20
	if len(repo.Files["model.safetensors"]) <= 2*cut {
		t.Fatalf("weights too small (%d bytes) for the test", len(repo.Files["model.safetensors"]))
	}
	cdnRanges := func() []string {
		var out []string
		for _, r := range s.Requests() {
			if r.Host == "cdn" {
				out = append(out, r.Range)
			}
		}
		return out
	}

	t.Run("within-one-call", func(t *testing.T) {
		s.Reset()
		s.Inject("org/model", "model.safetensors", hubtest.Fault{DropAfter: cut})
		c := client(t, s, t.TempDir(), nil)
		m, err := c.Pull(ctx, "org/model", nil)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := cdnRanges(), []string{"", fmt.Sprintf("bytes=%d-", cut)}; !slices.Equal(got, want) {
			t.Fatalf("CDN ranges %q, want %q", got, want)
		}
		b, _ := os.ReadFile(filepath.Join(m.Snapshot, "model.safetensors"))
		if string(b) != string(repo.Files["model.safetensors"]) {
			t.Fatal("resumed weights differ from the repository's")
		}
	})
	t.Run("across-calls", func(t *testing.T) {
		s.Reset()
		s.Inject("org/model", "model.safetensors", hubtest.Fault{DropAfter: cut})
		home := t.TempDir()
		c := client(t, s, home, func(o *hub.Options) { o.Retry.Attempts = 1 })
		if _, err := c.Pull(ctx, "org/model", nil); !errors.Is(err, hub.ErrUnavailable) {
			t.Fatalf("interrupted pull: err = %v, want ErrUnavailable", err)
		}
		assertNothingInstalled(t, c, "org/model")
		s.Reset()
		c = client(t, s, home, nil)
		m, err := c.Pull(ctx, "org/model", nil)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := cdnRanges(), []string{fmt.Sprintf("bytes=%d-", cut)}; !slices.Equal(got, want) {
			t.Fatalf("CDN ranges %q, want %q", got, want)
		}
		// The weights' remaining bytes, plus small files the failure cut
		// off (less than the cut).
		if rest := int64(len(repo.Files["model.safetensors"]) - cut); m.Downloaded < rest || m.Downloaded >= rest+cut {
			t.Fatalf("downloaded %d bytes, want the remaining %d of the weights and little else", m.Downloaded, rest)
		}
		b, _ := os.ReadFile(filepath.Join(m.Snapshot, "model.safetensors"))
		if string(b) != string(repo.Files["model.safetensors"]) {
			t.Fatal("resumed weights differ from the repository's")
		}
	})
}

func TestOffline(t *testing.T) {
	s := newHub(t)
	s.Add(newRepo(t, "org/model", modeldir.FamilyBertCrossEncoder, crossNeed))
	home := t.TempDir()
	ctx := context.Background()
	t.Setenv("HF_HUB_OFFLINE", "1")
	off := client(t, s, home, nil)
	if !off.Offline() {
		t.Fatal("HF_HUB_OFFLINE=1 did not make the client offline")
	}
	if _, err := off.Pull(ctx, "org/model", nil); !errors.Is(err, hub.ErrNotPulled) {
		t.Fatalf("offline pull of an uncached model: err = %v, want ErrNotPulled", err)
	}
	if n := len(s.Requests()); n != 0 {
		t.Fatalf("offline mode sent %d requests", n)
	}
	t.Setenv("HF_HUB_OFFLINE", "")
	m, err := client(t, s, home, nil).Pull(ctx, "org/model", nil)
	if err != nil {
		t.Fatal(err)
	}
	// Offline again, with the cache filled: the same directory, no request,
	// and a conversion to another dtype still works from the snapshot.
	s.Reset()
	t.Setenv("HF_HUB_OFFLINE", "1")
	off = client(t, s, home, nil)
	m2, err := off.Pull(ctx, "org/model", nil)
	if err != nil || m2.Dir != m.Dir {
		t.Fatalf("offline pull = %+v, %v; want dir %s", m2, err, m.Dir)
	}
	m3, err := off.Pull(ctx, "org/model", &hub.PullOptions{Dtype: modeldir.DtypeFP16})
	if err != nil || m3.Dtype != modeldir.DtypeFP16 {
		t.Fatalf("offline fp16 pull = %+v, %v", m3, err)
	}
	if n := len(s.Requests()); n != 0 {
		t.Fatalf("offline mode sent %d requests", n)
	}
}

// checkPullOnce serves one cross-encoder repository and runs n pulls of it
// at once into one home directory: all must succeed into the same
// directory, and each file must be fetched once. what names the pullers.
func checkPullOnce(t *testing.T, n int, what string, pull func(s *hubtest.Server, home string) (dir string, err error)) {
	t.Helper()
	s := newHub(t)
	s.Add(newRepo(t, "org/model", modeldir.FamilyBertCrossEncoder, crossNeed))
	home := t.TempDir()
	var wg sync.WaitGroup
	dirs := make([]string, n)
	errs := make([]error, n)
	for i := range dirs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dirs[i], errs[i] = pull(s, home)
		}()
	}
	wg.Wait()
	for i := range dirs {
		if errs[i] != nil || dirs[i] != dirs[0] {
			t.Fatalf("pull %d: dir %s err %v; want %s", i, dirs[i], errs[i], dirs[0])
		}
	}
	for _, f := range crossNeed {
		if c := s.Count("org/model", f); c != 1 {
			t.Errorf("%s fetched %d times by %d %s, want 1", f, c, n, what)
		}
	}
}

func TestConcurrentGoroutines(t *testing.T) {
	checkPullOnce(t, 4, "concurrent pulls", func(s *hubtest.Server, home string) (string, error) {
		m, err := client(t, s, home, nil).Pull(context.Background(), "org/model", nil)
		if err != nil {
			return "", err
		}
		return m.Dir, nil
	})
}

// TestHelperPull is run as a child process by TestConcurrentProcesses.
func TestHelperPull(t *testing.T) {
	if os.Getenv("HUBTEST_CHILD") != "1" {
		t.Skip("child process of TestConcurrentProcesses")
	}
	c, err := hub.New(&hub.Options{Retry: retry.Policy{Attempts: 4, Initial: time.Millisecond, Max: 5 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := c.Pull(context.Background(), "org/model", nil)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("DIR=" + m.Dir)
}

func TestConcurrentProcesses(t *testing.T) {
	checkPullOnce(t, 2, "concurrent processes", func(s *hubtest.Server, home string) (string, error) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperPull$", "-test.count=1")
		cmd.Env = append(os.Environ(), "HUBTEST_CHILD=1", "HF_ENDPOINT="+s.URL, "TWOSTAGE_HOME="+home)
		b, err := cmd.CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("child: %w\n%s", err, b)
		}
		var dirs []string
		for _, line := range strings.Split(string(b), "\n") {
			if d, ok := strings.CutPrefix(line, "DIR="); ok {
				dirs = append(dirs, d)
			}
		}
		if len(dirs) != 1 {
			return "", fmt.Errorf("child printed directories %q, want one\n%s", dirs, b)
		}
		return dirs[0], nil
	})
}

func TestParseRef(t *testing.T) {
	tests := []struct {
		in                 string
		repo, rev, family  string
		wantErr, wantIsRef bool
	}{
		{in: "zerank-2", repo: "zeroentropy/zerank-2-reranker", rev: "main", family: "zerank", wantIsRef: true},
		{in: "ZeRank-1-small@v1", repo: "zeroentropy/zerank-1-small", rev: "v1", family: "zerank", wantIsRef: true},
		{in: "qwen3-reranker-4b", repo: "Qwen/Qwen3-Reranker-4B", rev: "main", family: "qwen3-reranker", wantIsRef: true},
		{in: "ms-marco-MiniLM-L-6-v2", repo: "cross-encoder/ms-marco-MiniLM-L-6-v2", rev: "main", family: "bert-cross-encoder", wantIsRef: true},
		{in: "all-MiniLM-L6-v2", repo: "sentence-transformers/all-MiniLM-L6-v2", rev: "main", family: "bert-embedding", wantIsRef: true},
		{in: "BAAI/bge-small-en-v1.5", repo: "BAAI/bge-small-en-v1.5", rev: "main", family: "bert-embedding", wantIsRef: true},
		{in: "org/name@0123456789abcdef0123456789abcdef01234567", repo: "org/name", rev: "0123456789abcdef0123456789abcdef01234567", wantIsRef: true},
		{in: "models/zerank", repo: "models/zerank", rev: "main", wantIsRef: true},
		{in: "./models/zerank", wantErr: true},
		{in: "/abs/dir", wantErr: true},
		{in: "a/b/c", wantErr: true},
		{in: "org/../x", wantErr: true},
		{in: "org/name@", wantErr: true},
		{in: "zerank", wantErr: true},
	}
	for _, tt := range tests {
		r, err := hub.ParseRef(tt.in)
		if (err != nil) != tt.wantErr || (err != nil && !errors.Is(err, hub.ErrInvalidRef)) {
			t.Errorf("ParseRef(%q) err = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if err == nil && (r.Repo != tt.repo || r.Revision != tt.rev || r.Family != tt.family) {
			t.Errorf("ParseRef(%q) = %+v, want repo %s rev %s family %q", tt.in, r, tt.repo, tt.rev, tt.family)
		}
		if got := hub.IsRef(tt.in); got != tt.wantIsRef {
			t.Errorf("IsRef(%q) = %v, want %v", tt.in, got, tt.wantIsRef)
		}
	}
}

func TestNeeded(t *testing.T) {
	for _, f := range []string{"pytorch_model.bin", "model.onnx", "onnx/model.onnx", "model.gguf", "tf_model.h5", "flax_model.msgpack", "README.md", "onnx/model.safetensors"} {
		for _, fam := range modeldir.Families {
			if hub.Needed(f, fam) {
				t.Errorf("Needed(%q, %s) = true", f, fam)
			}
		}
	}
	for _, f := range []string{"model-00001-of-00002.safetensors", "model.safetensors.index.json", "config.json", "tokenizer.json"} {
		if !hub.Needed(f, modeldir.FamilyZerank) {
			t.Errorf("Needed(%q, zerank) = false", f)
		}
	}
	if hub.Needed("modules.json", modeldir.FamilyZerank) || !hub.Needed("1_Pooling/config.json", modeldir.FamilyBertEmbedding) {
		t.Error("sentence-transformers files: needed by bert-embedding only")
	}
}

func TestLookupNotPulled(t *testing.T) {
	cleanEnv(t)
	c, err := hub.New(&hub.Options{Home: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Lookup("zerank-2", "")
	if !errors.Is(err, hub.ErrNotPulled) || !strings.Contains(err.Error(), "run `twostage pull zerank-2`") {
		t.Fatalf("Lookup = %v, want ErrNotPulled saying to run twostage pull zerank-2", err)
	}
}

// A part file that is already whole (a crash between the last byte and the
// rename) is verified and installed: the Hub answers 416 to its range.
func TestResumeWholePartFile(t *testing.T) {
	s := newHub(t)
	repo := newRepo(t, "org/model", modeldir.FamilyBertCrossEncoder, crossNeed)
	commit := s.Add(repo)
	home := t.TempDir()
	inc := filepath.Join(home, "hub", "models--org--model", "incomplete", commit)
	if err := os.MkdirAll(inc, 0o755); err != nil {
		t.Fatal(err)
	}
	weights := repo.Files["model.safetensors"]
	if err := os.WriteFile(filepath.Join(inc, "model.safetensors.part"), weights, 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := client(t, s, home, nil).Pull(context.Background(), "org/model", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(m.Snapshot, "model.safetensors"))
	if string(b) != string(weights) {
		t.Fatalf("installed weights: %d bytes, want the %d of the repository", len(b), len(weights))
	}
	var ranges []string
	for _, r := range s.Requests() {
		if r.Host == "cdn" {
			ranges = append(ranges, r.Range)
		}
	}
	if want := []string{fmt.Sprintf("bytes=%d-", len(weights))}; !slices.Equal(ranges, want) {
		t.Fatalf("CDN ranges %q, want %q", ranges, want)
	}
}

func TestPullShardedCheckpoint(t *testing.T) {
	s := newHub(t)
	spec := tinymodel.Spec{Family: modeldir.FamilyBertCrossEncoder, Seed: 1, Shards: 2}
	ckpt := tinymodel.Checkpoint(t, spec)
	r, err := hubtest.RepoFromDir("org/sharded", ckpt, decoys)
	if err != nil {
		t.Fatal(err)
	}
	var need []string
	for f := range r.Files {
		if !slices.Contains(keys(decoys), f) {
			need = append(need, f)
		}
	}
	if len(need) != 5 { // config, tokenizer, index, two shards
		t.Fatalf("sharded checkpoint files %v", need)
	}
	r.Need = func(f string) bool { return slices.Contains(need, f) }
	commit := s.Add(r)
	m, err := client(t, s, t.TempDir(), nil).Pull(context.Background(), "org/sharded", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range need {
		if n := s.Count("org/sharded", f); n != 1 {
			t.Errorf("%s requested %d times, want 1", f, n)
		}
	}
	byHand := filepath.Join(t.TempDir(), "m")
	if _, err := convert.Convert(context.Background(), ckpt, byHand, &convert.Options{Family: spec.Family, Source: "org/sharded@" + commit}); err != nil {
		t.Fatal(err)
	}
	want, got := readAll(t, byHand), readAll(t, m.Dir)
	for n := range want {
		if string(got[n]) != string(want[n]) {
			t.Fatalf("model file %s differs from the hand conversion", n)
		}
	}
}

func TestResumeAfterStall(t *testing.T) {
	s := newHub(t)
	repo := newRepo(t, "org/model", modeldir.FamilyBertCrossEncoder, crossNeed)
	s.Add(repo)
	const cut = 1 << 20
	s.Inject("org/model", "model.safetensors", hubtest.Fault{StallAfter: cut})
	c := client(t, s, t.TempDir(), func(o *hub.Options) { o.StallTimeout = 300 * time.Millisecond })
	m, err := c.Pull(context.Background(), "org/model", nil)
	if err != nil {
		t.Fatal(err)
	}
	var ranges []string
	for _, r := range s.Requests() {
		if r.Host == "cdn" {
			ranges = append(ranges, r.Range)
		}
	}
	if want := []string{"", fmt.Sprintf("bytes=%d-", cut)}; !slices.Equal(ranges, want) {
		t.Fatalf("CDN ranges %q, want %q", ranges, want)
	}
	b, _ := os.ReadFile(filepath.Join(m.Snapshot, "model.safetensors"))
	if string(b) != string(repo.Files["model.safetensors"]) {
		t.Fatal("weights resumed after a stall differ from the repository's")
	}
}
