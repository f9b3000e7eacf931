// Package onnxgraph builds ONNX models (ModelProto) by hand, with
// protowire: nodes, graph inputs and outputs, and weight initializers that
// stream to disk as they are added, so a multi-gigabyte model never sits in
// memory.
//
// Weights go to a spill file next to the output as they arrive. Save then
// either keeps that file as the model's external data (model.onnx.data,
// needed above protobuf's 2 GB message limit) or copies the weights inline
// into model.onnx, streaming.
package onnxgraph

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"google.golang.org/protobuf/encoding/protowire"

	"twostage/errdefs"
	"twostage/internal/half"
)

// DataType is an ONNX TensorProto element type.
type DataType int32

// Element types used by the builder.
const (
	Float   DataType = 1
	Int32   DataType = 6
	Int64   DataType = 7
	Bool    DataType = 9
	Float16 DataType = 10
	Double  DataType = 11
)

// Size is the element size in bytes.
func (d DataType) Size() int {
	switch d {
	case Float, Int32:
		return 4
	case Int64, Double:
		return 8
	case Bool:
		return 1
	case Float16:
		return 2
	}
	return 0
}

// Opset is the default ONNX opset version the builder targets.
const Opset = 17

// irVersion is the ONNX IR version matching Opset 17.
const irVersion = 8

// Attr is a node attribute.
type Attr struct {
	name string
	typ  int32
	i    int64
	f    float32
	ints []int64
	str  string
	sub  *Subgraph
}

// Subgraph is a graph-valued attribute's graph (an If node's branch), built
// by Graph.Branch.
type Subgraph struct {
	name    string
	nodes   []node
	outputs []valueInfo
}

// GraphAttr is a graph attribute (an If node's then_branch, else_branch).
func GraphAttr(name string, g *Subgraph) Attr { return Attr{name: name, typ: 5, sub: g} }

// Branch builds a subgraph: the nodes that build adds (through g's usual
// methods) go into it instead of g, and its outputs are the values build
// returns, declared with type typ and dims (symbolic or fixed, as Input).
// Inside, values of g made before Branch (and g's constants and weights,
// wherever they are made) are visible; values made inside are visible
// only there, so build must not memoize them for later use outside.
func (g *Graph) Branch(typ DataType, dims []any, build func() []string) *Subgraph {
	saved := g.nodes
	g.nodes = nil
	outs := build()
	sub := &Subgraph{name: g.fresh("branch")}
	for _, o := range outs {
		name := g.fresh("branch_out")
		g.nodes = append(g.nodes, node{op: "Identity", name: name + "_node", inputs: []string{o}, outputs: []string{name}})
		sub.outputs = append(sub.outputs, valueInfo{name, typ, dims})
	}
	sub.nodes = g.nodes
	g.nodes = saved
	return sub
}

// Int is an integer attribute.
func Int(name string, v int64) Attr { return Attr{name: name, typ: 2, i: v} }

// Float32 is a float attribute.
func Float32(name string, v float32) Attr { return Attr{name: name, typ: 1, f: v} }

// Ints is an integer-list attribute.
func Ints(name string, v ...int64) Attr { return Attr{name: name, typ: 7, ints: v} }

// String is a string attribute.
func String(name string, v string) Attr { return Attr{name: name, typ: 3, str: v} }

type node struct {
	op      string
	domain  string
	name    string
	inputs  []string
	outputs []string
	attrs   []Attr
}

type valueInfo struct {
	name string
	typ  DataType
	dims []any // int64 or string (symbolic)
}

type initializer struct {
	name string
	typ  DataType
	dims []int64
	data []byte // inline small tensor, or nil when spilled
	off  int64  // offset in the spill file
	size int64
}

// Graph is a model under construction. It is not safe for concurrent use.
type Graph struct {
	name    string
	nodes   []node
	inputs  []valueInfo
	outputs []valueInfo
	inits   []initializer
	names   map[string]bool
	seq     int
	domains map[string]bool // operator domains other than ONNX's used by nodes

	spillPath string
	spill     *os.File
	spillW    *bufio.Writer
	spillOff  int64
	closed    bool
}

// spillAlign aligns each spilled weight so ONNX Runtime can map external
// data directly.
const spillAlign = 4096

