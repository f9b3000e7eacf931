package layout

import (
	"errors"
	"strings"
	"testing"
	"time"

	"twostage"
	"twostage/retry"
)

// TestUUID pins the derivation: stored ids depend on it, so any change
// would orphan every document written before.
func TestUUID(t *testing.T) {
	const canonical = "123e4567-e89b-12d3-a456-426614174000"
	if got := UUID(canonical); got != canonical {
		t.Errorf("a canonical UUID maps to %s, want itself", got)
	}
	upper := strings.ToUpper(canonical)
	if got := UUID(upper); got == canonical || got != "47d78196-6564-5bff-b1e5-55a0572c301e" {
		t.Errorf("UUID(%s) = %s: a non-canonical UUID is derived like any id (two ids, two records)", upper, got)
	}
	if got := UUID("doc-1"); got != "0fbc2399-0b64-520a-9542-83fc3bb1e9bf" {
		t.Errorf("UUID(doc-1) = %s, want UUIDv5(URL, twostage:doc-1)", got)
	}
}

func TestFill(t *testing.T) {
	var text, id string
	var batch int
	var p retry.Policy
	o := Options{TextKey: &text, IDKey: &id, BatchSize: &batch, Retry: &p}
	if err := o.Fill("pkg"); err != nil {
		t.Fatal(err)
	}
	if text != TextKey || id != IDKey || batch != BatchSize || p.Attempts != 4 || p.Initial != 100*time.Millisecond || p.Max != 2*time.Second {
		t.Errorf("defaults: %q %q %d %+v", text, id, batch, p)
	}
	tests := []struct {
		name string
		dim  int
		m    twostage.Metric
		id   string
		msg  string
	}{
		{"negative dim", -1, "", "x", "pkg: dimension -1: invalid input"},
		{"bad metric", 0, "manhattan", "x", `pkg: unknown metric "manhattan": invalid input`},
		{"same keys", 0, "", TextKey, `pkg: TextKey and IDKey are both "text": invalid input`},
	}
	for _, tc := range tests {
		text, id, batch = "", tc.id, 0
		err := Options{Dim: tc.dim, Metric: tc.m, TextKey: &text, IDKey: &id, BatchSize: &batch, Retry: &p}.Fill("pkg")
		if !errors.Is(err, twostage.ErrInvalidInput) || err.Error() != tc.msg {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.msg)
		}
	}
}

func TestStrings(t *testing.T) {
	str := func(v any) (string, bool) { s, ok := v.(string); return s, ok }
	if ss, ok := Strings([]any{"a", "b"}, str); !ok || len(ss) != 2 || ss[0] != "a" || ss[1] != "b" {
		t.Errorf("Strings(a, b) = %v, %v", ss, ok)
	}
	if ss, ok := Strings([]any{"a", 1}, str); ok || ss != nil {
		t.Errorf("Strings(a, 1) = %v, %v; want nil, false", ss, ok)
	}
	// An empty list reads back as an empty list, not nil: the portable
	// layer keeps []string{} as it was given (JSON [], not null).
	if ss, ok := Strings([]any{}, str); !ok || ss == nil || len(ss) != 0 {
		t.Errorf("Strings() = %#v, %v; want []string{}, true", ss, ok)
	}
}

func TestPut(t *testing.T) {
	var md map[string]any
	Put(&md, "a", int64(1))
	Put(&md, "b", "x")
	if len(md) != 2 || md["a"] != int64(1) || md["b"] != "x" {
		t.Errorf("Put into a nil map: %v, want map[a:1 b:x]", md)
	}
}

func TestCreatedAndAttached(t *testing.T) {
	info, err := Created("pkg", "class", "Docs", twostage.Info{Dim: 3})
	if err != nil || info != (twostage.Info{Dim: 3, Metric: twostage.Cosine}) {
		t.Errorf("Created(Dim 3) = %+v, %v; want Dim 3 and the default Cosine", info, err)
	}
	if info, err := Created("pkg", "class", "Docs", twostage.Info{Dim: 3, Metric: twostage.L2}); err != nil || info.Metric != twostage.L2 {
		t.Errorf("Created(Dim 3, L2) = %+v, %v; want L2 kept", info, err)
	}
	_, err = Created("pkg", "class", "Docs", twostage.Info{Metric: twostage.Dot})
	if want := `pkg: class "Docs" does not exist and Options.Dim is not set: invalid input`; !errors.Is(err, twostage.ErrInvalidInput) || err.Error() != want {
		t.Errorf("Created without Dim: err = %v, want %q", err, want)
	}

	got := twostage.Info{Dim: 3, Metric: twostage.Dot}
	for _, tc := range []struct {
		name     string
		want     twostage.Info
		sentinel error
		msg      string
	}{
		{"options say nothing", twostage.Info{}, nil, ""},
		{"options agree", got, nil, ""},
		{"other dim", twostage.Info{Dim: 4}, twostage.ErrDimension, `pkg: collection "docs" holds 3-dimensional vectors, options say 4: dimension mismatch`},
		{"other metric", twostage.Info{Metric: twostage.L2}, twostage.ErrInvalidInput, `pkg: collection "docs" uses dot, options say l2: invalid input`},
	} {
		err := Attached("pkg", "collection", "docs", tc.want, got)
		if tc.sentinel == nil {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if !errors.Is(err, tc.sentinel) || err.Error() != tc.msg {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.msg)
		}
	}
}

func TestBatchMessage(t *testing.T) {
	ids := []string{"a", "b\"q", "c", "d", "e", "f", "g", "h", "i", "j", "k"}
	causes := map[string]string{"a": "wrong type", "i": "never shown"}
	for _, tc := range []struct {
		name   string
		failed []string
		cause  func(string) string
		err    error
		want   string
	}{
		{"two, no causes", ids[:2], nil, errors.New("down"), `pkg: upsert: 2 of 20 documents failed ("a", "b\"q"): down`},
		{"causes, no error", ids[:3], func(id string) string { return causes[id] }, nil,
			`pkg: upsert: 3 of 20 documents failed ("a": wrong type, "b\"q", "c")`},
		{"more than eight", ids, func(id string) string { return causes[id] }, twostage.ErrUnavailable,
			`pkg: upsert: 11 of 20 documents failed ("a": wrong type, "b\"q", "c", "d", "e", "f", "g", "h", and 3 more): unavailable`},
	} {
		if got := BatchMessage("pkg", "upsert", tc.failed, 20, tc.cause, tc.err); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}

func TestDistinct(t *testing.T) {
	docs := []twostage.Document{{ID: "a"}, {ID: "b"}, {ID: UUID("a")}}
	if err := Distinct("pkg", docs[:2], UUID); err != nil {
		t.Errorf("Distinct(a, b) = %v, want nil", err)
	}
	err := Distinct("pkg", docs, UUID)
	if !errors.Is(err, twostage.ErrInvalidInput) || !strings.Contains(err.Error(), `ids "a" and "`+UUID("a")+`"`) {
		t.Errorf("Distinct(a, b, UUID(a)) = %v, want an ErrInvalidInput naming both ids", err)
	}
}
