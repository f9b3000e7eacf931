package hubtest_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"

	"twostage/internal/hubtest"
)

// exampleT stands in for a *testing.T in the example.
type exampleT struct{ cleanups []func() }

func (t *exampleT) Helper() {}
func (t *exampleT) Errorf(format string, args ...any) {
	fmt.Printf("test error: "+format+"\n", args...)
}
func (t *exampleT) Cleanup(f func()) { t.cleanups = append(t.cleanups, f) }

func Example() {
	t := &exampleT{}
	defer func() {
		for _, f := range t.cleanups {
			f()
		}
	}()
	s := hubtest.New(t)
	commit := s.Add(hubtest.Repo{ID: "org/tiny", Files: map[string][]byte{
		"config.json":       []byte(`{"model_type": "bert"}`),
		"model.safetensors": []byte("weights"),
	}})

	resp, _ := http.Get(s.URL + "/api/models/org/tiny/revision/main")
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(strings.Contains(string(b), `"sha":"`+commit+`"`), strings.Contains(string(b), `"rfilename":"model.safetensors"`))

	// LFS files redirect to the CDN host, with their sha256 and size.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, _ = noFollow.Get(s.URL + "/org/tiny/resolve/main/model.safetensors")
	resp.Body.Close()
	loc, _ := resp.Location()
	fmt.Println(resp.StatusCode, resp.Header.Get("X-Linked-Size"), loc.Host == strings.TrimPrefix(s.CDN.URL, "http://"))
	// Output:
	// true true
	// 302 7 true
}
