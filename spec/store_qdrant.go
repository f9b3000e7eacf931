package spec

import (
	"context"

	"twostage"
	"twostage/adapters/qdrantstore"
)

// The qdrant://HOST:PORT/COLLECTION scheme opens a collection on a Qdrant
// server through its gRPC port (6334 by default), creating it with the
// embedder's dimension when it does not exist.
func init() {
	mustRegister(RegisterStore("qdrant", "Qdrant server over gRPC; qdrant://HOST:PORT/COLLECTION, or with ?vector=NAME&text_key=KEY&id_key=KEY&exact=1", openQdrant, nil))
}

func openQdrant(ctx context.Context, spec string, info twostage.Info) (*twostage.Store, error) {
	addr, coll, q, err := serverSpec("qdrant", spec, "collection", "vector", "text_key", "id_key", "exact")
	if err != nil {
		return nil, err
	}
	exact, err := boolOption("qdrant", q, "exact")
	if err != nil {
		return nil, err
	}
	opts := &qdrantstore.Options{
		Dim: info.Dim, Metric: info.Metric,
		VectorName: q.Get("vector"), TextKey: q.Get("text_key"), IDKey: q.Get("id_key"),
		Exact: exact,
	}
	return qdrantstore.Dial(ctx, addr, coll, opts)
}
