package server_test

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user plus system CPU time so far.
func cpuTime(t testing.TB) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// distinctWords returns n distinct words ("w0 w1 ...") starting at from.
func distinctWords(from, n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "w%d ", from+i)
	}
	return b.String()
}

// TestCPUBoundRequestStopsAtDeadline is the attack of issue 23 item 1: a
// rerank request whose BM25 work (query words x documents) takes seconds.
// It must be answered 504 near request_timeout, and the server must stop
// burning CPU soon after (measured with getrusage over a quiet second).
func TestCPUBoundRequestStopsAtDeadline(t *testing.T) {
	const timeout = 50 * time.Millisecond
	e := start(t, "request_timeout: 50ms\nmax_query_words: 100000\nmax_query_bytes: 1000000\nrerankers: {default: lexical}\n", nil, nil)
	docs := make([]string, 1000)
	for i := range docs {
		docs[i] = distinctWords(i*20, 20) // sharing words with the query
	}
	body := mustJSON(map[string]any{"query": distinctWords(0, 30000), "documents": docs}) // about 200 KB
	t0 := time.Now()
	r := e.do("POST", "/v1/rerank", body, "")
	took := time.Since(t0)
	t.Logf("status %d after %v", r.status, took)
	if r.status != 504 && r.status != 503 {
		t.Fatalf("status %d after %v (%.200s), want 504 or 503 at the %v deadline", r.status, took, r.body, timeout)
	}
	if took > timeout+2*time.Second {
		t.Errorf("answered after %v, want near the %v deadline", took, timeout)
	}
	time.Sleep(200 * time.Millisecond)
	c0, w0 := cpuTime(t), time.Now()
	time.Sleep(time.Second)
	if used, wall := cpuTime(t)-c0, time.Since(w0); used > wall/2 {
		t.Errorf("the process used %v of CPU in the %v after the answer: the work did not stop", used, wall)
	}
}
