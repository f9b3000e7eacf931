package qdrantstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"twostage"
	"twostage/adapters/qdrantstore"
	"twostage/adapters/qdrantstore/qdranttest"
	"twostage/adapters/storetest"
	"twostage/driver"
	"twostage/internal/storefault"
)

// These tests run against qdranttest, an in-process STAND-IN for Qdrant (no
// Qdrant server binary can be had on the build machines); the integration
// tests run the conformance suite against a real Qdrant when QDRANT_ADDR is
// set.

var collectionSeq atomic.Int64

func freshName(prefix string) string {
	return fmt.Sprintf("%s_%d", prefix, collectionSeq.Add(1))
}

// standIn starts a stand-in server and a client counting its attempts.
func standIn(t *testing.T) (*qdranttest.Server, *qdrant.Client, *atomic.Int64) {
	t.Helper()
	srv := qdranttest.New()
	if err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	var attempts atomic.Int64
	count := grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		attempts.Add(1)
		return invoker(ctx, method, req, reply, cc, opts...)
	})
	client, err := qdrant.NewClient(&qdrant.Config{
		Host: "127.0.0.1", Port: port(t, srv.Addr()), PoolSize: 1, SkipCompatibilityCheck: true,
		GrpcOptions: []grpc.DialOption{count},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	return srv, client, &attempts
}

// openStore opens collection over client, failing t on an error; the
// store is closed when the test ends.
func openStore(t *testing.T, client *qdrant.Client, collection string, opts *qdrantstore.Options) *twostage.Store {
	t.Helper()
	s, err := qdrantstore.Open(ctx, client, collection, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func port(t *testing.T, addr string) int {
	t.Helper()
	var p int
	if _, err := fmt.Sscanf(addr[strings.LastIndex(addr, ":")+1:], "%d", &p); err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	return p
}

func TestConformanceStandIn(t *testing.T) {
	_, client, _ := standIn(t)
	storetest.RunConformanceTests(t, storetest.Harness{
		New: func(t *testing.T, dim int, m twostage.Metric) (driver.Driver, error) {
			return qdrantstore.NewDriver(context.Background(), client, freshName("conf"), &qdrantstore.Options{Dim: dim, Metric: m})
		},
		IDAlias: func(id string) string { return qdrantstore.PointID(id).GetUuid() },
	})
}

func TestConformanceNamedVector(t *testing.T) {
	_, client, _ := standIn(t)
	storetest.RunConformanceTests(t, storetest.Harness{
		Metrics: []twostage.Metric{twostage.L2},
		New: func(t *testing.T, dim int, m twostage.Metric) (driver.Driver, error) {
			return qdrantstore.NewDriver(context.Background(), client, freshName("named"),
				&qdrantstore.Options{Dim: dim, Metric: m, VectorName: "dense", TextKey: "body", IDKey: "doc_id", BatchSize: 7})
		},
	})
}

var ctx = context.Background()

func TestUpsertWaitsAndChunks(t *testing.T) {
	srv, client, _ := standIn(t)
	s := openStore(t, client, "wait", &qdrantstore.Options{Dim: 2, BatchSize: 3})
	var docs []twostage.Document
	for i := range 8 {
		docs = append(docs, twostage.Document{ID: fmt.Sprint("w", i), Vector: []float32{1, float32(i)}})
	}
	if err := s.Upsert(ctx, docs); err != nil {
		t.Fatal(err)
	}
	var sizes []int
	for _, r := range srv.Requests() {
		if r.Method == "Upsert" {
			if r.Wait == nil || !*r.Wait {
				t.Errorf("upsert sent wait=%v, want true", r.Wait)
			}
			sizes = append(sizes, r.Points)
		}
	}
	if fmt.Sprint(sizes) != "[3 3 2]" {
		t.Errorf("upsert chunk sizes %v, want [3 3 2]", sizes)
	}
}

// An existing collection written by another tool: numeric and UUID ids, a
// named vector, its own text key and extra payload.
func TestAttachExisting(t *testing.T) {
	_, client, _ := standIn(t)
	const uid = "5c56c793-69f3-4fbf-87e6-c4bf54c28c26"
	err := client.CreateCollection(ctx, &qdrant.CreateCollection{
		CollectionName: "legacy",
		VectorsConfig: qdrant.NewVectorsConfigMap(map[string]*qdrant.VectorParams{
			"img": {Size: 2, Distance: qdrant.Distance_Dot},
			"txt": {Size: 3, Distance: qdrant.Distance_Dot},
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = client.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: "legacy", Wait: qdrant.PtrOf(true), Points: []*qdrant.PointStruct{
		{Id: qdrant.NewIDNum(42), Vectors: qdrant.NewVectorsMap(map[string]*qdrant.Vector{
			"img": qdrant.NewVectorDense([]float32{1, 0}), "txt": qdrant.NewVectorDense([]float32{1, 0, 0})}),
			Payload: qdrant.NewValueMap(map[string]any{"content": "forty-two", "lang": "en", "year": 2001, "internal": map[string]any{"x": 1}})},
		{Id: qdrant.NewIDUUID(uid), Vectors: qdrant.NewVectorsMap(map[string]*qdrant.Vector{
			"img": qdrant.NewVectorDense([]float32{0, 1}), "txt": qdrant.NewVectorDense([]float32{0, 2, 0})}),
			Payload: qdrant.NewValueMap(map[string]any{"content": "uuid one", "lang": "de", "year": 1999})},
	}})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("needs vector name", func(t *testing.T) {
		_, err := qdrantstore.Open(ctx, client, "legacy", nil)
		if !errors.Is(err, twostage.ErrInvalidInput) || !strings.Contains(err.Error(), "img") {
			t.Fatalf("got %v, want ErrInvalidInput naming the vectors", err)
		}
	})
	t.Run("dimension mismatch", func(t *testing.T) {
		_, err := qdrantstore.Open(ctx, client, "legacy", &qdrantstore.Options{VectorName: "txt", Dim: 4})
		if !errors.Is(err, twostage.ErrDimension) {
			t.Fatalf("got %v, want ErrDimension", err)
		}
	})
	t.Run("no create", func(t *testing.T) {
		_, err := qdrantstore.Open(ctx, client, "absent", &qdrantstore.Options{NoCreate: true})
		if !errors.Is(err, twostage.ErrNotFound) {
			t.Fatalf("got %v, want ErrNotFound", err)
		}
	})

	s := openStore(t, client, "legacy", &qdrantstore.Options{
		VectorName: "txt", TextKey: "content", MetadataKeys: []string{"lang", "year"},
	})
	if got := s.Info(); got.Dim != 3 || got.Metric != twostage.Dot {
		t.Errorf("Info = %+v, want dim 3, dot", got)
	}
	docs, err := s.Get(ctx, []string{uid, "42"})
	if err != nil {
		t.Fatal(err)
	}
	want := []twostage.Document{
		{ID: uid, Text: "uuid one", Vector: []float32{0, 2, 0}, Metadata: map[string]any{"lang": "de", "year": int64(1999)}},
		{ID: "42", Text: "forty-two", Vector: []float32{1, 0, 0}, Metadata: map[string]any{"lang": "en", "year": int64(2001)}},
	}
	if fmt.Sprint(docs) != fmt.Sprint(want) {
		t.Errorf("Get:\n got %v\nwant %v", docs, want)
	}
	hits, err := s.Search(ctx, twostage.Query{Vector: []float32{0, 1, 0}, K: 5, Filter: twostage.Lt("year", 2000)})
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) != 1 || hits[0].ID != uid || hits[0].RetrievalScore != 2 {
		t.Errorf("filtered search: got %+v, want %s with score 2", hits, uid)
	}
	// "internal" is not among MetadataKeys: it never matches.
	hits, err = s.Search(ctx, twostage.Query{Vector: []float32{0, 1, 0}, K: 5, Filter: twostage.Exists("internal")})
	if err != nil || len(hits) != 0 {
		t.Errorf("filter on a non-metadata key: got %v, %v; want no hits", hits, err)
	}
	// Exists falls back to is_empty for points without the key list.
	hits, err = s.Search(ctx, twostage.Query{Vector: []float32{0, 1, 0}, K: 5, Filter: twostage.Exists("lang")})
	if err != nil || len(hits) != 2 {
		t.Errorf("Exists on foreign points: got %v, %v; want 2 hits", hits, err)
	}
	err = s.Upsert(ctx, []twostage.Document{{ID: "new", Vector: []float32{1, 1, 1}, Metadata: map[string]any{"other": 1}}})
	if !errors.Is(err, twostage.ErrInvalidInput) {
		t.Errorf("writing a key outside MetadataKeys: got %v, want ErrInvalidInput", err)
	}
	if err := s.Delete(ctx, []string{"42"}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Count(ctx); err != nil || n != 1 {
		t.Errorf("Count after deleting point 42 = %d, %v; want 1", n, err)
	}
	var native *qdrant.Client
	if !s.As(&native) || native != client {
		t.Error("As(**qdrant.Client) did not expose the client")
	}
}

func TestPointID(t *testing.T) {
	for _, tc := range []struct{ id, want string }{
		{"42", "num:42"},
		{"0", "num:0"},
		{"042", "uuid:"},                  // not canonical: hashed
		{"-1", "uuid:"},                   // not unsigned: hashed
		{"18446744073709551616", "uuid:"}, // overflows uint64
		{"5c56c793-69f3-4fbf-87e6-c4bf54c28c26", "uuid:5c56c793-69f3-4fbf-87e6-c4bf54c28c26"},
		{"5C56C793-69F3-4FBF-87E6-C4BF54C28C26", "uuid:"}, // not canonical: hashed
		{"doc-1", "uuid:"},
	} {
		p := qdrantstore.PointID(tc.id)
		var got string
		if u := p.GetUuid(); u != "" {
			got = "uuid:" + u
		} else {
			got = fmt.Sprint("num:", p.GetNum())
		}
		if tc.want == "uuid:" {
			if !strings.HasPrefix(got, "uuid:") || got == "uuid:"+tc.id || qdrantstore.PointID(tc.id).GetUuid() != p.GetUuid() {
				t.Errorf("PointID(%q) = %s, want a deterministic hashed UUID", tc.id, got)
			}
			if p.GetUuid()[14] != '5' {
				t.Errorf("PointID(%q) = %s, want a version-5 UUID", tc.id, got)
			}
			continue
		}
		if got != tc.want {
			t.Errorf("PointID(%q) = %s, want %s", tc.id, got, tc.want)
		}
	}
}

func TestServerDown(t *testing.T) {
	srv, client, attempts := standIn(t)
	s := openStore(t, client, "down", &qdrantstore.Options{Dim: 2,
		Retry: qdrantstore.Retry{Attempts: 3, Initial: 5 * time.Millisecond, Max: 20 * time.Millisecond}})
	if err := s.Upsert(ctx, []twostage.Document{{ID: "a", Vector: []float32{1, 0}}}); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	before := attempts.Load()
	_, err := s.Search(ctx, twostage.Query{Vector: []float32{1, 0}, K: 1})
	if !errors.Is(err, twostage.ErrUnavailable) {
		t.Fatalf("search with the server down: got %v, want ErrUnavailable", err)
	}
	var st interface{ GRPCStatus() *status.Status }
	if !errors.As(err, &st) || st.GRPCStatus().Code() != codes.Unavailable {
		t.Errorf("the gRPC status is not reachable with errors.As: %v", err)
	}
	if n := attempts.Load() - before; n != 3 {
		t.Errorf("made %d attempts, want 3 (Retry.Attempts)", n)
	}
	err = s.Upsert(ctx, []twostage.Document{{ID: "b", Vector: []float32{0, 1}}})
	var be *qdrantstore.BatchError
	if !errors.Is(err, twostage.ErrUnavailable) || !errors.As(err, &be) || fmt.Sprint(be.Failed) != "[b]" {
		t.Fatalf("upsert with the server down: got %v, want ErrUnavailable naming b", err)
	}

	// Restart on the same port while a call is retrying: the call succeeds,
	// and what was acknowledged before is still there. The server comes
	// back when the call's first try has failed (not after a sleep that a
	// loaded machine can stretch past the retries); the retries then span
	// about 10s, beyond gRPC's reconnect backoff (1s, then 1.6s, ...).
	if _, err := qdrantstore.Open(ctx, client, "down", &qdrantstore.Options{
		Retry: qdrantstore.Retry{Attempts: 2, Initial: time.Millisecond}}); !errors.Is(err, twostage.ErrUnavailable) {
		t.Fatalf("Open with the server down: got %v, want ErrUnavailable", err)
	}
	var restart sync.Once
	var retried atomic.Int32
	s2, err := qdrantstore.Open(ctx, client, "down", &qdrantstore.Options{
		Retry: qdrantstore.Retry{Attempts: 100, Initial: 20 * time.Millisecond, Max: 100 * time.Millisecond,
			OnRetry: func(int, time.Duration, error) {
				retried.Add(1)
				restart.Do(func() {
					if err := srv.Start(srv.Addr()); err != nil {
						t.Error(err)
					}
				})
			}}})
	if err != nil {
		t.Fatalf("Open across a restart: %v", err)
	}
	if retried.Load() == 0 {
		t.Fatal("Open succeeded at once: the server was not down")
	}
	defer s2.Close()
	got, err := s2.Get(ctx, []string{"a"})
	if err != nil || len(got) != 1 {
		t.Fatalf("acknowledged write after restart: got %v, %v", got, err)
	}
}

func TestDeadline(t *testing.T) {
	srv, client, _ := standIn(t)
	s := openStore(t, client, "slow", &qdrantstore.Options{Dim: 2})
	srv.SetDelay(10 * time.Second)
	defer srv.SetDelay(0)
	if err := storefault.Deadlines(ctx, s, 2, 50*time.Millisecond); err != nil {
		t.Error(err)
	}
}

func TestPartialBatchFailure(t *testing.T) {
	srv, client, _ := standIn(t)
	s := openStore(t, client, "partial", &qdrantstore.Options{Dim: 2, BatchSize: 2})
	var upserts atomic.Int64
	srv.SetFault(func(method string) error {
		if method == "Upsert" && upserts.Add(1) == 2 {
			return status.Error(codes.InvalidArgument, "injected: bad batch")
		}
		return nil
	})
	var docs []twostage.Document
	for i := range 5 {
		docs = append(docs, twostage.Document{ID: fmt.Sprint("p", i), Vector: []float32{1, float32(i)}})
	}
	err := s.Upsert(ctx, docs)
	var be *qdrantstore.BatchError
	if !errors.As(err, &be) {
		t.Fatalf("got %v, want a *BatchError", err)
	}
	if fmt.Sprint(be.Failed) != "[p2 p3 p4]" || !strings.Contains(err.Error(), `"p2", "p3", "p4"`) {
		t.Errorf("failed ids %v (message %q), want [p2 p3 p4]", be.Failed, err)
	}
	if !errors.Is(err, twostage.ErrInvalidInput) {
		t.Errorf("got %v, want ErrInvalidInput from the InvalidArgument status", err)
	}
	srv.SetFault(nil)
	got, err := s.Get(ctx, []string{"p0", "p1", "p2"})
	if !errors.Is(err, twostage.ErrNotFound) || len(got) != 2 {
		t.Errorf("after the partial failure: got %v, %v; want p0 and p1 only", got, err)
	}
}

func TestUnsupportedFilterKey(t *testing.T) {
	_, client, _ := standIn(t)
	s := openStore(t, client, "paths", &qdrantstore.Options{Dim: 2})
	doc := twostage.Document{ID: "a", Vector: []float32{1, 0}, Metadata: map[string]any{"a.b": "x"}}
	if err := s.Upsert(ctx, []twostage.Document{doc}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, []string{"a"})
	if err != nil || got[0].Metadata["a.b"] != "x" {
		t.Errorf("round trip of a dotted key: got %v, %v", got, err)
	}
	_, err = s.Search(ctx, twostage.Query{Vector: []float32{1, 0}, K: 1, Filter: twostage.Eq("a.b", "x")})
	if !errors.Is(err, twostage.ErrUnsupported) {
		t.Errorf("filter on a dotted key: got %v, want ErrUnsupported", err)
	}
	err = s.Upsert(ctx, []twostage.Document{{ID: "b", Vector: []float32{1, 0}, Metadata: map[string]any{"twostage_keys": "x"}}})
	if !errors.Is(err, twostage.ErrInvalidInput) {
		t.Errorf("reserved metadata key: got %v, want ErrInvalidInput", err)
	}
}
