// Package qdranttest is an in-process STAND-IN for a Qdrant server, for tests.
// It is not Qdrant: no Qdrant server binary can be had on the project's
// build machines, so CI runs the qdrantstore adapter against this gRPC
// server, which implements Qdrant's own generated service interfaces (from
// github.com/qdrant/go-client) with Qdrant's documented semantics for the
// calls the adapter makes. Run the integration tests with QDRANT_ADDR set to
// test against a real Qdrant.
//
// What it models, following Qdrant's documentation:
//
//   - Collections service: Create (one unnamed vector or a map of named
//     vectors; Cosine, Dot, Euclid, Manhattan), Get (vector config and points
//     count), CollectionExists, Delete, List. Creating an existing
//     collection is AlreadyExists; using a missing one is NotFound.
//   - Points service: Upsert (overwrites whole points; wrong vector size is
//     InvalidArgument), Delete (by ids or filter; missing ids are ignored),
//     Get, Count (exact), Scroll (id order, offset, limit, filter), Query (nearest neighbours by a dense vector, with
//     using, filter, limit, offset, score_threshold, with_payload include /
//     exclude and with_vectors). Point ids are unsigned integers or UUIDs;
//     UUIDs are canonicalized to lower-case hyphenated form. Writes are
//     applied before the reply whatever the wait flag says; Requests records
//     the flags so tests can check the adapter asks to wait.
//   - Cosine collections store vectors normalized to unit length, as Qdrant
//     does, so reads return the normalized vector. Scores: Cosine and Dot
//     return the similarity (higher first); Euclid returns the Euclidean
//     distance, not squared, and Manhattan the L1 distance (lower first).
//     Search is exact (Qdrant's HNSW is approximate, but exact for the small
//     collections tests use).
//   - Filters: must (all), should (at least one; empty means no constraint),
//     must_not (none), min_should, nested filters, has_id, is_empty (field
//     missing, null or []), is_null (field present and null) and field
//     conditions: match keyword / integer / bool / keywords (any) / integers
//     (any) / except keywords / except integers, and range (gt, gte, lt,
//     lte) on integer and float values. A field condition on an array
//     matches when any element matches. Match integer matches integer
//     values only, not floats (Qdrant keeps the JSON number's type); range
//     compares both. Keys are top-level payload keys only: JSON paths
//     ("a.b", "a[]") are not modelled and answer InvalidArgument.
//   - Qdrant service: HealthCheck reports version Version.
//
// Not modelled: HNSW approximation, sparse and multi vectors, payload
// indexes, shards, snapshots, full-text match, geo and datetime conditions,
// persistence across processes (data survives Stop and Start within one
// process, standing in for a server restart on its storage).
//
// Faults for tests: Stop and Start (a down or restarting server), SetDelay
// (a slow server that honours the caller's deadline) and SetFault (an error
// returned for chosen calls).
package qdranttest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Version is the Qdrant version the stand-in reports (the go-client's).
const Version = "1.16.2"

// Server is the stand-in. Its methods are safe for concurrent use.
type Server struct {
	mu          sync.Mutex
	addr        string
	grpc        *grpc.Server
	collections map[string]*collection
	delay       time.Duration
	fault       func(method string) error
	requests    []Request
}

// Request records a call the server answered or refused.
type Request struct {
	Method string // e.g. "Upsert", "Query"
	Wait   *bool  // the wait flag of Upsert and Delete
	Points int    // points in an Upsert
}

type collection struct {
	named  bool
	params map[string]*qdrant.VectorParams // "" for the unnamed vector
	points map[string]*point
}

type point struct {
	id      *qdrant.PointId
	payload map[string]*qdrant.Value
	vectors map[string][]float32
}

// New returns a stopped server with no collections.
func New() *Server { return &Server{collections: map[string]*collection{}} }

// Start serves on addr ("127.0.0.1:0" picks a free port; after a Stop,
// pass Addr() to restart on the same port). Data survives Stop and Start.
func (s *Server) Start(addr string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.grpc != nil {
		return errors.New("qdranttest: already running")
	}
	var lis net.Listener
	var err error
	for try := 0; ; try++ { // the old socket may linger briefly after Stop
		lis, err = net.Listen("tcp", addr)
		if err == nil || try == 50 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("qdranttest: listen: %w", err)
	}
	g := grpc.NewServer(grpc.UnaryInterceptor(s.intercept))
	qdrant.RegisterPointsServer(g, &pointsServer{s: s})
	qdrant.RegisterCollectionsServer(g, &collectionsServer{s: s})
	qdrant.RegisterQdrantServer(g, &qdrantServer{})
	s.grpc = g
	s.addr = lis.Addr().String()
	go g.Serve(lis) // returns when Stop closes the listener
	return nil
}

// Addr returns the "host:port" the server listens (or last listened) on.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Stop closes the listener and every connection, like a killed server.
func (s *Server) Stop() {
	s.mu.Lock()
	g := s.grpc
	s.grpc = nil
	s.mu.Unlock()
	if g != nil {
		g.Stop()
	}
}

// SetDelay makes every call wait d before it is handled (a slow server);
// a call whose context ends first fails with DeadlineExceeded or Canceled.
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// SetFault installs f: for each call, a non-nil f(method) is returned
// instead of handling it. Nil removes it.
func (s *Server) SetFault(f func(method string) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = f
}

// Requests returns the calls seen so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

func (s *Server) intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	method := info.FullMethod[strings.LastIndex(info.FullMethod, "/")+1:]
	r := Request{Method: method}
	switch x := req.(type) {
	case *qdrant.UpsertPoints:
		r.Wait, r.Points = x.Wait, len(x.Points)
	case *qdrant.DeletePoints:
		r.Wait = x.Wait
	}
	s.mu.Lock()
	s.requests = append(s.requests, r)
	delay, fault := s.delay, s.fault
	s.mu.Unlock()
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, status.FromContextError(ctx.Err()).Err()
		case <-t.C:
		}
	}
	if fault != nil {
		if err := fault(method); err != nil {
			return nil, err
		}
	}
	// Every handler runs with s.mu held: calls are applied one at a time,
	// and a handler reads and writes the collections directly.
	s.mu.Lock()
	defer s.mu.Unlock()
	return handler(ctx, req)
}

