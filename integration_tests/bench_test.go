package integration

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/go-openapi/strfmt"
	"github.com/weaviate/weaviate-go-client/v4/weaviate/graphql"
	"github.com/weaviate/weaviate/entities/models"

	"twostage"
	"twostage/adapters/storetest"
	"twostage/adapters/weaviatestore"
)

// BenchmarkWeaviateOverhead measures the adapter against direct Weaviate
// client calls on the same server and the same data, side by side in one
// run: upsert throughput (batch import of the same documents) and search
// latency (nearVector top 10 returning the same fields). It reports the
// ratios adapter/direct; the target is at most 1.05.
//
//	go test -run '^$' -bench WeaviateOverhead -benchtime 1x ./integration_tests/
func BenchmarkWeaviateOverhead(b *testing.B) {
	_, c := needWeaviate(b)
	const (
		dim     = 128
		nDocs   = 2000
		batch   = 200
		rounds  = 8
		queries = 600
		k       = 10
	)
	r := rand.New(rand.NewPCG(7, 7))
	langs := []string{"en", "de", "fr"}
	docs := make([]twostage.Document, nDocs)
	for i := range docs {
		docs[i] = twostage.Document{
			ID:       fmt.Sprintf("doc-%05d", i),
			Text:     fmt.Sprintf("document %d about topic %d with some more words to carry", i, i%37),
			Vector:   storetest.RandomVector(r, dim),
			Metadata: map[string]any{"lang": langs[i%3], "year": int64(1990 + i%30)},
		}
	}
	adapterClass, directClass := freshClass("BenchA"), freshClass("BenchD")
	store, err := weaviatestore.Open(ctx, c, adapterClass, &weaviatestore.Options{Dim: dim, BatchSize: batch})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	// The direct class gets the same schema (created through the adapter,
	// then written and queried with the bare client).
	direct, err := weaviatestore.Open(ctx, c, directClass, &weaviatestore.Options{Dim: dim})
	if err != nil {
		b.Fatal(err)
	}
	if err := direct.Upsert(ctx, docs[:1]); err != nil { // adds the metadata properties
		b.Fatal(err)
	}
	defer func() {
		c.Schema().ClassDeleter().WithClassName(adapterClass).Do(ctx)
		c.Schema().ClassDeleter().WithClassName(directClass).Do(ctx)
	}()

	upsertAdapter := func(part []twostage.Document) time.Duration {
		start := time.Now()
		if err := store.Upsert(ctx, part); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	// The direct path writes the same properties the adapter does (its
	// bookkeeping lists included), so both make the server do the same work.
	upsertDirect := func(part []twostage.Document) time.Duration {
		start := time.Now()
		objs := make([]*models.Object, 0, len(part))
		for _, d := range part {
			objs = append(objs, &models.Object{
				Class: directClass, ID: strfmt.UUID(weaviatestore.ObjectID(d.ID)), Vector: d.Vector,
				Properties: map[string]any{"text": d.Text, "twostage_id": d.ID, "lang": d.Metadata["lang"], "year": d.Metadata["year"],
					"twostage_keys": []string{"lang", "year"}},
			})
		}
		resp, err := c.Batch().ObjectsBatcher().WithObjects(objs...).Do(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for _, o := range resp {
			if o.Result != nil && o.Result.Errors != nil {
				b.Fatalf("direct import: %v", o.Result.Errors.Error[0].Message)
			}
		}
		return time.Since(start)
	}
	qs := make([][]float32, queries)
	for i := range qs {
		qs[i] = storetest.RandomVector(r, dim)
	}
	searchAdapter := func(q []float32) time.Duration {
		start := time.Now()
		hits, err := store.Search(ctx, twostage.Query{Vector: q, K: k})
		if err != nil || len(hits) != k {
			b.Fatalf("adapter search: %d hits, %v", len(hits), err)
		}
		return time.Since(start)
	}
	// Two direct baselines, both asking for the fields a plain client user
	// would (text, id, metadata, distance; not the adapter's list of integer
	// keys): the bare call, and the call plus reading the hits into values,
	// which any application does and the adapter's Search includes.
	plain := []graphql.Field{{Name: "text"}, {Name: "twostage_id"}, {Name: "lang"}, {Name: "year"},
		{Name: "_additional", Fields: []graphql.Field{{Name: "id"}, {Name: "distance"}}}}
	type hit struct {
		ID, Text, Lang string
		Year           int64
		Score          float64
	}
	searchDirect := func(q []float32, read bool) time.Duration {
		start := time.Now()
		resp, err := c.GraphQL().Get().WithClassName(directClass).WithFields(plain...).
			WithNearVector(c.GraphQL().NearVectorArgBuilder().WithVector(q)).WithLimit(k).Do(ctx)
		if err != nil || len(resp.Errors) > 0 {
			b.Fatalf("direct search: %v %v", err, resp)
		}
		list := resp.Data["Get"].(map[string]any)[directClass].([]any)
		if len(list) != k {
			b.Fatalf("direct search: %d hits", len(list))
		}
		if read {
			hits := make([]hit, 0, len(list))
			for _, o := range list {
				m := o.(map[string]any)
				add := m["_additional"].(map[string]any)
				h := hit{ID: m["twostage_id"].(string), Text: m["text"].(string), Score: 1 - add["distance"].(float64)}
				h.Lang, _ = m["lang"].(string)
				if y, ok := m["year"].(float64); ok {
					h.Year = int64(y)
				}
				hits = append(hits, h)
			}
			if hits[0].ID == "" {
				b.Fatal("direct search: empty id")
			}
		}
		return time.Since(start)
	}

	for range b.N {
		// Warm up both paths (connections, caches), then alternate which goes
		// first so drift on the shared machine cancels.
		for i := 0; i < len(docs); i += batch { // warm-up
			upsertAdapter(docs[i : i+batch])
			upsertDirect(docs[i : i+batch])
		}
		// Alternate per batch, and which goes first, so drift on the shared
		// machine cancels.
		var upA, upD time.Duration
		var batchRatios []float64
		for round := range rounds {
			for i := 0; i < len(docs); i += batch {
				part := docs[i : i+batch]
				var a, d time.Duration
				if (round+i/batch)%2 == 0 {
					a = upsertAdapter(part)
					d = upsertDirect(part)
				} else {
					d = upsertDirect(part)
					a = upsertAdapter(part)
				}
				upA += a
				upD += d
				batchRatios = append(batchRatios, a.Seconds()/d.Seconds())
			}
		}
		for _, q := range qs[:20] {
			searchAdapter(q)
			searchDirect(q, true)
		}
		// Rotate the order of the three calls per query.
		var sa, sp, ss []time.Duration // adapter, direct bare, direct with reading
		for i, q := range qs {
			calls := []func(){
				func() { sa = append(sa, searchAdapter(q)) },
				func() { sp = append(sp, searchDirect(q, false)) },
				func() { ss = append(ss, searchDirect(q, true)) },
			}
			for j := range calls {
				calls[(i+j)%3]()
			}
		}
		docsPerSec := func(d time.Duration) float64 { return float64(rounds*nDocs) / d.Seconds() }
		upRatio := upA.Seconds() / upD.Seconds()
		slices.Sort(batchRatios)
		upMedRatio := batchRatios[len(batchRatios)/2]
		b.ReportMetric(upRatio, "upsert-time-ratio")
		b.ReportMetric(upMedRatio, "upsert-batch-p50-ratio")
		pairedBare, pairedRead := pairedMedian(sa, sp), pairedMedian(sa, ss)
		b.ReportMetric(pairedBare, "search-ratio-vs-bare")
		b.ReportMetric(pairedRead, "search-ratio-vs-read")
		b.Logf("upsert %d docs x %d rounds (dim %d, batches of %d): adapter %.0f docs/s, direct %.0f docs/s; time ratio adapter/direct %.3f (median per-batch ratio %.3f)",
			nDocs, rounds, dim, batch, docsPerSec(upA), docsPerSec(upD), upRatio, upMedRatio)
		b.Logf("search top-%d over %d docs, %d queries, p50 (mean): adapter %v (%v), direct bare call %v (%v), direct call and reading the hits %v (%v)",
			k, nDocs, queries, median(sa), mean(sa), median(sp), mean(sp), median(ss), mean(ss))
		b.Logf("search ratios adapter/direct: median of per-query ratios %.3f vs bare, %.3f vs reading; ratio of p50s %.3f vs bare, %.3f vs reading; ratio of means %.3f vs bare, %.3f vs reading",
			pairedBare, pairedRead, float64(median(sa))/float64(median(sp)), float64(median(sa))/float64(median(ss)),
			float64(mean(sa))/float64(mean(sp)), float64(mean(sa))/float64(mean(ss)))
	}
}

// pairedMedian is the median of a[i]/b[i]: each pair ran back to back on
// the same query, so machine load affects both sides alike.
func pairedMedian(a, b []time.Duration) float64 {
	r := make([]float64, len(a))
	for i := range a {
		r[i] = float64(a[i]) / float64(b[i])
	}
	slices.Sort(r)
	return r[len(r)/2]
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func mean(ds []time.Duration) time.Duration {
	var t time.Duration
	for _, d := range ds {
		t += d
	}
	return t / time.Duration(len(ds))
}
