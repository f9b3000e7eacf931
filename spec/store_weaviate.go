package spec

import (
	"context"

	"twostage"
	"twostage/adapters/weaviatestore"
)

// The weaviate://HOST:PORT/CLASS scheme opens a class on a Weaviate server
// through its REST port (8080 by default), creating it with the embedder's
// dimension when it does not exist.
func init() {
	mustRegister(RegisterStore("weaviate", "Weaviate server; weaviate://HOST:PORT/CLASS, or with ?text_key=KEY&id_key=KEY&index=hnsw|flat&tls=1", openWeaviate, nil))
}

func openWeaviate(ctx context.Context, spec string, info twostage.Info) (*twostage.Store, error) {
	addr, class, q, err := serverSpec("weaviate", spec, "class", "text_key", "id_key", "index", "tls")
	if err != nil {
		return nil, err
	}
	if t := q.Get("tls"); t == "1" || t == "true" {
		addr = "https://" + addr
	}
	return weaviatestore.Dial(ctx, addr, class, &weaviatestore.Options{
		Dim: info.Dim, Metric: info.Metric,
		TextKey: q.Get("text_key"), IDKey: q.Get("id_key"), IndexType: q.Get("index"),
	})
}
