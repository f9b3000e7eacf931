package server_test

import (
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"twostage"
)

// liveHeap is the heap in use after a collection.
func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestConcurrentLargeRequestsMemory is the attack of issue 23 item 4: 24
// concurrent 2 MB rerank requests parked in a slow reranker. With
// max_buffered_bytes at 8 MiB, the requests that do not fit get 429 and the
// live heap grows by at most a small multiple of the budget (the body plus
// its decoded texts); without the bound every body is held.
func TestConcurrentLargeRequestsMemory(t *testing.T) {
	const clients = 24
	docs := make([]string, 200)
	for i := range docs {
		docs[i] = fmt.Sprintf("doc %d ", i) + strings.Repeat("lorem ipsum ", 850) // about 10 KB
	}
	// The answer leaves the documents out (/v1/rerank returns them by
	// default): the bound under test is the one on request bodies.
	body := mustJSON(map[string]any{"query": "lorem", "documents": docs, "return_documents": false})
	measure := func(extra string) (growth uint64, refused int) {
		t.Helper()
		gate := newGate()
		gate.entered = make(chan struct{}, clients)
		// A request timeout well past the wait below: on a loaded machine
		// (under -race, every 2 MB body's tokens counted) parking all 24
		// can take longer than the default 30s, and a 504 is not the bound.
		e := start(t, "rerankers: {default: gate}\nmax_in_flight: 64\nrequest_timeout: 5m\n"+extra, nil, map[string]twostage.Reranker{"gate": gate})
		base := liveHeap()
		results := make(chan int, clients)
		for range clients {
			go func() {
				results <- doWith(t, http.DefaultClient, "POST", e.url+"/v1/rerank", body, "").status
			}()
		}
		parked, early := 0, 0
		timeout := time.After(3 * time.Minute)
		for parked+early < clients {
			select {
			case <-gate.entered:
				parked++
			case st := <-results:
				if st != 429 {
					t.Errorf("%q: a request ended with %d before the gate opened, want 429", extra, st)
				}
				early++
			case <-timeout:
				t.Fatalf("%q: %d parked and %d answered of %d after 3 minutes", extra, parked, early, clients)
			}
		}
		peak := liveHeap()
		close(gate.release)
		for range parked {
			if st := <-results; st != 200 {
				t.Errorf("%q: a parked request ended with %d, want 200", extra, st)
			}
		}
		if peak > base {
			growth = peak - base
		}
		t.Logf("%q: live heap grew by %.1f MB with %d parked, %d refused", extra, float64(growth)/(1<<20), parked, early)
		return growth, early
	}
	const budget = 8 << 20
	bounded, refused := measure(fmt.Sprintf("max_buffered_bytes: %d\n", budget))
	unbounded, _ := measure("max_buffered_bytes: 1073741824\n")
	if refused == 0 {
		t.Errorf("with the bound no request was refused")
	}
	if bounded > 3*budget {
		t.Errorf("with max_buffered_bytes %d the live heap grew by %d bytes, want at most 3x the budget", budget, bounded)
	}
	if unbounded < 2*bounded {
		t.Errorf("without the bound the heap grew by %d bytes, with it %d: the bound made no difference", unbounded, bounded)
	}
}