// smallTensor is the largest initializer kept in memory rather than spilled.
const smallTensor = 1024

// New starts a graph whose weights spill to spillPath (created, truncated).
// Save renames or removes it; Close removes it if Save was not reached.
func New(name, spillPath string) (*Graph, error) {
	f, err := os.Create(spillPath)
	if err != nil {
		return nil, fmt.Errorf("onnxgraph: %w", err)
	}
	return &Graph{name: name, names: map[string]bool{}, spillPath: spillPath, spill: f, spillW: bufio.NewWriterSize(f, 4<<20)}, nil
}

// fresh returns a new unique value name with the given prefix.
func (g *Graph) fresh(prefix string) string {
	for {
		g.seq++
		n := prefix + "_" + strconv.Itoa(g.seq)
		if !g.names[n] {
			g.names[n] = true
			return n
		}
	}
}

// Input declares a graph input. dims entries are int64 (fixed) or string
// (symbolic, e.g. "batch").
func (g *Graph) Input(name string, typ DataType, dims ...any) string {
	g.names[name] = true
	g.inputs = append(g.inputs, valueInfo{name, typ, dims})
	return name
}

// InputDefault declares a graph input with a default value: an
// initializer of the same name holding data (typ elements of dimensions
// shape; ONNX IR 4 and later), which ONNX Runtime uses when the input is
// not fed. dims are the declared (symbolic or fixed) dimensions, as Input.
func (g *Graph) InputDefault(name string, typ DataType, shape []int64, data []byte, dims ...any) (string, error) {
	if g.names[name] {
		return "", fmt.Errorf("onnxgraph: input %s: name in use: %w", name, errdefs.ErrInvalidInput)
	}
	if _, err := g.Weight(name, typ, shape, data); err != nil {
		return "", err
	}
	g.inputs = append(g.inputs, valueInfo{name, typ, dims})
	return name, nil
}

// Output declares value as a graph output under name (an Identity node is
// added when the names differ).
func (g *Graph) Output(value, name string, typ DataType, dims ...any) {
	if value != name {
		g.nodes = append(g.nodes, node{op: "Identity", name: name + "_identity", inputs: []string{value}, outputs: []string{name}})
		g.names[name] = true
	}
	g.outputs = append(g.outputs, valueInfo{name, typ, dims})
}

// Op adds a node with one output and returns the output's name.
func (g *Graph) Op(op string, inputs []string, attrs ...Attr) string {
	return g.OpN(op, inputs, 1, attrs...)[0]
}

// OpN adds a node with n outputs and returns their names.
func (g *Graph) OpN(op string, inputs []string, n int, attrs ...Attr) []string {
	outs := make([]string, n)
	for i := range outs {
		outs[i] = g.fresh(op)
	}
	g.nodes = append(g.nodes, node{op: op, name: outs[0] + "_node", inputs: inputs, outputs: outs, attrs: attrs})
	return outs
}

// MSDomain is ONNX Runtime's contrib-operator domain (fused attention,
// normalisation and activation kernels).
const MSDomain = "com.microsoft"

// OpDomain adds a node of an operator in domain (e.g. MSDomain) with n
// outputs and returns their names. An input named "" is an omitted
// optional input. The model imports the domain at version 1.
func (g *Graph) OpDomain(domain, op string, inputs []string, n int, attrs ...Attr) []string {
	outs := g.OpN(op, inputs, n, attrs...)
	g.nodes[len(g.nodes)-1].domain = domain
	if g.domains == nil {
		g.domains = map[string]bool{}
	}
	g.domains[domain] = true
	return outs
}