type qdrantServer struct {
	qdrant.UnimplementedQdrantServer
}

// HealthCheck reports the stand-in and Version.
func (qdrantServer) HealthCheck(context.Context, *qdrant.HealthCheckRequest) (*qdrant.HealthCheckReply, error) {
	return &qdrant.HealthCheckReply{Title: "qdranttest stand-in", Version: Version}, nil
}

type collectionsServer struct {
	qdrant.UnimplementedCollectionsServer
	s *Server
}

// Create makes a collection with its vector parameters.
func (c *collectionsServer) Create(_ context.Context, req *qdrant.CreateCollection) (*qdrant.CollectionOperationResponse, error) {
	s := c.s
	if req.GetCollectionName() == "" {
		return nil, status.Error(codes.InvalidArgument, "Validation error in body: collection name must not be empty")
	}
	if _, ok := s.collections[req.GetCollectionName()]; ok {
		return nil, status.Errorf(codes.AlreadyExists, "Wrong input: Collection `%s` already exists!", req.GetCollectionName())
	}
	col := &collection{params: map[string]*qdrant.VectorParams{}, points: map[string]*point{}}
	vc := req.GetVectorsConfig()
	switch {
	case vc.GetParams() != nil:
		col.params[""] = proto.Clone(vc.GetParams()).(*qdrant.VectorParams)
	case vc.GetParamsMap() != nil:
		col.named = true
		for n, p := range vc.GetParamsMap().GetMap() {
			col.params[n] = proto.Clone(p).(*qdrant.VectorParams)
		}
	}
	for n, p := range col.params {
		if p.GetSize() == 0 {
			return nil, status.Errorf(codes.InvalidArgument, "Validation error: vector %q size must be positive", n)
		}
		if p.GetMultivectorConfig() != nil {
			return nil, status.Error(codes.Unimplemented, "qdranttest: multivectors are not modelled")
		}
	}
	s.collections[req.GetCollectionName()] = col
	return &qdrant.CollectionOperationResponse{Result: true}, nil
}

