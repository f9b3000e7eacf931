package weaviatestore

import (
	"fmt"
	"strings"

	"twostage"
)

// HNSW holds the settings of a class's HNSW vector index that decide the
// quality and cost of its searches, under Weaviate's names (the class's
// vectorIndexConfig ef, efConstruction and maxConnections). In Options a
// zero field means Weaviate's default.
//
// Weaviate's HNSW search is approximate: it explores the graph with a
// candidate list of ef entries and can miss a true neighbour. With ef at
// least the number of objects in the class, the search explores every node
// reachable from the entry point, so it is exact wherever the graph is
// connected (HNSW graphs with the default maxConnections practically always
// are); a larger ef costs search time in proportion.
type HNSW struct {
	// Ef is the candidate list size of a search (at least the search's
	// limit). -1 is Weaviate's default, dynamic ef: the limit times
	// dynamicEfFactor (8), kept within [dynamicEfMin, dynamicEfMax]
	// ([100, 500]). Weaviate lets ef change on an existing class.
	Ef int
	// EfConstruction is the candidate list size while inserting (Weaviate's
	// default 128; at least 4): larger builds a better graph, more slowly.
	// Fixed once the class exists.
	EfConstruction int
	// MaxConnections is the number of edges a node keeps per layer
	// (Weaviate's default 32, twice that on the bottom layer; 4 to 2047).
	// Fixed once the class exists.
	MaxConnections int
}

// IsZero reports whether h asks for nothing beyond Weaviate's defaults.
func (h HNSW) IsZero() bool { return h == HNSW{} }

// String writes h as "ef=N efConstruction=N maxConnections=N", leaving out
// zero fields.
func (h HNSW) String() string {
	var parts []string
	for _, f := range h.fields() {
		if f.v != 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", f.name, f.v))
		}
	}
	return strings.Join(parts, " ")
}

type hnswField struct {
	name string // Weaviate's vectorIndexConfig key
	v    int
}

func (h HNSW) fields() []hnswField {
	return []hnswField{{"ef", h.Ef}, {"efConstruction", h.EfConstruction}, {"maxConnections", h.MaxConnections}}
}

// check validates h as options for a class of indexType.
func (h HNSW) check(indexType string) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("weaviatestore: hnsw "+format+": %w", append(args, twostage.ErrInvalidInput)...)
	}
	switch {
	case !h.IsZero() && indexType != "hnsw":
		return bad("settings %s on a %s index", h, indexType)
	case h.Ef < -1:
		return bad("ef %d: want -1 (dynamic), 0 (default) or a positive number", h.Ef)
	case h.EfConstruction != 0 && h.EfConstruction < 4:
		return bad("efConstruction %d: want 0 (default) or at least 4", h.EfConstruction)
	case h.MaxConnections != 0 && (h.MaxConnections < 4 || h.MaxConnections > 2047):
		return bad("maxConnections %d: want 0 (default) or 4 to 2047", h.MaxConnections)
	}
	return nil
}

// apply sets h's nonzero fields in a new class's vectorIndexConfig.
func (h HNSW) apply(cfg map[string]any) {
	for _, f := range h.fields() {
		if f.v != 0 {
			cfg[f.name] = f.v
		}
	}
}

// readHNSW reads the HNSW settings of a class's vectorIndexConfig (JSON
// numbers decode as float64); absent keys read as zero.
func readHNSW(cfg map[string]any) HNSW {
	num := func(k string) int {
		switch v := cfg[k].(type) {
		case float64:
			return int(v)
		case int:
			return v
		case int64:
			return int(v)
		}
		return 0
	}
	return HNSW{Ef: num("ef"), EfConstruction: num("efConstruction"), MaxConnections: num("maxConnections")}
}

// matchHNSW compares the settings asked for (want, zero fields meaning any)
// with those of the existing class (have). A difference is an error: Open
// never changes an existing class's index.
func matchHNSW(class, indexType string, want, have HNSW) error {
	if want.IsZero() {
		return nil
	}
	if indexType != "hnsw" {
		return fmt.Errorf("weaviatestore: class %q has a %s index, options ask for hnsw settings %s: %w", class, indexType, want, twostage.ErrInvalidInput)
	}
	h := have.fields()
	for i, f := range want.fields() {
		if f.v != 0 && f.v != h[i].v {
			hint := "fixed when the class was created"
			if f.name == "ef" {
				hint = "Open does not change it; update the class's vectorIndexConfig with Weaviate's API"
			}
			return fmt.Errorf("weaviatestore: class %q has hnsw %s %d, options say %d (%s): %w", class, f.name, h[i].v, f.v, hint, twostage.ErrInvalidInput)
		}
	}
	return nil
}

// HNSW returns the HNSW settings of the class as Open read them (the
// values Weaviate filled in for those left at default: ef -1 for dynamic),
// or the zero HNSW for a class with another index type.
func (d *Driver) HNSW() HNSW { return d.hnsw }