// Weight adds an initializer holding data (little-endian, typ elements,
// len(data) = product(dims) * typ.Size()) and returns its name. Large
// tensors are written to the spill file now; data may be reused by the
// caller after Weight returns.
func (g *Graph) Weight(name string, typ DataType, dims []int64, data []byte) (string, error) {
	if g.closed {
		return "", fmt.Errorf("onnxgraph: weight: %w", errdefs.ErrClosed)
	}
	n := int64(typ.Size())
	for _, d := range dims {
		n *= d
	}
	if n != int64(len(data)) || typ.Size() == 0 {
		return "", fmt.Errorf("onnxgraph: weight %s: %d bytes for dims %v of type %d: %w", name, len(data), dims, typ, errdefs.ErrDimension)
	}
	if g.names[name] {
		name = g.fresh(name)
	}
	g.names[name] = true
	in := initializer{name: name, typ: typ, dims: append([]int64(nil), dims...), size: n}
	if n <= smallTensor {
		in.data = append([]byte{}, data...) // non-nil: inline, empty tensors included
	} else {
		if pad := (spillAlign - g.spillOff%spillAlign) % spillAlign; pad > 0 {
			if _, err := g.spillW.Write(make([]byte, pad)); err != nil {
				return "", fmt.Errorf("onnxgraph: spill: %w", err)
			}
			g.spillOff += pad
		}
		in.off = g.spillOff
		if _, err := g.spillW.Write(data); err != nil {
			return "", fmt.Errorf("onnxgraph: spill: %w", err)
		}
		g.spillOff += n
	}
	g.inits = append(g.inits, in)
	return name, nil
}

// WeightFrom adds an initializer whose bytes write produces, streamed to the
// spill file without being held in memory. write must produce exactly
// product(dims) * typ.Size() bytes.
func (g *Graph) WeightFrom(name string, typ DataType, dims []int64, write func(w io.Writer) error) (string, error) {
	if g.closed {
		return "", fmt.Errorf("onnxgraph: weight: %w", errdefs.ErrClosed)
	}
	n := int64(typ.Size())
	for _, d := range dims {
		n *= d
	}
	if n <= smallTensor {
		var buf bytesWriter
		if err := write(&buf); err != nil {
			return "", err
		}
		return g.Weight(name, typ, dims, buf)
	}
	if g.names[name] {
		name = g.fresh(name)
	}
	g.names[name] = true
	if pad := (spillAlign - g.spillOff%spillAlign) % spillAlign; pad > 0 {
		if _, err := g.spillW.Write(make([]byte, pad)); err != nil {
			return "", fmt.Errorf("onnxgraph: spill: %w", err)
		}
		g.spillOff += pad
	}
	cw := &countWriter{w: g.spillW}
	if err := write(cw); err != nil {
		return "", err
	}
	if cw.n != n {
		return "", fmt.Errorf("onnxgraph: weight %s: wrote %d bytes for dims %v of type %d (want %d): %w", name, cw.n, dims, typ, n, errdefs.ErrDimension)
	}
	g.inits = append(g.inits, initializer{name: name, typ: typ, dims: append([]int64(nil), dims...), off: g.spillOff, size: n})
	g.spillOff += n
	return name, nil
}

type bytesWriter []byte

func (b *bytesWriter) Write(p []byte) (int, error) { *b = append(*b, p...); return len(p), nil }

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	if err != nil {
		err = fmt.Errorf("onnxgraph: spill: %w", err)
	}
	return n, err
}

// WeightBytes is the total size of the weights added so far.
func (g *Graph) WeightBytes() int64 {
	var n int64
	for _, in := range g.inits {
		n += in.size
	}
	return n
}

// ConstInt64 adds a small int64 constant (a scalar when dims is empty).
func (g *Graph) ConstInt64(vals []int64, dims ...int64) string {
	b := make([]byte, 8*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(v))
	}
	if dims == nil && len(vals) != 1 {
		dims = []int64{int64(len(vals))}
	}
	name, err := g.Weight(g.fresh("const"), Int64, dims, b)
	if err != nil {
		panic(err) // sizes are computed here: unreachable
	}
	return name
}

// ConstFloat adds a small float constant of type typ (Float or Float16),
// a scalar when dims is empty.
func (g *Graph) ConstFloat(typ DataType, vals []float32, dims ...int64) string {
	b := EncodeFloats(typ, vals)
	if dims == nil && len(vals) != 1 {
		dims = []int64{int64(len(vals))}
	}
	name, err := g.Weight(g.fresh("const"), typ, dims, b)
	if err != nil {
		panic(err)
	}
	return name
}

// EncodeFloats encodes vals as little-endian typ (Float or Float16).
func EncodeFloats(typ DataType, vals []float32) []byte {
	switch typ {
	case Float16:
		b := make([]byte, 2*len(vals))
		for i, v := range vals {
			binary.LittleEndian.PutUint16(b[2*i:], half.F32ToF16(v))
		}
		return b
	default:
		b := make([]byte, 4*len(vals))
		for i, v := range vals {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
		}
		return b
	}
}

