package twostage_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"twostage"
)

// gt, gte, lt and lte are accepted from JSON beside range and mean the same
// one-bound range.
func TestFilterComparisonOps(t *testing.T) {
	md := map[string]any{"year": int64(2020)}
	for _, tc := range []struct {
		json string
		want bool
	}{
		{`{"op":"gt","field":"year","value":2019}`, true},
		{`{"op":"gt","field":"year","value":2020}`, false},
		{`{"op":"gte","field":"year","value":2020}`, true},
		{`{"op":"lt","field":"year","value":2020}`, false},
		{`{"op":"lte","field":"year","value":2020.0}`, true},
		{`{"op":"not","filters":[{"op":"lt","field":"year","value":2021}]}`, false},
	} {
		var f twostage.Filter
		if err := json.Unmarshal([]byte(tc.json), &f); err != nil {
			t.Fatal(err)
		}
		n, err := f.Normalize()
		if err != nil {
			t.Fatalf("%s: %v", tc.json, err)
		}
		if got := n.Match(md); got != tc.want {
			t.Errorf("%s on year 2020: match %v, want %v", tc.json, got, tc.want)
		}
	}
	for _, bad := range []string{`{"op":"gt","field":"year","value":"x"}`, `{"op":"gt","value":1}`, `{"op":"like","field":"a","value":1}`} {
		var f twostage.Filter
		json.Unmarshal([]byte(bad), &f)
		_, err := f.Normalize()
		if !errors.Is(err, twostage.ErrInvalidInput) || strings.Count(err.Error(), "twostage:") != 1 {
			t.Errorf("%s: error %v, want ErrInvalidInput with one package prefix", bad, err)
		}
	}
}
