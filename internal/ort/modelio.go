package ort

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	ortgo "github.com/yalue/onnxruntime_go"
	"google.golang.org/protobuf/encoding/protowire"

	"twostage/errdefs"
)

// ReadModelIO reads the graph inputs and outputs declared in an ONNX model
// file without loading its weights: inline initializers are skipped, so this
// is cheap even for multi-gigabyte models. Inputs that are also initializers
// (IR version < 4 models) are not filtered out.
func ReadModelIO(path string) (inputs, outputs []IOInfo, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("ort: read model io: %w: %w", err, errdefs.ErrNotFound)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<16)
	bad := func(what string) error {
		return fmt.Errorf("ort: %s: malformed onnx model (%s): %w", path, what, errdefs.ErrInvalidInput)
	}
	sawGraph := false
	err = eachField(r, bad("tag"), func(num protowire.Number, typ protowire.Type) error {
		if num != 7 || typ != protowire.BytesType { // not ModelProto.graph
			if err := skipField(r, typ); err != nil {
				return bad("model field")
			}
			return nil
		}
		n, err := binary.ReadUvarint(r)
		if err != nil {
			return bad("graph length")
		}
		lr := &io.LimitedReader{R: r, N: int64(n)}
		br := bufio.NewReader(lr)
		err = eachField(br, bad("graph tag"), func(gnum protowire.Number, gtyp protowire.Type) error {
			if (gnum != 11 && gnum != 12) || gtyp != protowire.BytesType { // not GraphProto.input or output
				if err := skipField(br, gtyp); err != nil {
					return bad("graph field")
				}
				return nil
			}
			m, err := binary.ReadUvarint(br)
			if err != nil || m > 1<<20 {
				return bad("value info length")
			}
			buf := make([]byte, m)
			if _, err := io.ReadFull(br, buf); err != nil {
				return bad("value info")
			}
			vi, err := parseValueInfo(buf)
			if err != nil {
				return bad(err.Error())
			}
			if gnum == 11 {
				inputs = append(inputs, vi)
			} else {
				outputs = append(outputs, vi)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if lr.N != 0 {
			return bad("truncated graph")
		}
		sawGraph = true
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	if !sawGraph || len(outputs) == 0 {
		return nil, nil, bad("no graph outputs")
	}
	return inputs, outputs, nil
}

// eachField reads the field tags of a protobuf message from r until its
// end and calls f with each; f consumes the field's value. A tag that does
// not decode returns badTag.
func eachField(r *bufio.Reader, badTag error, f func(protowire.Number, protowire.Type) error) error {
	for {
		num, typ, err := readTag(r)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return badTag
		}
		if err := f(num, typ); err != nil {
			return err
		}
	}
}

func readTag(r *bufio.Reader) (protowire.Number, protowire.Type, error) {
	v, err := binary.ReadUvarint(r)
	if err != nil {
		if err == io.EOF {
			return 0, 0, io.EOF
		}
		return 0, 0, err
	}
	num, typ := protowire.DecodeTag(v)
	if num < 1 {
		return 0, 0, errors.New("bad field number")
	}
	return num, typ, nil
}

func skipField(r *bufio.Reader, typ protowire.Type) error {
	var n int
	switch typ {
	case protowire.VarintType:
		_, err := binary.ReadUvarint(r)
		return err
	case protowire.Fixed32Type:
		n = 4
	case protowire.Fixed64Type:
		n = 8
	case protowire.BytesType:
		m, err := binary.ReadUvarint(r)
		if err != nil {
			return err
		}
		n = int(m)
	default:
		return errors.New("unsupported wire type")
	}
	d, err := r.Discard(n)
	if err == nil && d != n {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// each calls fn for every field of the protobuf message b.
func each(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		var v []byte
		var x uint64
		switch typ {
		case protowire.VarintType:
			x, n = protowire.ConsumeVarint(b)
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		if err := fn(num, typ, v, x); err != nil {
			return err
		}
	}
	return nil
}

func parseValueInfo(b []byte) (IOInfo, error) {
	var vi IOInfo
	err := each(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		switch {
		case num == 1 && typ == protowire.BytesType:
			vi.Name = string(v)
		case num == 2 && typ == protowire.BytesType: // TypeProto
			return each(v, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
				if num != 1 || typ != protowire.BytesType { // tensor_type only
					return nil
				}
				return each(v, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
					switch {
					case num == 1 && typ == protowire.VarintType:
						vi.Type = ortgo.TensorElementDataType(x)
					case num == 2 && typ == protowire.BytesType: // TensorShapeProto
						vi.Shape = []int64{}
						return each(v, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
							if num != 1 || typ != protowire.BytesType {
								return nil
							}
							d := int64(-1)
							err := each(v, func(num protowire.Number, typ protowire.Type, _ []byte, x uint64) error {
								if num == 1 && typ == protowire.VarintType {
									d = int64(x)
								}
								return nil
							})
							vi.Shape = append(vi.Shape, d)
							return err
						})
					}
					return nil
				})
			})
		}
		return nil
	})
	if err == nil && vi.Name == "" {
		err = errors.New("value info without a name")
	}
	return vi, err
}
