package validate

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// unknownFieldPrefix starts encoding/json's error for an object key that a
// Decoder with DisallowUnknownFields has no field for.
const unknownFieldPrefix = "json: unknown field "

// UnknownField returns the key named by encoding/json's unknown-field error
// (a Decoder with DisallowUnknownFields), and false for any other error.
func UnknownField(err error) (string, bool) {
	if err == nil {
		return "", false
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, unknownFieldPrefix) {
		return "", false
	}
	name, uerr := strconv.Unquote(strings.TrimPrefix(msg, unknownFieldPrefix))
	if uerr != nil {
		return "", false
	}
	return name, true
}

// UnknownFieldMessage says that name is not a field: `unknown field "topn"`,
// with ` (did you mean "top_n"?)` when Near finds one of names.
func UnknownFieldMessage(name string, names []string) string {
	msg := fmt.Sprintf("unknown field %q", name)
	if near := Near(name, names); near != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", near)
	}
	return msg
}

// Near returns the name in names that name is most likely a misspelling
// of, or "" when none is near: the same letters without case, '_' and '-'
// (topN, top-n for top_n), else at most one edit away for names of up to
// four characters and two for longer ones (metdata for metadata, top_k for
// top_n). Ties go to the earlier name.
func Near(name string, names []string) string {
	norm := func(s string) string {
		return strings.ToLower(strings.NewReplacer("_", "", "-", "").Replace(s))
	}
	for _, n := range names {
		if n != name && norm(n) == norm(name) {
			return n
		}
	}
	limit := 2
	if len([]rune(name)) <= 4 {
		limit = 1
	}
	best, bestDist := "", limit+1
	for _, n := range names {
		if d := editDistance(strings.ToLower(name), strings.ToLower(n)); n != name && d < bestDist {
			best, bestDist = n, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in runes.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev, cur := make([]int, len(rb)+1), make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// JSONKeys returns the keys of the JSON object that v marshals to, sorted:
// the field names a decoder of v's type knows, when every field of v is
// set (or has no omitempty). It panics when v does not marshal to an
// object, a programming error.
func JSONKeys(v any) []string {
	b, err := json.Marshal(v)
	var m map[string]json.RawMessage
	if err == nil {
		err = json.Unmarshal(b, &m)
	}
	if err != nil || m == nil {
		panic(errors.New("validate: JSONKeys: " + fmt.Sprint(err) + ": not an object"))
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
