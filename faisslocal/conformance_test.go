//go:build faiss

package faisslocal_test

import (
	"testing"

	"twostage"
	"twostage/adapters/storetest"
	"twostage/driver"
	"twostage/faisslocal"
)

// conformanceKinds are the index kinds the conformance suite runs against,
// sized so the suite's 300-document collections train the IVF kinds.
var conformanceKinds = []struct {
	name      string
	spec      faisslocal.IndexSpec
	minRecall float64
}{
	{"flat", faisslocal.Flat{}, 1},
	{"hnsw", faisslocal.HNSW{M: 16, EfConstruction: 40, EfSearch: 64}, 0.9},
	{"ivfflat", faisslocal.IVFFlat{NList: 8, NProbe: 6, TrainSize: 100}, 0.8},
	{"ivfpq", faisslocal.IVFPQ{NList: 4, NProbe: 4, M: 4, NBits: 6, TrainSize: 100, RefineFactor: 8}, 0.8},
	{"ivfpq-mem", faisslocal.IVFPQ{NList: 4, NProbe: 4, M: 4, NBits: 6, TrainSize: 100, RefineFactor: 8, RefineInMemory: true}, 0.8},
	{"ivfflat-untrained", faisslocal.IVFFlat{NList: 64}, 1}, // stays in the exact buffer
}

func TestConformance(t *testing.T) {
	for _, kind := range conformanceKinds {
		t.Run(kind.name, func(t *testing.T) {
			storetest.RunConformanceTests(t, storetest.Harness{
				New: func(t *testing.T, dim int, m twostage.Metric) (driver.Driver, error) {
					return faisslocal.OpenDriver(t.TempDir(), &faisslocal.Options{Dim: dim, Metric: m, Index: kind.spec})
				},
				MinRecall: kind.minRecall,
			})
		})
	}
}
