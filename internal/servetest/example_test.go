package servetest_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"

	"twostage/internal/servetest"
)

// exampleT stands in for a *testing.T in the example.
type exampleT struct{ cleanups []func() }

func (t *exampleT) Helper()                           {}
func (t *exampleT) Fatal(args ...any)                 { fmt.Println(args...) }
func (t *exampleT) Fatalf(format string, args ...any) { fmt.Printf(format+"\n", args...) }
func (t *exampleT) Cleanup(f func())                  { t.cleanups = append(t.cleanups, f) }

func Example() {
	t := &exampleT{}
	defer func() {
		for _, f := range t.cleanups {
			f()
		}
	}()
	// A stand-in for `twostage serve`: it prints the line Start looks for.
	url := servetest.Start(t, exec.Command("sh", "-c", "echo 'listening on http://127.0.0.1:1' >&2; exec sleep 30"))
	fmt.Println(url)

	// A server that answers every upsert 200.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
	}))
	defer srv.Close()
	u := servetest.StartUpserts(srv.Client(), srv.URL, "r0-", 2)
	u.WaitAnswered(t, 3)
	acked := u.Stop()
	fmt.Println(len(acked) >= 15, len(acked)%5)
	// Output:
	// http://127.0.0.1:1
	// true 0
}
