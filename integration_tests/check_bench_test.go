package integration

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/weaviate/weaviate-go-client/v4/weaviate"

	"twostage"
	"twostage/adapters/storetest"
	"twostage/adapters/weaviatestore"
)

// BenchmarkWeaviateCheck measures twostage check on a class of 10,000
// documents (dimension 128) of the real server, side by side with the
// floor it cannot beat: the same REST cursor over the objects with their
// vectors, without probing the index (read). It reports documents checked
// per second and the ratios check/read time, for the default check (own-
// vector searches for the most recent objects) and the exhaustive one.
//
//	go test -run '^$' -bench WeaviateCheck -benchtime 1x ./integration_tests/
func BenchmarkWeaviateCheck(b *testing.B) {
	_, c := needWeaviate(b)
	const dim, n = 128, 10_000
	class := freshClass("CheckBench")
	s, err := weaviatestore.Open(ctx, c, class, &weaviatestore.Options{Dim: dim, NoJournal: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	r := rand.New(rand.NewPCG(8, 8))
	for start := 0; start < n; start += 1000 {
		docs := make([]twostage.Document, 0, 1000)
		for i := start; i < start+1000; i++ {
			docs = append(docs, twostage.Document{ID: fmt.Sprintf("doc-%05d", i), Text: "text", Vector: storetest.RandomVector(r, dim)})
		}
		if err := s.Upsert(ctx, docs); err != nil {
			b.Fatal(err)
		}
	}
	var checkD, fullD, readD time.Duration
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		rep, err := s.Check(ctx, twostage.CheckOptions{})
		checkD += time.Since(start)
		if err != nil || !rep.OK() || rep.Checked != n {
			b.Fatalf("check = %v, %v", rep, err)
		}
		start = time.Now()
		rep, err = s.Check(ctx, twostage.CheckOptions{Exhaustive: true})
		fullD += time.Since(start)
		if err != nil || !rep.OK() || rep.Checked != n {
			b.Fatalf("exhaustive check = %v, %v", rep, err)
		}
		start = time.Now()
		if got := readAll(b, c, s); got != n {
			b.Fatalf("read %d objects, want %d", got, n)
		}
		readD += time.Since(start)
	}
	b.ReportMetric(float64(n*b.N)/checkD.Seconds(), "docs/s")
	b.ReportMetric(float64(n*b.N)/fullD.Seconds(), "exhaustive-docs/s")
	b.ReportMetric(float64(checkD)/float64(readD), "check/read")
	b.ReportMetric(float64(fullD)/float64(readD), "exhaustive/read")
}

// readAll pages through the store's class with the REST cursor, with
// vectors, as Check does, and returns the number of objects.
func readAll(b *testing.B, c *weaviate.Client, s *twostage.Store) int {
	var d *weaviatestore.Driver
	if !s.As(&d) {
		b.Fatal("not a weaviatestore")
	}
	total, after := 0, ""
	for {
		g := c.Data().ObjectsGetter().WithClassName(d.Class()).WithLimit(500).WithVector()
		if after != "" {
			g = g.WithAfter(after)
		}
		page, err := g.Do(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if len(page) == 0 {
			return total
		}
		total += len(page)
		after = string(page[len(page)-1].ID)
	}
}