// Get reports the vector config and the points count.
func (c *collectionsServer) Get(_ context.Context, req *qdrant.GetCollectionInfoRequest) (*qdrant.GetCollectionInfoResponse, error) {
	col, err := c.s.collection(req.GetCollectionName())
	if err != nil {
		return nil, err
	}
	vc := &qdrant.VectorsConfig{}
	if col.named {
		m := map[string]*qdrant.VectorParams{}
		for n, p := range col.params {
			m[n] = proto.Clone(p).(*qdrant.VectorParams)
		}
		vc = qdrant.NewVectorsConfigMap(m)
	} else {
		vc = qdrant.NewVectorsConfig(proto.Clone(col.params[""]).(*qdrant.VectorParams))
	}
	n := uint64(len(col.points))
	return &qdrant.GetCollectionInfoResponse{Result: &qdrant.CollectionInfo{
		Status:      qdrant.CollectionStatus_Green,
		Config:      &qdrant.CollectionConfig{Params: &qdrant.CollectionParams{ShardNumber: 1, VectorsConfig: vc}},
		PointsCount: &n,
	}}, nil
}

// CollectionExists reports whether the collection exists.
func (c *collectionsServer) CollectionExists(_ context.Context, req *qdrant.CollectionExistsRequest) (*qdrant.CollectionExistsResponse, error) {
	s := c.s
	_, ok := s.collections[req.GetCollectionName()]
	return &qdrant.CollectionExistsResponse{Result: &qdrant.CollectionExists{Exists: ok}}, nil
}

// Delete drops a collection and its points.
func (c *collectionsServer) Delete(_ context.Context, req *qdrant.DeleteCollection) (*qdrant.CollectionOperationResponse, error) {
	s := c.s
	_, ok := s.collections[req.GetCollectionName()]
	delete(s.collections, req.GetCollectionName())
	return &qdrant.CollectionOperationResponse{Result: ok}, nil
}

// List lists the collections by name.
func (c *collectionsServer) List(context.Context, *qdrant.ListCollectionsRequest) (*qdrant.ListCollectionsResponse, error) {
	s := c.s
	var out []*qdrant.CollectionDescription
	for n := range s.collections {
		out = append(out, &qdrant.CollectionDescription{Name: n})
	}
	slices.SortFunc(out, func(a, b *qdrant.CollectionDescription) int { return cmp.Compare(a.Name, b.Name) })
	return &qdrant.ListCollectionsResponse{Collections: out}, nil
}

// collection returns the named collection; s.mu is held.
func (s *Server) collection(name string) (*collection, error) {
	col, ok := s.collections[name]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "Not found: Collection `%s` doesn't exist!", name)
	}
	return col, nil
}

// idKey canonicalizes a point id: "n:42" or "u:<lower-case uuid>".
func idKey(id *qdrant.PointId) (string, *qdrant.PointId, error) {
	switch x := id.GetPointIdOptions().(type) {
	case *qdrant.PointId_Num:
		return fmt.Sprint("n:", x.Num), qdrant.NewIDNum(x.Num), nil
	case *qdrant.PointId_Uuid:
		u, err := uuid.Parse(x.Uuid)
		if err != nil {
			return "", nil, status.Errorf(codes.InvalidArgument, "Unable to parse UUID: %s", x.Uuid)
		}
		return "u:" + u.String(), qdrant.NewIDUUID(u.String()), nil
	}
	return "", nil, status.Error(codes.InvalidArgument, "Validation error: point id is empty")
}

type pointsServer struct {
	qdrant.UnimplementedPointsServer
	s *Server
}

// Upsert writes whole points, all or none.
func (p *pointsServer) Upsert(_ context.Context, req *qdrant.UpsertPoints) (*qdrant.PointsOperationResponse, error) {
	col, err := p.s.collection(req.GetCollectionName())
	if err != nil {
		return nil, err
	}
	if req.GetUpdateFilter() != nil || req.GetShardKeySelector() != nil {
		return nil, status.Error(codes.Unimplemented, "qdranttest: update_filter and shard keys are not modelled")
	}
	// Validate the whole request first: Qdrant applies it all or not at all.
	staged := make([]*point, 0, len(req.GetPoints()))
	for _, ps := range req.GetPoints() {
		_, id, err := idKey(ps.GetId())
		if err != nil {
			return nil, err
		}
		vecs, err := col.vectors(ps.GetVectors())
		if err != nil {
			return nil, err
		}
		payload := map[string]*qdrant.Value{}
		for k, v := range ps.GetPayload() {
			payload[k] = proto.Clone(v).(*qdrant.Value)
		}
		staged = append(staged, &point{id: id, payload: payload, vectors: vecs})
	}
	for _, pt := range staged {
		key, _, _ := idKey(pt.id)
		col.points[key] = pt
	}
	return &qdrant.PointsOperationResponse{Result: &qdrant.UpdateResult{Status: qdrant.UpdateStatus_Completed}}, nil
}

