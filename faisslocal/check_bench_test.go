//go:build faiss

package faisslocal

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"twostage"
	"twostage/adapters/storetest"
)

// BenchmarkCheck measures Driver.Check on a flat store of
// FAISSLOCAL_CHECK_DOCS documents (default 100,000) of dimension 128,
// side by side with the floor it cannot beat: one cursor pass over docs.db
// decoding every vector (scan). It reports documents checked per second
// and the ratio check/scan time.
//
//	go test -tags faiss -run '^$' -bench BenchmarkCheck -benchtime 3x ./faisslocal/
func BenchmarkCheck(b *testing.B) {
	n := 100_000
	if s := os.Getenv("FAISSLOCAL_CHECK_DOCS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	const dim = 128
	ctx := context.Background()
	d, err := OpenDriver(b.TempDir(), &Options{Dim: dim, RecordCacheBytes: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	r := rand.New(rand.NewPCG(1, 1))
	for start := 0; start < n; start += 10_000 {
		docs := make([]twostage.Document, 0, 10_000)
		for i := start; i < min(start+10_000, n); i++ {
			docs = append(docs, twostage.Document{ID: fmt.Sprintf("doc-%07d", i), Text: "text", Vector: storetest.RandomVector(r, dim)})
		}
		if err := d.Upsert(ctx, docs); err != nil {
			b.Fatal(err)
		}
	}
	scan := func() {
		err := d.db.View(func(tx *bolt.Tx) error {
			vb := tx.Bucket(bucketVecs)
			c := tx.Bucket(bucketDocs).Cursor()
			var v []float32
			for k, _ := c.First(); k != nil; k, _ = c.Next() {
				var err error
				if v, err = decodeVector(v[:0], vb.Get(k), dim); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	var checkNs, scanNs int64
	b.ResetTimer()
	for range b.N {
		start := nowNs()
		rep, err := d.Check(ctx, twostage.CheckOptions{})
		checkNs += nowNs() - start
		if err != nil || !rep.OK() || rep.Checked != n {
			b.Fatalf("check = %v, %v", rep, err)
		}
		start = nowNs()
		scan()
		scanNs += nowNs() - start
	}
	b.ReportMetric(float64(n)*float64(b.N)/(float64(checkNs)/1e9), "docs/s")
	b.ReportMetric(float64(checkNs)/float64(scanNs), "check/scan")
}

func nowNs() int64 { return time.Now().UnixNano() }
