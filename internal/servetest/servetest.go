// Package servetest drives a `twostage serve` process in crash tests: it
// starts the process and finds its URL, and runs clients that upsert
// documents over HTTP while the test kills it, recording which upserts
// were answered 200. For the bounded load tests of the server and of the
// command, it runs concurrent clients against an endpoint for a while
// (Load), collecting their latencies, and reads samples from /metrics.
package servetest

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"time"
)

// TB is the part of *testing.T that servetest uses.
type TB interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// Start starts cmd, a `twostage serve` process listening on port 0, and
// returns the URL it prints ("listening on http://..."), within 60s. The
// process is killed when the test ends.
func Start(t TB, cmd *exec.Cmd) string {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	urls := make(chan string, 1)
	go func() { // exits when the process's stderr closes
		re := regexp.MustCompile(`listening on (http://[0-9.:]+)`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	select {
	case u := <-urls:
		return u
	case <-time.After(60 * time.Second):
		t.Fatal("twostage serve did not start within 60s")
	}
	return ""
}

// Upserts is a set of clients upserting batches of five documents into
// the "docs" collection of a server, until Stop.
type Upserts struct {
	stop chan struct{}
	wg   sync.WaitGroup

	mu    sync.Mutex
	acked []string // ids of the documents whose upsert was answered 200
	seq   int      // upserts answered 200
}

// StartUpserts starts workers clients upserting into url's "docs"
// collection with client. Document ids are prefix+"w<worker>-<i>-<j>".
// A failed request is retried with the next batch (the server may be gone).
func StartUpserts(client *http.Client, url, prefix string, workers int) *Upserts {
	u := &Upserts{stop: make(chan struct{})}
	for w := range workers {
		u.wg.Add(1)
		go func() {
			defer u.wg.Done()
			for i := 0; ; i++ {
				select {
				case <-u.stop:
					return
				default:
				}
				var ids, docs []string
				for j := range 5 {
					id := fmt.Sprintf("%sw%d-%d-%d", prefix, w, i, j)
					ids = append(ids, id)
					docs = append(docs, fmt.Sprintf(`{"id":%q,"text":"document %s about topic %d"}`, id, id, i%7))
				}
				resp, err := client.Post(url+"/v1/collections/docs/documents", "application/json",
					strings.NewReader(`{"documents":[`+strings.Join(docs, ",")+`]}`))
				if err != nil {
					continue // the server is gone; wait for stop
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					u.mu.Lock()
					u.acked = append(u.acked, ids...)
					u.seq++
					u.mu.Unlock()
				}
			}
		}()
	}
	return u
}

// WaitAnswered waits until n upserts have been answered 200, failing the
// test after 60s.
func (u *Upserts) WaitAnswered(t TB, n int) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(2 * time.Millisecond) {
		u.mu.Lock()
		got := u.seq
		u.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d upserts answered 200 in 60s", got)
		}
	}
}

// Stop stops the clients, waits for them, and returns the ids of the
// documents whose upsert was answered 200.
func (u *Upserts) Stop() []string {
	close(u.stop)
	u.wg.Wait()
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.acked
}
