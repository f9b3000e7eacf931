package spec

import (
	"context"
	"strconv"

	"twostage"
	"twostage/adapters/weaviatestore"
)

// The weaviate://HOST:PORT/CLASS scheme opens a class on a Weaviate server
// through its REST port (8080 by default), creating it with the embedder's
// dimension when it does not exist. ef, ef_construction and
// max_connections set the HNSW index of a class it creates (Weaviate's ef,
// efConstruction, maxConnections; see weaviatestore.HNSW) and must match
// an existing class's.
func init() {
	mustRegister(RegisterStore("weaviate", "Weaviate server; weaviate://HOST:PORT/CLASS, or with ?text_key=KEY&id_key=KEY&index=hnsw|flat&tls=1"+
		" and HNSW settings ef=N (-1: dynamic), ef_construction=N, max_connections=N", openWeaviate, nil))
}

func openWeaviate(ctx context.Context, spec string, info twostage.Info) (*twostage.Store, error) {
	addr, class, q, err := serverSpec("weaviate", spec, "class", "text_key", "id_key", "index", "tls", "ef", "ef_construction", "max_connections")
	if err != nil {
		return nil, err
	}
	var hnsw weaviatestore.HNSW
	for _, o := range []struct {
		key string
		p   *int
	}{{"ef", &hnsw.Ef}, {"ef_construction", &hnsw.EfConstruction}, {"max_connections", &hnsw.MaxConnections}} {
		key, p := o.key, o.p
		v := q.Get(key)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 && !(key == "ef" && n == -1) {
			return nil, badf("weaviate store option %s=%q: want a non-negative integer (ef: or -1)", key, v)
		}
		*p = n
	}
	tls, err := boolOption("weaviate", q, "tls")
	if err != nil {
		return nil, err
	}
	if tls {
		addr = "https://" + addr
	}
	return weaviatestore.Dial(ctx, addr, class, &weaviatestore.Options{
		Dim: info.Dim, Metric: info.Metric,
		TextKey: q.Get("text_key"), IDKey: q.Get("id_key"), IndexType: q.Get("index"), HNSW: hnsw,
	})
}
