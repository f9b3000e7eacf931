package qdrantstore

import (
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/qdrant/go-client/qdrant"

	"twostage"
	"twostage/adapters/internal/layout"
)

// PointID returns the Qdrant point id of a document id: a canonical unsigned
// decimal maps to that number, a canonical lower-case UUID to itself, and
// anything else to UUIDv5(NameSpaceURL, "twostage:"+id). The mapping is
// deterministic, so any client can find a document by its id.
func PointID(id string) *qdrant.PointId {
	if n, err := strconv.ParseUint(id, 10, 64); err == nil && strconv.FormatUint(n, 10) == id {
		return qdrant.NewIDNum(n)
	}
	return qdrant.NewIDUUID(layout.UUID(id))
}

// pointIDString is the string form of a point id, for points without the
// original id in their payload.
func pointIDString(p *qdrant.PointId) string {
	if u := p.GetUuid(); u != "" {
		return u
	}
	return strconv.FormatUint(p.GetNum(), 10)
}

func (d *Driver) reserved(k string) bool {
	return k == d.opts.TextKey || k == d.opts.IDKey || k == layout.KeysKey || k == layout.FloatsKey || k == normKey
}

// point converts a validated document to a Qdrant point.
func (d *Driver) point(doc twostage.Document) (*qdrant.PointStruct, error) {
	payload := make(map[string]*qdrant.Value, len(doc.Metadata)+4)
	payload[d.opts.TextKey] = qdrant.NewValueString(doc.Text)
	payload[d.opts.IDKey] = qdrant.NewValueString(doc.ID)
	keys := make([]string, 0, len(doc.Metadata))
	var floats []string
	for k, v := range doc.Metadata {
		if d.reserved(k) {
			return nil, fmt.Errorf("qdrantstore: document %q: metadata key %q is reserved: %w", doc.ID, k, twostage.ErrInvalidInput)
		}
		if d.metaKeys != nil && !d.metaKeys[k] {
			return nil, fmt.Errorf("qdrantstore: document %q: metadata key %q is not in Options.MetadataKeys: %w", doc.ID, k, twostage.ErrInvalidInput)
		}
		keys = append(keys, k)
		switch x := v.(type) {
		case string:
			payload[k] = qdrant.NewValueString(x)
		case bool:
			payload[k] = qdrant.NewValueBool(x)
		case int64:
			payload[k] = qdrant.NewValueInt(x)
		case float64:
			payload[k] = qdrant.NewValueDouble(x)
			if x == math.Trunc(x) {
				floats = append(floats, k)
			}
		case []string:
			vals := make([]*qdrant.Value, len(x))
			for i, s := range x {
				vals[i] = qdrant.NewValueString(s)
			}
			payload[k] = qdrant.NewValueFromList(vals...)
		default:
			return nil, fmt.Errorf("qdrantstore: document %q: metadata %q has type %T: %w", doc.ID, k, v, twostage.ErrInvalidInput)
		}
	}
	slices.Sort(keys)
	payload[layout.KeysKey] = stringList(keys)
	if len(floats) > 0 {
		slices.Sort(floats)
		payload[layout.FloatsKey] = stringList(floats)
	}
	vec := doc.Vector
	if d.info.Metric == twostage.Cosine {
		var s float64
		for _, x := range vec {
			s += float64(x) * float64(x)
		}
		payload[normKey] = qdrant.NewValueDouble(math.Sqrt(s))
	}
	vectors := qdrant.NewVectorsDense(vec)
	if d.opts.VectorName != "" {
		vectors = qdrant.NewVectorsMap(map[string]*qdrant.Vector{d.opts.VectorName: qdrant.NewVectorDense(vec)})
	}
	return &qdrant.PointStruct{Id: PointID(doc.ID), Payload: payload, Vectors: vectors}, nil
}

func stringList(ss []string) *qdrant.Value {
	vals := make([]*qdrant.Value, len(ss))
	for i, s := range ss {
		vals[i] = qdrant.NewValueString(s)
	}
	return qdrant.NewValueFromList(vals...)
}

// document converts a stored point back. Payload values that are not
// portable metadata (null, objects, mixed lists) are skipped.
func (d *Driver) document(id *qdrant.PointId, payload map[string]*qdrant.Value, vectors *qdrant.VectorsOutput, withVector bool) (twostage.Document, error) {
	doc := twostage.Document{ID: pointIDString(id)}
	if s, ok := payload[d.opts.IDKey].GetKind().(*qdrant.Value_StringValue); ok {
		doc.ID = s.StringValue
	}
	if s, ok := payload[d.opts.TextKey].GetKind().(*qdrant.Value_StringValue); ok {
		doc.Text = s.StringValue
	}
	floats := map[string]bool{}
	for _, v := range payload[layout.FloatsKey].GetListValue().GetValues() {
		floats[v.GetStringValue()] = true
	}
	for k, v := range payload {
		if d.reserved(k) || (d.metaKeys != nil && !d.metaKeys[k]) {
			continue
		}
		var mv any
		switch x := v.GetKind().(type) {
		case *qdrant.Value_StringValue:
			mv = x.StringValue
		case *qdrant.Value_BoolValue:
			mv = x.BoolValue
		case *qdrant.Value_IntegerValue:
			if floats[k] {
				mv = float64(x.IntegerValue)
			} else {
				mv = x.IntegerValue
			}
		case *qdrant.Value_DoubleValue:
			mv = x.DoubleValue
		case *qdrant.Value_ListValue:
			ss, ok := layout.Strings(x.ListValue.GetValues(), func(e *qdrant.Value) (string, bool) {
				_, isStr := e.GetKind().(*qdrant.Value_StringValue)
				return e.GetStringValue(), isStr
			})
			if !ok {
				continue
			}
			mv = ss
		default:
			continue
		}
		layout.Put(&doc.Metadata, k, mv)
	}
	if withVector {
		var vo *qdrant.VectorOutput
		if d.opts.VectorName == "" {
			vo = vectors.GetVector()
		} else {
			vo = vectors.GetVectors().GetVectors()[d.opts.VectorName]
		}
		dense := vo.GetDenseVector()
		if dense == nil {
			return doc, fmt.Errorf("qdrantstore: point %s has no dense vector %q", pointIDString(id), d.opts.VectorName)
		}
		v := slices.Clone(dense.GetData())
		if n, ok := number(payload[normKey]); ok && d.info.Metric == twostage.Cosine {
			// Qdrant stores cosine vectors normalized; restore the length.
			for i := range v {
				v[i] = float32(float64(v[i]) * n)
			}
		}
		doc.Vector = v
	}
	return doc, nil
}

// number reads a numeric payload value (Qdrant may return an integral double
// as an integer).
func number(v *qdrant.Value) (float64, bool) {
	switch x := v.GetKind().(type) {
	case *qdrant.Value_DoubleValue:
		return x.DoubleValue, true
	case *qdrant.Value_IntegerValue:
		return float64(x.IntegerValue), true
	}
	return 0, false
}
