package weaviatestore

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/weaviate/weaviate/entities/models"

	"twostage"
	"twostage/adapters/internal/filterfold"
)

func testDriver(t testing.TB, opts *Options) *Driver {
	t.Helper()
	o, err := opts.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	d := &Driver{class: "Docs", opts: o}
	if o.MetadataKeys != nil {
		d.metaKeys = map[string]bool{}
		for _, k := range o.MetadataKeys {
			d.metaKeys[k] = true
		}
	}
	return d
}

func TestPropNames(t *testing.T) {
	d := testDriver(t, nil)
	for _, tc := range []struct {
		key, prop string
	}{
		{"lang", "lang"},
		{"camelCase_2", "camelCase_2"},
		{"Upper", "tsk_5570706572"}, // Weaviate would lowercase it
		{"text", "tsk_74657874"},    // the text property
		{"twostage_keys", "tsk_74776f73746167655f6b657973"},
		{"id", "tsk_6964"}, // reserved by Weaviate
		{"_x", "tsk_5f78"}, // leading underscore
		{"a-b", "tsk_612d62"},
		{"日本", "tsk_e697a5e69cac"},
		{"tsk_ab", "tsk_74736b5f6162"}, // looks encoded: encode it
	} {
		p, err := d.propName(tc.key)
		if err != nil || p != tc.prop {
			t.Errorf("propName(%q) = %q, %v; want %q", tc.key, p, err, tc.prop)
		}
		if back := keyOf(p); back != tc.key {
			t.Errorf("keyOf(%q) = %q, want %q", p, back, tc.key)
		}
	}
	if _, err := d.propName(strings.Repeat("k", 200)); err != nil {
		t.Errorf("a 200-byte valid key: %v", err)
	}
	if _, err := d.propName(strings.Repeat("-", 120)); !errors.Is(err, twostage.ErrInvalidInput) {
		t.Errorf("a key too long to encode: got %v, want ErrInvalidInput", err)
	}
}

func TestObjectID(t *testing.T) {
	const u = "5c56c793-69f3-4fbf-87e6-c4bf54c28c26"
	if got := ObjectID(u); got != u {
		t.Errorf("ObjectID(canonical uuid) = %q", got)
	}
	a, b := ObjectID("doc-1"), ObjectID("doc-1")
	if a != b || a == "doc-1" || a[14] != '5' {
		t.Errorf("ObjectID(doc-1) = %q, %q; want one deterministic version-5 UUID", a, b)
	}
	if ObjectID(strings.ToUpper(u)) == u {
		t.Error("a non-canonical UUID maps to the canonical one (two ids, one object)")
	}
}

func TestOptions(t *testing.T) {
	for _, o := range []*Options{
		{Dim: -1}, {Metric: "manhattan"}, {IndexType: "ivf"}, {TextKey: "x", IDKey: "x"}, {TextKey: "Bad"}, {IDKey: "has space"},
		{HNSW: HNSW{Ef: -2}}, {HNSW: HNSW{EfConstruction: 3}}, {HNSW: HNSW{MaxConnections: 3}}, {HNSW: HNSW{MaxConnections: 2048}},
		{IndexType: "flat", HNSW: HNSW{Ef: 100}},
	} {
		if _, err := NewDriver(ctx, nil, "Docs", o); !errors.Is(err, twostage.ErrInvalidInput) {
			t.Errorf("options %+v: got %v, want ErrInvalidInput", o, err)
		}
	}
	if _, err := NewDriver(ctx, nil, "Docs", nil); !errors.Is(err, twostage.ErrInvalidInput) {
		t.Errorf("nil client: got %v, want ErrInvalidInput", err)
	}
}

func TestTranslate(t *testing.T) {
	d := testDriver(t, nil)
	props := map[string]*models.Property{
		"lang": {DataType: []string{"text"}}, "tags": {DataType: []string{"text[]"}}, "price": {DataType: []string{"number"}},
		"year": {DataType: []string{"int"}}, "draft": {DataType: []string{"boolean"}}, keysProp: {DataType: []string{"text[]"}},
	}
	tr := translator{d: d, props: props, nullIndex: true}
	for _, tc := range []struct {
		name string
		f    *twostage.Filter
		want string // a fragment of the where clause; "" for a constant
		k    filterfold.Outcome
	}{
		{"eq text", twostage.Eq("lang", "en"), `operator:Equal path:["lang"] valueText:"en"`, filterfold.Native},
		{"eq list", twostage.Eq("tags", "a"), `operator:ContainsAny path:["tags"] valueText:["a"]`, filterfold.Native},
		{"eq int on number", twostage.Eq("price", 3), `valueNumber:3`, filterfold.Native},
		{"eq on int prop", twostage.Eq("year", 2001.0), `valueInt:2001`, filterfold.Native},
		{"eq fraction on int prop", twostage.Eq("year", 2001.5), "", filterfold.None},
		{"gt fraction on int prop", twostage.Gt("year", 2000.5), `operator:GreaterThanEqual path:["year"] valueInt:2001`, filterfold.Native},
		{"lt fraction on int prop", twostage.Lt("year", 2000.5), `operator:LessThanEqual path:["year"] valueInt:2000`, filterfold.Native},
		{"string on number", twostage.Eq("price", "3"), "", filterfold.None},
		{"range on text", twostage.Gt("lang", 1), "", filterfold.None},
		{"missing field", twostage.Eq("nosuch", "x"), "", filterfold.None},
		{"not missing", twostage.Not(twostage.Exists("nosuch")), "", filterfold.All},
		{"and with never", twostage.And(twostage.Eq("lang", "en"), twostage.Eq("nosuch", 1)), "", filterfold.None},
		{"or drops never", twostage.Or(twostage.Eq("lang", "en"), twostage.Eq("nosuch", 1)), `operator:Equal path:["lang"]`, filterfold.Native},
		{"exists", twostage.Exists("lang"), `operator:ContainsAny path:["twostage_keys"] valueText:["lang"]`, filterfold.Native},
		{"in mixed", twostage.In("lang", "en", 3, "de"), `operator:ContainsAny path:["lang"] valueText:["en","de"]`, filterfold.Native},
		{"bool", twostage.Eq("draft", true), `valueBoolean:true`, filterfold.Native},
		{"not", twostage.Not(twostage.Eq("draft", true)), `operator:Not operands:[`, filterfold.Native},
	} {
		nf, err := tc.f.Normalize()
		if err != nil {
			t.Fatal(err)
		}
		c, err := tr.translate(nf)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if c.Outcome != tc.k {
			t.Errorf("%s: outcome %d, want %d", tc.name, c.Outcome, tc.k)
			continue
		}
		squash := func(s string) string { return strings.ReplaceAll(s, " ", "") }
		if tc.want != "" && !strings.Contains(squash(c.C.String()), squash(tc.want)) {
			t.Errorf("%s: where %s, want it to contain %s", tc.name, c.C.String(), tc.want)
		}
	}
	// Without the key list and the null-state index, Exists cannot be said.
	bare := translator{d: d, props: map[string]*models.Property{"lang": {DataType: []string{"text"}}}}
	if _, err := bare.translate(twostage.Exists("lang")); !errors.Is(err, twostage.ErrUnsupported) {
		t.Errorf("exists on a bare class: got %v, want ErrUnsupported", err)
	}
}

var ctx = context.Background()
