package storefault_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"twostage"
	"twostage/adapters/memstore"
	"twostage/internal/storefault"
)

// A writer upserts while the test would restart the server behind the
// store; afterwards every acknowledged document must be there.
func Example() {
	ctx := context.Background()
	s, err := memstore.New(4, twostage.Cosine)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	w := storefault.StartWriter(ctx, s, storefault.WriterOptions{Dim: 4, Batch: 5})
	defer w.Stop()
	if err := w.Wait(3, 10*time.Second); err != nil { // here a test would restart the server
		log.Fatal(err)
	}
	acked, failed := w.Stop()
	n, _ := s.Count(ctx)
	fmt.Println(n == len(acked), len(acked)%5, len(failed))
	// Output:
	// true 0 0
}
