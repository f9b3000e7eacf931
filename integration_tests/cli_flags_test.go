package integration

import (
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The built binary parses flags before and after the positional arguments,
// for every command, and "--" ends them.
func TestCLIFlagsAnywhere(t *testing.T) {
	bin := buildCLI(t)
	store := "mem:" + filepath.Join(t.TempDir(), "index.snap")
	docs := `{"id":"a","text":"learning from data"}` + "\n" + `{"id":"b","text":"learning to fly"}` + "\n"
	index := exec.Command(bin, "index", "--file", "-", "--store", store)
	index.Stdin = strings.NewReader(docs)
	if out, err := index.CombinedOutput(); err != nil {
		t.Fatalf("index: %v\n%s", err, out)
	}
	search := func(args ...string) (query string, hits int) {
		t.Helper()
		out, err := exec.Command(bin, append([]string{"search"}, args...)...).Output()
		if err != nil {
			t.Fatalf("search %q: %v", args, err)
		}
		var res struct {
			Query string            `json:"query"`
			Hits  []json.RawMessage `json:"hits"`
		}
		if err := json.Unmarshal(out, &res); err != nil {
			t.Fatalf("search %q: output %q: %v", args, out, err)
		}
		return res.Query, len(res.Hits)
	}
	for _, args := range [][]string{
		{"--json", "--top-n", "1", "--store", store, "learning"},
		{"--json", "learning", "--top-n", "1", "--store", store},
		{"learning", "--store", store, "--json", "--top-n=1"},
	} {
		if q, n := search(args...); q != "learning" || n != 1 {
			t.Errorf("search %q: query %q, %d hits; want \"learning\" and 1 hit", args, q, n)
		}
	}
	if q, _ := search("--store", store, "--json", "--", "learning", "--top-n", "1"); q != "learning --top-n 1" {
		t.Errorf("after --: query %q", q)
	}
	out, err := exec.Command(bin, "search", "learning", "--store", store, "--bogus").CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || strings.Count(string(out), "\n") != 1 || !strings.Contains(string(out), "unknown flag --bogus") {
		t.Errorf("unknown flag after the query: %v, %q; want exit 2 and one line", err, out)
	}
}
