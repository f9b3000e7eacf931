package hub_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"twostage/hub"
	"twostage/internal/hubtest"
	"twostage/internal/tinymodel"
	"twostage/modeldir"
)

func ExampleParseRef() {
	r, _ := hub.ParseRef("zerank-2")
	fmt.Println(r.Repo, r.Revision, r.Family)
	r, _ = hub.ParseRef("BAAI/bge-small-en-v1.5@v1")
	fmt.Println(r.Repo, r.Revision, r.Family)
	fmt.Println(hub.Needed("model.safetensors", modeldir.FamilyZerank), hub.Needed("pytorch_model.bin", modeldir.FamilyZerank))
	// Output:
	// zeroentropy/zerank-2-reranker main zerank
	// BAAI/bge-small-en-v1.5 v1 bert-embedding
	// true false
}

// exampleT stands in for a *testing.T in the example.
type exampleT struct{ cleanups []func() }

func (t *exampleT) Helper()                           {}
func (t *exampleT) Errorf(format string, args ...any) { fmt.Printf("hub error: "+format+"\n", args...) }
func (t *exampleT) Cleanup(f func())                  { t.cleanups = append(t.cleanups, f) }

// Pull downloads the checkpoint (once per commit) and converts it; the
// model directory then opens with rerank.Open. Here a stand-in Hub
// (internal/hubtest) serves a tiny random zerank checkpoint under zerank-2's
// name; in real use hub.New(nil) reads HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE
// and TWOSTAGE_HOME.
func ExampleClient_Pull() {
	t := &exampleT{}
	defer func() {
		for _, f := range t.cleanups {
			f()
		}
	}()
	tmp, _ := os.MkdirTemp("", "hub")
	defer os.RemoveAll(tmp)
	ckpt := filepath.Join(tmp, "checkpoint")
	if err := tinymodel.Write(ckpt, tinymodel.Spec{Family: modeldir.FamilyZerank, Seed: 1}); err != nil {
		fmt.Println(err)
		return
	}
	repo, err := hubtest.RepoFromDir("zeroentropy/zerank-2-reranker", ckpt, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := hubtest.New(t)
	commit := srv.Add(repo)

	c, err := hub.New(&hub.Options{Endpoint: srv.URL, Home: filepath.Join(tmp, "home")})
	if err != nil {
		fmt.Println(err)
		return
	}
	m, err := c.Pull(context.Background(), "zerank-2", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = os.Stat(filepath.Join(m.Dir, "model.onnx"))
	fmt.Println(m.Ref.Repo, m.Family, m.Dtype, m.Commit == commit, err)
	// Output: zeroentropy/zerank-2-reranker zerank fp16 true <nil>
}
