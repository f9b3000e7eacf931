package server_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"twostage"
	"twostage/embed"
	"twostage/rerank"
	"twostage/server"
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

// endedWith records the error each call of the reranker inside it returned.
type endedWith struct {
	r    twostage.Reranker
	mu   sync.Mutex
	errs []error
}

func (e *endedWith) Rerank(ctx context.Context, q string, docs []string) ([]twostage.Score, error) {
	out, err := e.r.Rerank(ctx, q, docs)
	e.mu.Lock()
	e.errs = append(e.errs, err)
	e.mu.Unlock()
	return out, err
}

func (e *endedWith) ended() []error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.errs)
}

// TestCPUBoundRequestStopsAtDeadline is the attack of issue 23 item 1: a
// rerank request whose BM25 work (query words x documents) outlasts
// request_timeout many times over. It must be answered 504 (503) with the
// reranker's work cut short by the deadline, and the server must stop
// burning CPU soon after (measured with getrusage over a quiet second).
// When the answer came is logged, not asserted: on a loaded machine the
// 200 KB body alone can take longer than the deadline.
func TestCPUBoundRequestStopsAtDeadline(t *testing.T) {
	const timeout = 50 * time.Millisecond
	lex := &endedWith{r: rerank.NewLexical()}
	e := start(t, "request_timeout: 50ms\nmax_query_words: 100000\nmax_query_bytes: 1000000\nrerankers: {default: lex}\n", nil, map[string]twostage.Reranker{"lex": lex})
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
	// No call at all is right too: the deadline can pass before reranking
	// begins (the body took that long).
	if ended := lex.ended(); len(ended) > 1 || len(ended) == 1 && !errors.Is(ended[0], context.DeadlineExceeded) {
		t.Errorf("the reranker's calls ended with %v, want at most one, cut short by the deadline (context.DeadlineExceeded)", ended)
	}
	time.Sleep(200 * time.Millisecond)
	c0, w0 := cpuTime(t), time.Now()
	time.Sleep(time.Second)
	if used, wall := cpuTime(t)-c0, time.Since(w0); used > wall/2 {
		t.Errorf("the process used %v of CPU in the %v after the answer: the work did not stop", used, wall)
	}
}

// TestTricklingBodiesDoNotStarve is the attack of issue 23 item 3: eight
// connections trickle a byte at a time into a 100000-byte body while ten
// normal searches run, with max_in_flight 2. Bodies are read before a slot
// is taken, so the normal searches all get 200. The tricklers stop by
// themselves when the test ends (their connections are closed).
func TestTricklingBodiesDoNotStarve(t *testing.T) {
	e := start(t, baseConfig+"max_in_flight: 2\n", nil, nil)
	e.index("docs")
	host := strings.TrimPrefix(e.url, "http://")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	defer close(stop)
	started := make(chan struct{}, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", host)
			if err != nil {
				t.Error(err)
				started <- struct{}{}
				return
			}
			defer c.Close()
			fmt.Fprintf(c, "POST /v1/search HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{", host)
			started <- struct{}{}
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					if _, err := c.Write([]byte(" ")); err != nil {
						return
					}
				}
			}
		}()
	}
	for range 8 {
		<-started
	}
	// The tricklers' headers are in: the server counts their 8 requests in
	// flight (it does once it has read a request's headers).
	for deadline := time.Now().Add(time.Minute); inFlight(t, e.srv) < 8; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%v requests in flight a minute after the 8 tricklers connected, want 8", inFlight(t, e.srv))
		}
	}
	for i := range 10 {
		r := e.do("POST", "/v1/search", `{"query":"red planet","top_n":2}`, "")
		if r.status != 200 {
			t.Errorf("search %d while bodies trickle: %d %s, want 200", i, r.status, r.body)
		}
	}
}

// TestCPUBoundSearchStopsAtDeadline: the same attack through /v1/search, a
// 5000-word query reranked over 1000 candidates.
func TestCPUBoundSearchStopsAtDeadline(t *testing.T) {
	e := start(t, "request_timeout: 30ms\nmax_query_words: 100000\nmax_query_bytes: 1000000\nembedders: {default: \"hash:64\"}\nrerankers: {default: lexical}\ncollections: {docs: {store: mem}}\n", nil, nil)
	// Indexed directly: the 30ms request timeout is for the attack.
	emb, err := embed.NewHashing(64)
	if err != nil {
		t.Fatal(err)
	}
	docs := make([]twostage.Document, 1000)
	for i := range docs {
		docs[i] = twostage.Document{ID: fmt.Sprint(i), Text: distinctWords(i*5, 200)}
	}
	st, _ := e.srv.Store("docs")
	p, err := twostage.NewPipeline(st, emb, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Index(context.Background(), docs, nil); err != nil {
		t.Fatal(err)
	}
	body := mustJSON(map[string]any{"query": distinctWords(0, 5000), "candidate_k": 1000, "top_n": 10})
	t0 := time.Now()
	r := e.do("POST", "/v1/search", body, "")
	took := time.Since(t0)
	if r.status != 504 && r.status != 503 {
		t.Fatalf("status %d after %v (%.200s), want 504 or 503 at the deadline", r.status, took, r.body)
	}
	t.Logf("status %d after %v", r.status, took)
	time.Sleep(200 * time.Millisecond)
	c0, w0 := cpuTime(t), time.Now()
	time.Sleep(time.Second)
	if used, wall := cpuTime(t)-c0, time.Since(w0); used > wall/2 {
		t.Errorf("the process used %v of CPU in the %v after the answer: the work did not stop", used, wall)
	}
}

// inFlight reads the twostage_http_in_flight_requests gauge of srv.
func inFlight(t testing.TB, srv *server.Server) float64 {
	t.Helper()
	mfs, err := srv.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "twostage_http_in_flight_requests" && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatal("no twostage_http_in_flight_requests gauge")
	return 0
}
