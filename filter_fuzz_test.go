package twostage_test

import (
	"encoding/json"
	"testing"

	"twostage"
	"twostage/driver"
	"twostage/internal/filterspec"
)

// fuzzMetadata are the documents FuzzFilterMatch evaluates filters on:
// every portable type, missing fields, and numbers on the seeds' bounds.
var fuzzMetadata = []map[string]any{
	{},
	{"n": int64(3)},
	{"n": 2.5},
	{"n": int64(-1), "s": "a"},
	{"n": 3.0, "b": false},
	{"s": "b", "n": int64(4)},
	{"l": []string{"a", "b"}, "n": int64(2)},
	{"l": []string{"c"}, "s": "c", "b": true},
	{"l": []string{}, "x": ""},
	{"n": int64(1) << 53, "s": "3"},
}

// FuzzFilterMatch decodes a filter from JSON and checks Filter.Match against
// filterspec, an evaluator written from the documented semantics, on every
// document of fuzzMetadata; and that normalizing twice changes nothing.
// Run: go test -run '^$' -fuzz FuzzFilterMatch .
func FuzzFilterMatch(f *testing.F) {
	for _, s := range []string{
		`{"op":"range","field":"n","lt":3}`,
		`{"op":"range","field":"n","lte":2.5}`,
		`{"op":"range","field":"n","gt":2.5}`,
		`{"op":"range","field":"n","gte":3}`,
		`{"op":"range","field":"n","gt":-1,"lt":4}`,
		`{"op":"range","field":"s","gte":0}`,
		`{"op":"range","field":"l","lt":9}`,
		`{"op":"eq","field":"n","value":3}`,
		`{"op":"eq","field":"n","value":"3"}`,
		`{"op":"eq","field":"s","value":"a"}`,
		`{"op":"eq","field":"s","value":3}`,
		`{"op":"eq","field":"l","value":"b"}`,
		`{"op":"eq","field":"b","value":false}`,
		`{"op":"eq","field":"x","value":""}`,
		`{"op":"in","field":"l","values":["z","b"]}`,
		`{"op":"in","field":"n","values":[2,"a",2.5]}`,
		`{"op":"exists","field":"l"}`,
		`{"op":"not","filters":[{"op":"exists","field":"s"}]}`,
		`{"op":"not","filters":[{"op":"range","field":"n","lt":3}]}`,
		`{"op":"and","filters":[{"op":"eq","field":"s","value":"a"},{"op":"range","field":"n","lte":-1}]}`,
		`{"op":"or","filters":[{"op":"eq","field":"b","value":true},{"op":"in","field":"n","values":[9007199254740992]}]}`,
		`{"op":"and","filters":[]}`, `{"op":"like","field":"s"}`, `null`, `{`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var raw twostage.Filter
		if json.Unmarshal(data, &raw) != nil {
			return
		}
		nf, err := raw.Normalize()
		if err != nil {
			return
		}
		again, err := nf.Normalize()
		if err != nil {
			t.Fatalf("a normalized filter does not normalize again: %v (%s)", err, data)
		}
		for _, md := range fuzzMetadata {
			norm, err := driver.NormalizeMetadata(md)
			if err != nil {
				t.Fatal(err)
			}
			want := filterspec.Match(nf, norm)
			if got := nf.Match(norm); got != want {
				t.Errorf("filter %s on %v: Match = %v, the documented semantics say %v", data, md, got, want)
			}
			if got := again.Match(norm); got != want {
				t.Errorf("filter %s normalized twice on %v: Match = %v, want %v", data, md, got, want)
			}
		}
	})
}
