package validate

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestNear(t *testing.T) {
	names := []string{"query", "collection", "top_n", "candidate_k", "min_score", "metadata", "ids", "lte", "gte"}
	for _, tc := range []struct{ name, want string }{
		{"topn", "top_n"},
		{"topN", "top_n"},
		{"top-n", "top_n"},
		{"top_k", "top_n"},
		{"minScore", "min_score"},
		{"metdata", "metadata"},
		{"meta_data", "metadata"},
		{"id", "ids"},
		{"lte_", "lte"},
		{"colour", ""},
		{"filter", ""},
		{"x", ""},
		{"pari", ""},
		{"query", ""}, // a known name is no misspelling of itself
	} {
		if got := Near(tc.name, names); got != tc.want {
			t.Errorf("Near(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestUnknownField(t *testing.T) {
	var v struct {
		A int `json:"a"`
	}
	dec := json.NewDecoder(strings.NewReader(`{"a":1,"b\"c":2}`))
	dec.DisallowUnknownFields()
	err := dec.Decode(&v)
	name, ok := UnknownField(err)
	if !ok || name != `b"c` {
		t.Fatalf("UnknownField(%v) = %q %v, want %q true", err, name, ok, `b"c`)
	}
	if _, ok := UnknownField(errors.New("json: cannot unmarshal")); ok {
		t.Error("UnknownField took another error for an unknown field")
	}
	if got, want := UnknownFieldMessage("topn", []string{"top_n"}), `unknown field "topn" (did you mean "top_n"?)`; got != want {
		t.Errorf("UnknownFieldMessage = %q, want %q", got, want)
	}
	if got, want := UnknownFieldMessage("colour", []string{"top_n"}), `unknown field "colour"`; got != want {
		t.Errorf("UnknownFieldMessage = %q, want %q", got, want)
	}
}

func TestJSONKeys(t *testing.T) {
	type inner struct {
		C string `json:"c"`
	}
	v := struct {
		A int    `json:"a"`
		B string `json:"b,omitempty"`
		inner
		d int
	}{}
	if got, want := JSONKeys(v), []string{"a", "c"}; !slices.Equal(got, want) {
		t.Errorf("JSONKeys = %q, want %q (an empty omitempty field left out)", got, want)
	}
}

func TestMisspelt(t *testing.T) {
	known := []string{"text", "pair"}
	for _, tc := range []struct{ obj, want string }{
		{`{"text":"a","pair":"b"}`, ""},
		{`{"Text":"a","PAIR":"b"}`, ""},
		{`{"id":"x","text":"a","metadata":{"k":1}}`, ""},
		{`{"text":"a","pari":"b"}`, "pari"},
		{`{"txt":"a","zpair":"b"}`, "txt"},
		{`[1,2]`, ""},
		// A key near a read key that the object also holds is another key:
		// the read key is read, nothing is dropped.
		{`{"text":"a","texts":["b"]}`, ""},
		{`{"TEXT":"a","next":"b"}`, ""},
		{`{"texts":["b"]}`, "texts"},
		{`{"text":"a","pair":"b","pairs":"c"}`, ""},
		{`{"text":"a","pairs":"c"}`, "pairs"},
	} {
		if got := Misspelt([]byte(tc.obj), known); got != tc.want {
			t.Errorf("Misspelt(%s) = %q, want %q", tc.obj, got, tc.want)
		}
	}
	// BEIR's read keys: ids beside "_id" are not misspellings of it.
	beir := []string{"_id", "title", "text"}
	for _, tc := range []struct{ obj, want string }{
		{`{"_id":"1","id":"x","qid":"y","pid":"z","text":"a"}`, ""},
		{`{"_id":"1","tilte":"T","text":"a"}`, "tilte"},
		{`{"id":"1","text":"a"}`, "id"},
	} {
		if got := Misspelt([]byte(tc.obj), beir); got != tc.want {
			t.Errorf("Misspelt(%s, BEIR) = %q, want %q", tc.obj, got, tc.want)
		}
	}
}
