package server

import (
	"errors"
	"strings"
	"testing"

	"twostage"
)

func TestExpandVars(t *testing.T) {
	env := map[string]string{"DATA_DIR": "/srv/data", "EMPTY": "", "PORT": "9000"}
	getenv := func(k string) string { return env[k] }
	for _, tc := range []struct{ in, want, err string }{
		{"faiss:${DATA_DIR}/docs", "faiss:/srv/data/docs", ""},
		{"${DATA_DIR}:${PORT}", "/srv/data:9000", ""},
		{"faiss:${UNSET}/docs", "", "${UNSET} is unset or empty"},
		{"faiss:${EMPTY}/docs", "", "${EMPTY} is unset or empty"},
		{"faiss:${UNSET:-/tmp/x}/docs", "faiss:/tmp/x/docs", ""},
		{"faiss:${EMPTY:-/tmp/y}", "faiss:/tmp/y", ""},
		{"faiss:${DATA_DIR:-/tmp/z}", "faiss:/srv/data", ""},
		{"listen: ${PORT:-}", "listen: 9000", ""},
		{"${UNSET:-}", "", ""},
		{"no references, $HOME and ${1X} left alone", "no references, $HOME and ${1X} left alone", ""},
	} {
		got, err := expandVars(tc.in, getenv)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, twostage.ErrInvalidInput)):
			t.Errorf("expandVars(%q) = %q, %v; want error %q", tc.in, got, err, tc.err)
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("expandVars(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// The README's example with DATA_DIR unset fails, naming the variable and
// its line, instead of creating a store at /docs.
func TestConfigUnsetVariableNamesItsLine(t *testing.T) {
	cfg := "# data lives in ${DATA_DIR}\nembedders: {default: \"hash:8\"}\nallow_mem_file: true\ncollections:\n  docs:\n    store: \"mem:${DATA_DIR}/docs.snap\"\n"
	_, err := ParseConfig([]byte(cfg), func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "line 6: ${DATA_DIR} is unset") || !errors.Is(err, twostage.ErrInvalidInput) {
		t.Fatalf("unset DATA_DIR: %v; want an error naming line 6 and the variable", err)
	}
	c, err := ParseConfig([]byte(strings.Replace(cfg, "${DATA_DIR}/", "${DATA_DIR:-/tmp/ts}/", 1)), func(string) string { return "" })
	if err != nil || c.Collections["docs"].Store != "mem:/tmp/ts/docs.snap" {
		t.Fatalf("default: %v %+v", err, c)
	}
}