// vectors checks a point's vectors against the collection and normalizes
// Cosine ones.
func (c *collection) vectors(v *qdrant.Vectors) (map[string][]float32, error) {
	in := map[string]*qdrant.Vector{}
	switch {
	case v.GetVector() != nil:
		in[""] = v.GetVector()
	case v.GetVectors() != nil:
		in = v.GetVectors().GetVectors()
	}
	out := map[string][]float32{}
	for name, vec := range in {
		params, ok := c.params[name]
		if !ok {
			if name == "" {
				return nil, status.Error(codes.InvalidArgument, "Wrong input: Not existing vector name error: ")
			}
			return nil, status.Errorf(codes.InvalidArgument, "Wrong input: Not existing vector name error: %s", name)
		}
		data := denseOf(vec)
		if data == nil {
			return nil, status.Error(codes.Unimplemented, "qdranttest: only dense vectors are modelled")
		}
		if uint64(len(data)) != params.GetSize() {
			return nil, status.Errorf(codes.InvalidArgument, "Wrong input: Vector dimension error: expected dim: %d, got %d", params.GetSize(), len(data))
		}
		data = slices.Clone(data)
		if params.GetDistance() == qdrant.Distance_Cosine {
			normalize(data)
		}
		out[name] = data
	}
	for name := range c.params {
		if _, ok := out[name]; !ok && !c.named {
			return nil, status.Error(codes.InvalidArgument, "Wrong input: the point has no vector")
		}
	}
	return out, nil
}

func denseOf(v *qdrant.Vector) []float32 {
	if d := v.GetDense(); d != nil {
		return d.GetData()
	}
	if v.GetSparse() != nil || v.GetMultiDense() != nil || v.GetIndices() != nil {
		return nil
	}
	return v.GetData() // the deprecated flat field
}

func normalize(v []float32) {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	if s == 0 {
		return
	}
	n := float32(math.Sqrt(s))
	for i := range v {
		v[i] /= n
	}
}

// Delete removes points by id or filter; missing ids are ignored.
func (p *pointsServer) Delete(_ context.Context, req *qdrant.DeletePoints) (*qdrant.PointsOperationResponse, error) {
	col, err := p.s.collection(req.GetCollectionName())
	if err != nil {
		return nil, err
	}
	sel := req.GetPoints()
	switch {
	case sel.GetPoints() != nil:
		for _, id := range sel.GetPoints().GetIds() {
			key, _, err := idKey(id)
			if err != nil {
				return nil, err
			}
			delete(col.points, key)
		}
	case sel.GetFilter() != nil:
		keys, err := col.matching(sel.GetFilter())
		if err != nil {
			return nil, err
		}
		for _, key := range keys {
			delete(col.points, key)
		}
	default:
		return nil, status.Error(codes.InvalidArgument, "Validation error: no points selector")
	}
	return &qdrant.PointsOperationResponse{Result: &qdrant.UpdateResult{Status: qdrant.UpdateStatus_Completed}}, nil
}

// Get returns the points found, each once.
func (p *pointsServer) Get(_ context.Context, req *qdrant.GetPoints) (*qdrant.GetResponse, error) {
	col, err := p.s.collection(req.GetCollectionName())
	if err != nil {
		return nil, err
	}
	var out []*qdrant.RetrievedPoint
	seen := map[string]bool{}
	for _, id := range req.GetIds() {
		key, _, err := idKey(id)
		if err != nil {
			return nil, err
		}
		pt, ok := col.points[key]
		if !ok || seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, col.retrieved(pt, req.GetWithPayload(), req.GetWithVectors()))
	}
	return &qdrant.GetResponse{Result: out}, nil
}

// Count counts the points matching the filter, exactly.
func (p *pointsServer) Count(_ context.Context, req *qdrant.CountPoints) (*qdrant.CountResponse, error) {
	col, err := p.s.collection(req.GetCollectionName())
	if err != nil {
		return nil, err
	}
	keys, err := col.matching(req.GetFilter())
	if err != nil {
		return nil, err
	}
	return &qdrant.CountResponse{Result: &qdrant.CountResult{Count: uint64(len(keys))}}, nil
}