// Close removes the spill file if Save has not consumed it. Idempotent in
// effect; later calls return errdefs.ErrClosed.
func (g *Graph) Close() error {
	if g.closed {
		return fmt.Errorf("onnxgraph: graph: %w", errdefs.ErrClosed)
	}
	g.closed = true
	var err error
	if g.spill != nil {
		err = g.spill.Close()
		g.spill = nil
		if rerr := os.Remove(g.spillPath); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			err = errors.Join(err, rerr)
		}
	}
	return err
}

// Save writes the model to modelPath. With external true the spill file is
// renamed to dataPath (which must be in modelPath's directory) and the model
// refers to it; otherwise the weights are copied inline and the spill file
// removed. The graph is closed afterwards.
func (g *Graph) Save(modelPath, dataPath string, external bool) error {
	if g.closed {
		return fmt.Errorf("onnxgraph: save: %w", errdefs.ErrClosed)
	}
	defer g.Close()
	if err := g.spillW.Flush(); err != nil {
		return fmt.Errorf("onnxgraph: spill: %w", err)
	}
	if !external && g.spillOff > math.MaxInt32 {
		return fmt.Errorf("onnxgraph: %d bytes of weights exceed the 2 GB protobuf limit; save with external data: %w", g.spillOff, errdefs.ErrInvalidInput)
	}
	location := ""
	if external {
		if filepath.Dir(dataPath) != filepath.Dir(modelPath) {
			return fmt.Errorf("onnxgraph: external data %s must sit next to %s: %w", dataPath, modelPath, errdefs.ErrInvalidInput)
		}
		location = filepath.Base(dataPath)
	}
	// Everything but the inline weight bytes is encoded in memory.
	var graph []byte
	for _, n := range g.nodes {
		graph = appendMsg(graph, 1, encodeNode(n))
	}
	graph = appendStr(graph, 2, g.name)
	type pending struct {
		meta []byte // initializer message without raw_data when spilled inline
		in   *initializer
	}
	var inlineInits []pending
	var graphTail []byte
	for i := range g.inits {
		in := &g.inits[i]
		meta := encodeInitMeta(in)
		switch {
		case in.data != nil:
			meta = protowire.AppendTag(meta, 9, protowire.BytesType)
			meta = protowire.AppendBytes(meta, in.data)
			graph = appendMsg(graph, 5, meta)
		case external:
			meta = appendExternal(meta, location, in.off, in.size)
			graph = appendMsg(graph, 5, meta)
		default:
			inlineInits = append(inlineInits, pending{meta, in})
		}
	}
	for _, v := range g.inputs {
		graphTail = appendMsg(graphTail, 11, encodeValueInfo(v))
	}
	for _, v := range g.outputs {
		graphTail = appendMsg(graphTail, 12, encodeValueInfo(v))
	}
	// Size of the graph message: in-memory parts + the streamed initializers.
	graphSize := int64(len(graph) + len(graphTail))
	for _, p := range inlineInits {
		graphSize += initSize(p.meta, p.in.size)
	}
	var head []byte
	head = appendVarint(head, 1, irVersion)
	head = appendStr(head, 2, "twostage")
	head = appendStr(head, 3, "1")
	head = appendMsg(head, 8, appendVarint(nil, 2, Opset))
	for _, d := range slices.Sorted(maps.Keys(g.domains)) {
		head = appendMsg(head, 8, appendVarint(appendStr(nil, 1, d), 2, 1))
	}
	head = protowire.AppendTag(head, 7, protowire.BytesType)
	head = protowire.AppendVarint(head, uint64(graphSize))

	f, err := os.Create(modelPath)
	if err != nil {
		return fmt.Errorf("onnxgraph: %w", err)
	}
	w := bufio.NewWriterSize(f, 4<<20)
	werr := func() error {
		w.Write(head)
		w.Write(graph)
		for _, p := range inlineInits {
			var b []byte
			b = protowire.AppendTag(b, 5, protowire.BytesType)
			inner := int64(len(p.meta)) + int64(protowire.SizeTag(9)) + int64(protowire.SizeVarint(uint64(p.in.size))) + p.in.size
			b = protowire.AppendVarint(b, uint64(inner))
			b = append(b, p.meta...)
			b = protowire.AppendTag(b, 9, protowire.BytesType)
			b = protowire.AppendVarint(b, uint64(p.in.size))
			w.Write(b)
			if _, err := io.Copy(w, io.NewSectionReader(g.spill, p.in.off, p.in.size)); err != nil {
				return err
			}
		}
		if _, err := w.Write(graphTail); err != nil {
			return err
		}
		return w.Flush()
	}()
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("onnxgraph: write %s: %w", modelPath, werr)
	}
	if external {
		if err := g.spill.Close(); err != nil {
			return fmt.Errorf("onnxgraph: %w", err)
		}
		g.spill = nil
		if err := os.Rename(g.spillPath, dataPath); err != nil {
			return fmt.Errorf("onnxgraph: %w", err)
		}
	}
	return nil
}

