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

// exampleT stands in for a *testing.T in the example.
type exampleT struct{ cleanups []func() }

func (t *exampleT) Helper()                           {}
func (t *exampleT) Errorf(format string, args ...any) { fmt.Printf(format+"\n", args...) }
func (t *exampleT) Fatalf(format string, args ...any) { fmt.Printf(format+"\n", args...) }
func (t *exampleT) Cleanup(f func())                  { t.cleanups = append(t.cleanups, f) }

// A writer upserts while the test would restart the server behind the
// store; afterwards every acknowledged document must be there.
func Example() {
	ctx := context.Background()
	t := &exampleT{}
	s, err := memstore.New(4, twostage.Cosine)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	w := storefault.StartWriter(t, ctx, s, storefault.WriterOptions{Dim: 4, Batch: 5})
	w.Wait(t, 3, 10*time.Second) // here a test would restart the server
	acked, failed := w.Stop()
	n, _ := s.Count(ctx)
	fmt.Println(n == len(acked), len(acked)%5, len(failed))
	// Output:
	// true 0 0
}