// Query runs an exact nearest-neighbour search.
func (p *pointsServer) Query(_ context.Context, req *qdrant.QueryPoints) (*qdrant.QueryResponse, error) {
	col, err := p.s.collection(req.GetCollectionName())
	if err != nil {
		return nil, err
	}
	if len(req.GetPrefetch()) > 0 || req.GetLookupFrom() != nil {
		return nil, status.Error(codes.Unimplemented, "qdranttest: prefetch and lookup_from are not modelled")
	}
	nearest := req.GetQuery().GetNearest()
	if nearest == nil {
		return nil, status.Error(codes.Unimplemented, "qdranttest: only nearest-vector queries are modelled")
	}
	q := nearest.GetDense().GetData()
	if q == nil {
		return nil, status.Error(codes.Unimplemented, "qdranttest: only dense query vectors are modelled")
	}
	using := req.GetUsing()
	params, ok := col.params[using]
	if !ok {
		return nil, status.Errorf(codes.InvalidArgument, "Wrong input: Not existing vector name error: %s", using)
	}
	if uint64(len(q)) != params.GetSize() {
		return nil, status.Errorf(codes.InvalidArgument, "Wrong input: Vector dimension error: expected dim: %d, got %d", params.GetSize(), len(q))
	}
	dist := params.GetDistance()
	if dist == qdrant.Distance_Cosine {
		q = slices.Clone(q)
		normalize(q)
	}
	type scored struct {
		pt    *point
		key   string
		score float32
	}
	keys, err := col.matching(req.GetFilter())
	if err != nil {
		return nil, err
	}
	var all []scored
	for _, key := range keys {
		pt := col.points[key]
		v, ok := pt.vectors[using]
		if !ok {
			continue
		}
		sc := score(dist, q, v)
		if th := req.ScoreThreshold; th != nil {
			if (higherIsBetter(dist) && sc < *th) || (!higherIsBetter(dist) && sc > *th) {
				continue
			}
		}
		all = append(all, scored{pt, key, sc})
	}
	slices.SortFunc(all, func(a, b scored) int {
		c := cmp.Compare(b.score, a.score)
		if !higherIsBetter(dist) {
			c = -c
		}
		if c != 0 {
			return c
		}
		return cmp.Compare(a.key, b.key)
	})
	limit := uint64(10)
	if req.Limit != nil {
		limit = *req.Limit
	}
	off := min(req.GetOffset(), uint64(len(all)))
	all = all[off:]
	if uint64(len(all)) > limit {
		all = all[:limit]
	}
	out := make([]*qdrant.ScoredPoint, len(all))
	for i, sp := range all {
		r := col.retrieved(sp.pt, req.GetWithPayload(), req.GetWithVectors())
		out[i] = &qdrant.ScoredPoint{Id: r.Id, Payload: r.Payload, Score: sp.score, Vectors: r.Vectors}
	}
	return &qdrant.QueryResponse{Result: out}, nil
}

func higherIsBetter(d qdrant.Distance) bool {
	return d == qdrant.Distance_Cosine || d == qdrant.Distance_Dot
}

// score computes Qdrant's score in float32, as Qdrant does.
func score(d qdrant.Distance, a, b []float32) float32 {
	var s float32
	switch d {
	case qdrant.Distance_Euclid:
		for i := range a {
			x := a[i] - b[i]
			s += x * x
		}
		return float32(math.Sqrt(float64(s)))
	case qdrant.Distance_Manhattan:
		for i := range a {
			s += float32(math.Abs(float64(a[i] - b[i])))
		}
		return s
	default: // Cosine (both sides normalized) and Dot
		for i := range a {
			s += a[i] * b[i]
		}
		return s
	}
}

// matching returns the keys of the points that match f (every point for a
// nil f), in no particular order.
func (c *collection) matching(f *qdrant.Filter) ([]string, error) {
	var keys []string
	for key, pt := range c.points {
		ok, err := matches(f, pt)
		if err != nil {
			return nil, err
		}
		if ok {
			keys = append(keys, key)
		}
	}
	return keys, nil
}

// retrieved copies pt out as a reply carries it: its id, and the payload
// and vectors the two selectors ask for.
func (c *collection) retrieved(pt *point, withPayload *qdrant.WithPayloadSelector, withVectors *qdrant.WithVectorsSelector) *qdrant.RetrievedPoint {
	return &qdrant.RetrievedPoint{
		Id:      proto.Clone(pt.id).(*qdrant.PointId),
		Payload: selectPayload(pt.payload, withPayload),
		Vectors: c.selectVectors(pt, withVectors),
	}
}

