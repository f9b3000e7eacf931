package weaviatestore

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/weaviate/weaviate/entities/models"
)

// BenchmarkReadPath measures the adapter's own client-side work for one
// top-10 search response (field list, hit conversion), side by side with
// decoding the same JSON response, which the Weaviate client does for
// direct calls and adapter calls alike. It reports the ratio.
//
//	go test -run '^$' -bench ReadPath ./adapters/weaviatestore/
func BenchmarkReadPath(b *testing.B) {
	d := testDriver(b, nil)
	d.class = "Bench"
	props := map[string]*models.Property{
		"text": {DataType: []string{"text"}}, "twostage_id": {DataType: []string{"text"}},
		"lang": {DataType: []string{"text"}}, "year": {DataType: []string{"number"}, Description: int64Desc},
		keysProp: {DataType: []string{"text[]"}},
	}
	var hits []any
	for i := range 10 {
		hits = append(hits, map[string]any{
			"text":        fmt.Sprintf("document %d about topic %d with some more words to carry", i, i),
			"twostage_id": fmt.Sprintf("doc-%05d", i), "lang": "en", "year": 1990 + i,
			"_additional": map[string]any{"id": "5c56c793-69f3-4fbf-87e6-c4bf54c28c26", "distance": 0.25 + float64(i)/100},
		})
	}
	raw, err := json.Marshal(map[string]any{"data": map[string]any{"Get": map[string]any{"Bench": hits}}})
	if err != nil {
		b.Fatal(err)
	}
	var decode, convert time.Duration
	for range b.N {
		t0 := time.Now()
		var resp models.GraphQLResponse
		if err := json.Unmarshal(raw, &resp); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		fields := d.fields(props, "distance")
		out := 0
		for _, o := range d.objects(&resp, "Get") {
			doc := d.document(o, props, false)
			if doc.Metadata["year"] == nil {
				b.Fatal("year not read")
			}
			out++
		}
		if out != 10 || len(fields) == 0 {
			b.Fatalf("converted %d hits", out)
		}
		convert += time.Since(t1)
		decode += t1.Sub(t0)
	}
	b.ReportMetric(float64(convert.Nanoseconds())/float64(b.N), "convert-ns/search")
	b.ReportMetric(float64(decode.Nanoseconds())/float64(b.N), "decode-ns/search")
	b.ReportMetric(convert.Seconds()/decode.Seconds(), "convert/decode")
}
