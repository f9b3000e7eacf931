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

// separators drops the '_' and '-' that Near ignores.
var separators = strings.NewReplacer("_", "", "-", "")

// Near returns the name in names that name is most likely a misspelling
// of, or "" when none is near: the same letters without case, '_' and '-'
// (topN, top-n for top_n), else at most one edit away for names of up to
// four characters and two for longer ones (metdata for metadata, top_k for
// top_n; a swap of neighbours is one edit). Ties go to the earlier name.
func Near(name string, names []string) string {
	norm := func(s string) string { return strings.ToLower(separators.Replace(s)) }
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

// editDistance is the optimal string alignment distance between a and b,
// in runes: insertions, deletions, substitutions and transpositions of
// neighbours ("pari" is one edit from "pair").
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
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

// Misspelt returns the first key of the JSON object obj (in sorted order)
// that is not in known but near one of them that obj lacks (Near), or "":
// a reader that passes over keys it does not read, such as a corpus line's
// id and metadata, refuses the likely typos of the keys it does read
// ("pari" for "pair") rather than drop them (UnknownFieldMessage says so).
// A key near a read key that obj also holds is another key, not a typo of
// it ("id" or "pid" beside BEIR's "_id"): the read key is read and nothing
// is dropped. Keys match known ones without regard to case, as
// encoding/json takes them. obj that is not an object gives "": the
// decoder reports it.
func Misspelt(obj []byte, known []string) string {
	var m map[string]skipValue // the keys alone: values are not copied
	if json.Unmarshal(obj, &m) != nil {
		return ""
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	has := func(names []string, k string) bool {
		return slices.ContainsFunc(names, func(n string) bool { return strings.EqualFold(n, k) })
	}
	var absent []string
	for _, n := range known {
		if !has(keys, n) {
			absent = append(absent, n)
		}
	}
	for _, k := range keys {
		if !has(known, k) && Near(k, absent) != "" {
			return k
		}
	}
	return ""
}

// skipValue decodes any JSON value to nothing: Misspelt reads a line's keys
// without copying its values (a corpus line's text), as json.RawMessage
// would.
type skipValue struct{}

// UnmarshalJSON implements json.Unmarshaler.
func (*skipValue) UnmarshalJSON([]byte) error { return nil }
