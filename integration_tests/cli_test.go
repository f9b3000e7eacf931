package integration

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"twostage/internal/testassets"
)

// buildCLI builds cmd/twostage once per test binary.
func buildCLI(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the CLI; skipped with -short")
	}
	bin := filepath.Join(t.TempDir(), "twostage")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/twostage")
	cmd.Dir = testassets.Root()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/twostage: %v\n%s", err, out)
	}
	return bin
}

// TestCLIStores indexes and searches through the CLI with --store
// weaviate://HOST:PORT/CLASS (the real server) and
// qdrant://HOST:PORT/COLLECTION (the stand-in).
func TestCLIStores(t *testing.T) {
	srv, _ := needWeaviate(t)
	qd := startStandIn(t)
	bin := buildCLI(t)
	docs := strings.Join([]string{
		`{"id":"go","text":"the go programming language and its garbage collector","metadata":{"lang":"en"}}`,
		`{"id":"rust","text":"rust ownership and borrowing rules","metadata":{"lang":"en"}}`,
		`{"id":"de","text":"die programmiersprache go","metadata":{"lang":"de"}}`,
	}, "\n") + "\n"
	file := filepath.Join(t.TempDir(), "docs.jsonl")
	if err := os.WriteFile(file, []byte(docs), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, store := range []string{
		"weaviate://" + srv.Addr() + "/" + freshClass("Cli"),
		"qdrant://" + qd.Addr() + "/cli?exact=1",
	} {
		t.Run(store[:strings.Index(store, ":")], func(t *testing.T) {
			out, err := exec.Command(bin, "index", "--store", store, "--file", file).CombinedOutput()
			if err != nil {
				t.Fatalf("index: %v\n%s", err, out)
			}
			out, err = exec.Command(bin, "search", "--store", store, "--json", "--top-n", "2",
				"--filter", `{"op":"eq","field":"lang","value":"en"}`, "go garbage collector").Output()
			if err != nil {
				t.Fatalf("search: %v\n%s", err, out)
			}
			var res struct {
				Hits []struct {
					ID string `json:"id"`
				} `json:"hits"`
			}
			if err := json.Unmarshal(out, &res); err != nil {
				t.Fatalf("search output %q: %v", out, err)
			}
			if len(res.Hits) != 2 || res.Hits[0].ID != "go" || res.Hits[1].ID != "rust" {
				t.Errorf("search hits %+v, want go then rust (de filtered out)", res.Hits)
			}
		})
	}
	out, err := exec.Command(bin, "search", "--store", "qdrant://nohost", "x").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "qdrant://HOST:PORT/COLLECTION") {
		t.Errorf("a malformed qdrant spec: %v, %s", err, out)
	}
}