// selectPayload applies with_payload; an absent selector means no payload.
func selectPayload(p map[string]*qdrant.Value, sel *qdrant.WithPayloadSelector) map[string]*qdrant.Value {
	if sel == nil {
		return nil
	}
	keep := func(string) bool { return true }
	switch {
	case sel.GetInclude() != nil:
		inc := sel.GetInclude().GetFields()
		keep = func(k string) bool { return slices.Contains(inc, k) }
	case sel.GetExclude() != nil:
		exc := sel.GetExclude().GetFields()
		keep = func(k string) bool { return !slices.Contains(exc, k) }
	case !sel.GetEnable():
		return nil
	}
	out := map[string]*qdrant.Value{}
	for k, v := range p {
		if keep(k) {
			out[k] = proto.Clone(v).(*qdrant.Value)
		}
	}
	return out
}

func (c *collection) selectVectors(pt *point, sel *qdrant.WithVectorsSelector) *qdrant.VectorsOutput {
	if sel == nil {
		return nil
	}
	var names []string
	switch {
	case sel.GetInclude() != nil:
		names = sel.GetInclude().GetNames()
	case sel.GetEnable():
		for n := range pt.vectors {
			names = append(names, n)
		}
	default:
		return nil
	}
	dense := func(v []float32) *qdrant.VectorOutput {
		return &qdrant.VectorOutput{Vector: &qdrant.VectorOutput_Dense{Dense: &qdrant.DenseVector{Data: slices.Clone(v)}}}
	}
	if !c.named {
		if v, ok := pt.vectors[""]; ok {
			return &qdrant.VectorsOutput{VectorsOptions: &qdrant.VectorsOutput_Vector{Vector: dense(v)}}
		}
		return nil
	}
	m := map[string]*qdrant.VectorOutput{}
	for _, n := range names {
		if v, ok := pt.vectors[n]; ok {
			m[n] = dense(v)
		}
	}
	return &qdrant.VectorsOutput{VectorsOptions: &qdrant.VectorsOutput_Vectors{Vectors: &qdrant.NamedVectorsOutput{Vectors: m}}}
}

// matches evaluates a Qdrant filter on a point. A nil filter matches.
func matches(f *qdrant.Filter, pt *point) (bool, error) {
	if f == nil {
		return true, nil
	}
	for _, c := range f.GetMust() {
		ok, err := condition(c, pt)
		if err != nil || !ok {
			return false, err
		}
	}
	for _, c := range f.GetMustNot() {
		ok, err := condition(c, pt)
		if err != nil || ok {
			return false, err
		}
	}
	if len(f.GetShould()) > 0 {
		any := false
		for _, c := range f.GetShould() {
			ok, err := condition(c, pt)
			if err != nil {
				return false, err
			}
			if ok {
				any = true
				break
			}
		}
		if !any {
			return false, nil
		}
	}
	if ms := f.GetMinShould(); ms != nil {
		n := uint64(0)
		for _, c := range ms.GetConditions() {
			ok, err := condition(c, pt)
			if err != nil {
				return false, err
			}
			if ok {
				n++
			}
		}
		if n < ms.GetMinCount() {
			return false, nil
		}
	}
	return true, nil
}

func checkKey(k string) error {
	if k == "" || strings.ContainsAny(k, `.[]"`) {
		return status.Errorf(codes.InvalidArgument, "qdranttest: key %q: JSON paths are not modelled", k)
	}
	return nil
}

func condition(c *qdrant.Condition, pt *point) (bool, error) {
	switch x := c.GetConditionOneOf().(type) {
	case *qdrant.Condition_Filter:
		return matches(x.Filter, pt)
	case *qdrant.Condition_IsEmpty:
		if err := checkKey(x.IsEmpty.GetKey()); err != nil {
			return false, err
		}
		return isEmpty(pt.payload[x.IsEmpty.GetKey()]), nil
	case *qdrant.Condition_IsNull:
		if err := checkKey(x.IsNull.GetKey()); err != nil {
			return false, err
		}
		_, null := pt.payload[x.IsNull.GetKey()].GetKind().(*qdrant.Value_NullValue)
		return null, nil
	case *qdrant.Condition_HasId:
		for _, id := range x.HasId.GetHasId() {
			a, _, err := idKey(id)
			if err != nil {
				return false, err
			}
			if b, _, _ := idKey(pt.id); a == b {
				return true, nil
			}
		}
		return false, nil
	case *qdrant.Condition_Field:
		return field(x.Field, pt)
	}
	return false, status.Errorf(codes.Unimplemented, "qdranttest: condition %T is not modelled", c.GetConditionOneOf())
}

