package validate_test

import (
	"encoding/json"
	"errors"
	"testing"

	"twostage/errdefs"
	"twostage/internal/validate"
)

func TestJSONID(t *testing.T) {
	for _, tc := range []struct {
		raw, want, wantErr string
	}{
		{`"a1"`, "a1", ""},
		{`"  "`, "  ", ""},
		{`3`, "3", ""},
		{`1e3`, "1e3", ""},
		{`-0.5`, "-0.5", ""},
		{``, "", `missing "_id"`},
		{`null`, "", `missing "_id"`},
		{`""`, "", `empty "_id"`},
		{`{}`, "", `"_id" must be a string or a number, got {}`},
		{`[1]`, "", `"_id" must be a string or a number, got [1]`},
		{`true`, "", `"_id" must be a string or a number, got true`},
	} {
		got, err := validate.JSONID("_id", json.RawMessage(tc.raw))
		if tc.wantErr == "" {
			if err != nil || got != tc.want {
				t.Errorf("JSONID(%s) = %q, %v; want %q", tc.raw, got, err, tc.want)
			}
			continue
		}
		if err == nil || err.Error() != tc.wantErr+": "+errdefs.ErrInvalidInput.Error() || !errors.Is(err, errdefs.ErrInvalidInput) {
			t.Errorf("JSONID(%s) = %q, %v; want an ErrInvalidInput %q", tc.raw, got, err, tc.wantErr)
		}
	}
}

// TestNormalizeValueEmptyList: an empty list, nil or not, is an empty,
// non-nil list (JSON [], not null), as every backend reads it back.
func TestNormalizeValueEmptyList(t *testing.T) {
	for _, v := range []any{[]string{}, []any{}, []string(nil), []any(nil)} {
		got, err := validate.NormalizeValue(v)
		if ss, ok := got.([]string); err != nil || !ok || ss == nil || len(ss) != 0 {
			t.Errorf("NormalizeValue(%#v) = %#v, %v; want []string{}", v, got, err)
		}
	}
}
