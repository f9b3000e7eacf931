package main

import (
	"context"
	"net/url"
	"strings"

	"twostage"
	"twostage/adapters/qdrantstore"
)

// The qdrant://HOST:PORT/COLLECTION scheme opens a collection on a Qdrant
// server through its gRPC port (6334 by default), creating it with the
// embedder's dimension when it does not exist.
func init() {
	registerStore("qdrant", "Qdrant server over gRPC; qdrant://HOST:PORT/COLLECTION, or with ?vector=NAME&text_key=KEY&id_key=KEY&exact=1", openQdrant)
}

func openQdrant(ctx context.Context, spec string, info twostage.Info) (*twostage.Store, error) {
	addr, coll, q, err := serverSpec("qdrant", spec, "collection", "vector", "text_key", "id_key", "exact")
	if err != nil {
		return nil, err
	}
	opts := &qdrantstore.Options{
		Dim: info.Dim, Metric: info.Metric,
		VectorName: q.Get("vector"), TextKey: q.Get("text_key"), IDKey: q.Get("id_key"),
		Exact: q.Get("exact") == "1" || q.Get("exact") == "true",
	}
	return qdrantstore.Dial(ctx, addr, coll, opts)
}

// serverSpec splits "SCHEME://HOST:PORT/NAME?k=v" and checks the option keys.
func serverSpec(scheme, spec, what string, keys ...string) (addr, name string, q url.Values, err error) {
	rest := specArg(spec)
	rest, query, _ := strings.Cut(rest, "?")
	addr, name, _ = strings.Cut(rest, "/")
	if addr == "" || name == "" || strings.Contains(name, "/") {
		return "", "", nil, usageErr("%s store %q: want %s://HOST:PORT/%s", scheme, spec, scheme, strings.ToUpper(what))
	}
	q, err = url.ParseQuery(query)
	if err != nil {
		return "", "", nil, usageErr("%s store options %q: %v", scheme, query, err)
	}
	for k := range q {
		known := false
		for _, want := range keys {
			known = known || k == want
		}
		if !known {
			return "", "", nil, usageErr("%s store: unknown option %q (known: %s)", scheme, k, strings.Join(keys, ", "))
		}
	}
	return addr, name, q, nil
}