func isEmpty(v *qdrant.Value) bool {
	switch x := v.GetKind().(type) {
	case nil, *qdrant.Value_NullValue:
		return true
	case *qdrant.Value_ListValue:
		return len(x.ListValue.GetValues()) == 0
	}
	return false
}

// values flattens a payload value: an array yields its elements.
func values(v *qdrant.Value) []*qdrant.Value {
	if l, ok := v.GetKind().(*qdrant.Value_ListValue); ok {
		return l.ListValue.GetValues()
	}
	if v == nil {
		return nil
	}
	return []*qdrant.Value{v}
}

func field(fc *qdrant.FieldCondition, pt *point) (bool, error) {
	if err := checkKey(fc.GetKey()); err != nil {
		return false, err
	}
	v := pt.payload[fc.GetKey()]
	switch {
	case fc.GetMatch() != nil:
		return match(fc.GetMatch(), values(v))
	case fc.GetRange() != nil:
		r := fc.GetRange()
		for _, e := range values(v) {
			var x float64
			switch n := e.GetKind().(type) {
			case *qdrant.Value_IntegerValue:
				x = float64(n.IntegerValue)
			case *qdrant.Value_DoubleValue:
				x = n.DoubleValue
			default:
				continue
			}
			if (r.Gt == nil || x > *r.Gt) && (r.Gte == nil || x >= *r.Gte) &&
				(r.Lt == nil || x < *r.Lt) && (r.Lte == nil || x <= *r.Lte) {
				return true, nil
			}
		}
		return false, nil
	case fc.IsEmpty != nil:
		return isEmpty(v) == *fc.IsEmpty, nil
	case fc.IsNull != nil:
		_, null := v.GetKind().(*qdrant.Value_NullValue)
		return null == *fc.IsNull, nil
	}
	return false, status.Errorf(codes.Unimplemented, "qdranttest: field condition on %q is not modelled", fc.GetKey())
}

func match(m *qdrant.Match, vals []*qdrant.Value) (bool, error) {
	any := func(pred func(*qdrant.Value) bool) bool {
		return slices.ContainsFunc(vals, pred)
	}
	isStr := func(s string) func(*qdrant.Value) bool {
		return func(v *qdrant.Value) bool {
			x, ok := v.GetKind().(*qdrant.Value_StringValue)
			return ok && x.StringValue == s
		}
	}
	isInt := func(n int64) func(*qdrant.Value) bool {
		return func(v *qdrant.Value) bool {
			x, ok := v.GetKind().(*qdrant.Value_IntegerValue)
			return ok && x.IntegerValue == n
		}
	}
	switch x := m.GetMatchValue().(type) {
	case *qdrant.Match_Keyword:
		return any(isStr(x.Keyword)), nil
	case *qdrant.Match_Integer:
		return any(isInt(x.Integer)), nil
	case *qdrant.Match_Boolean:
		return any(func(v *qdrant.Value) bool {
			b, ok := v.GetKind().(*qdrant.Value_BoolValue)
			return ok && b.BoolValue == x.Boolean
		}), nil
	case *qdrant.Match_Keywords:
		for _, s := range x.Keywords.GetStrings() {
			if any(isStr(s)) {
				return true, nil
			}
		}
		return false, nil
	case *qdrant.Match_Integers:
		for _, n := range x.Integers.GetIntegers() {
			if any(isInt(n)) {
				return true, nil
			}
		}
		return false, nil
	case *qdrant.Match_ExceptKeywords:
		// Qdrant: matches when some value is not among the listed ones.
		return any(func(v *qdrant.Value) bool {
			s, ok := v.GetKind().(*qdrant.Value_StringValue)
			return !ok || !slices.Contains(x.ExceptKeywords.GetStrings(), s.StringValue)
		}), nil
	case *qdrant.Match_ExceptIntegers:
		return any(func(v *qdrant.Value) bool {
			n, ok := v.GetKind().(*qdrant.Value_IntegerValue)
			return !ok || !slices.Contains(x.ExceptIntegers.GetIntegers(), n.IntegerValue)
		}), nil
	}
	return false, status.Errorf(codes.Unimplemented, "qdranttest: match %T is not modelled", m.GetMatchValue())
}