func initSize(meta []byte, size int64) int64 {
	inner := int64(len(meta)) + int64(protowire.SizeTag(9)) + int64(protowire.SizeVarint(uint64(size))) + size
	return int64(protowire.SizeTag(5)) + int64(protowire.SizeVarint(uint64(inner))) + inner
}

func appendVarint(b []byte, num protowire.Number, v int64) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(v))
}

func appendStr(b []byte, num protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendMsg(b []byte, num protowire.Number, m []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, m)
}

func encodeNode(n node) []byte {
	var b []byte
	for _, in := range n.inputs {
		b = appendStr(b, 1, in)
	}
	for _, out := range n.outputs {
		b = appendStr(b, 2, out)
	}
	b = appendStr(b, 3, n.name)
	b = appendStr(b, 4, n.op)
	if n.domain != "" {
		b = appendStr(b, 7, n.domain)
	}
	for _, a := range n.attrs {
		var ab []byte
		ab = appendStr(ab, 1, a.name)
		switch a.typ {
		case 1:
			ab = protowire.AppendTag(ab, 2, protowire.Fixed32Type)
			ab = protowire.AppendFixed32(ab, math.Float32bits(a.f))
		case 2:
			ab = appendVarint(ab, 3, a.i)
		case 3:
			ab = appendStr(ab, 4, a.str)
		case 5:
			ab = appendMsg(ab, 6, encodeSubgraph(a.sub))
		case 7:
			for _, v := range a.ints {
				ab = appendVarint(ab, 8, v)
			}
		}
		ab = appendVarint(ab, 20, int64(a.typ))
		b = appendMsg(b, 5, ab)
	}
	return b
}

func encodeSubgraph(g *Subgraph) []byte {
	var b []byte
	for _, n := range g.nodes {
		b = appendMsg(b, 1, encodeNode(n))
	}
	b = appendStr(b, 2, g.name)
	for _, v := range g.outputs {
		b = appendMsg(b, 12, encodeValueInfo(v))
	}
	return b
}

func encodeInitMeta(in *initializer) []byte {
	var b []byte
	for _, d := range in.dims {
		b = appendVarint(b, 1, d)
	}
	b = appendVarint(b, 2, int64(in.typ))
	b = appendStr(b, 8, in.name)
	return b
}

func appendExternal(b []byte, location string, off, size int64) []byte {
	kv := func(k, v string) []byte { return appendStr(appendStr(nil, 1, k), 2, v) }
	b = appendMsg(b, 13, kv("location", location))
	b = appendMsg(b, 13, kv("offset", strconv.FormatInt(off, 10)))
	b = appendMsg(b, 13, kv("length", strconv.FormatInt(size, 10)))
	return appendVarint(b, 14, 1) // data_location = EXTERNAL
}

func encodeValueInfo(v valueInfo) []byte {
	var shape []byte
	for _, d := range v.dims {
		var dim []byte
		switch d := d.(type) {
		case string:
			dim = appendStr(nil, 2, d)
		case int:
			dim = appendVarint(nil, 1, int64(d))
		case int64:
			dim = appendVarint(nil, 1, d)
		}
		shape = appendMsg(shape, 1, dim)
	}
	tensor := appendMsg(appendVarint(nil, 1, int64(v.typ)), 2, shape)
	return appendMsg(appendStr(nil, 1, v.name), 2, appendMsg(nil, 1, tensor))
}
