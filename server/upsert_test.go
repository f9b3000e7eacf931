package server_test

import (
	"strings"
	"testing"
)

// TestUpsertRefusesNothingToEmbed: a document without a vector whose text
// is missing or blank ({"id":"mars","txt":"..."}, a typo) would be stored
// with the embedding of "" and replace the stored document's text; the
// upsert is a 400 that writes nothing. A vector with no text stays valid.
func TestUpsertRefusesNothingToEmbed(t *testing.T) {
	e := start(t, baseConfig, nil, nil)
	e.index("docs")
	for _, body := range []string{
		`{"documents":[{"id":"venus","text":"kept"},{"id":"mars","txt":"typo"}]}`,
		`{"documents":[{"id":"venus","text":"kept"},{"id":"mars","text":" \n"}]}`,
	} {
		r := e.do("POST", "/v1/collections/docs/documents", body, "")
		if r.status != 400 {
			t.Fatalf("%s: status %d %s, want 400", body, r.status, r.body)
		}
		if eb := r.errorBody(t); eb.Code != "invalid_input" || !strings.Contains(eb.Message, `"mars"`) {
			t.Errorf("%s: error %+v, want invalid_input naming mars", body, eb)
		}
	}
	r := e.do("POST", "/v1/search", `{"query":"red planet iron oxide","top_n":1}`, "")
	var out struct {
		Hits []struct{ ID, Text string } `json:"hits"`
	}
	r.decode(t, &out)
	if len(out.Hits) != 1 || out.Hits[0].ID != "mars" || !strings.Contains(out.Hits[0].Text, "iron oxide") {
		t.Errorf("after refused upserts: hits %+v, want mars with its text", out.Hits)
	}
	vec := `[` + strings.TrimSuffix(strings.Repeat("0.125,", 64), ",") + `]`
	if r := e.do("POST", "/v1/collections/docs/documents", `{"documents":[{"id":"v","vector":`+vec+`}]}`, ""); r.status != 200 {
		t.Errorf("vector without text: %d %s", r.status, r.body)
	}
}
