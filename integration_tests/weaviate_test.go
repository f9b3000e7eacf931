package integration

import (
	"context"
	"testing"

	"twostage"
	"twostage/adapters/storetest"
	"twostage/adapters/weaviatestore"
)

func TestWeaviateConformance(t *testing.T) {
	_, c := needWeaviate(t)
	storetest.RunConformanceTests(t, storetest.Harness{
		New: func(t *testing.T, dim int, m twostage.Metric) (twostage.Driver, error) {
			class := freshClass("Conf")
			t.Cleanup(func() { c.Schema().ClassDeleter().WithClassName(class).Do(context.Background()) })
			return weaviatestore.NewDriver(ctx, c, class, &weaviatestore.Options{Dim: dim, Metric: m})
		},
	})
}
