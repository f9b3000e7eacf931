package hub_test

import (
	"context"
	"fmt"

	"twostage/hub"
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

// Pull downloads the checkpoint (once per commit) and converts it; the
// model directory then opens with rerank.Open.
func ExampleClient_Pull() {
	c, err := hub.New(nil) // HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE, TWOSTAGE_HOME
	if err != nil {
		fmt.Println(err)
		return
	}
	m, err := c.Pull(context.Background(), "zerank-2", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m.Dir)
}
