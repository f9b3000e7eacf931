package qdranttest

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// compareIDs orders point ids as Qdrant's scroll does: integers first,
// by value, then UUIDs.
func compareIDs(a, b string) int {
	an, aNum := strings.CutPrefix(a, "n:")
	bn, bNum := strings.CutPrefix(b, "n:")
	switch {
	case aNum && bNum:
		x, _ := strconv.ParseUint(an, 10, 64)
		y, _ := strconv.ParseUint(bn, 10, 64)
		return cmp.Compare(x, y)
	case aNum:
		return -1
	case bNum:
		return 1
	}
	return strings.Compare(a, b)
}

// Scroll pages through the points matching the filter in id order:
// offset is the first id to return (inclusive), limit the page size
// (default 10), and the reply's next_page_offset the id that starts the
// next page (absent on the last).
func (p *pointsServer) Scroll(_ context.Context, req *qdrant.ScrollPoints) (*qdrant.ScrollResponse, error) {
	s := p.s
	col, err := s.collection(req.GetCollectionName())
	if err != nil {
		return nil, err
	}
	if req.GetOrderBy() != nil || req.GetShardKeySelector() != nil {
		return nil, status.Error(codes.Unimplemented, "qdranttest: order_by and shard keys are not modelled")
	}
	limit := int(req.GetLimit())
	if req.Limit == nil {
		limit = 10
	}
	if limit <= 0 {
		return nil, status.Error(codes.InvalidArgument, "Validation error: limit must be positive")
	}
	from := ""
	if req.GetOffset() != nil {
		if from, _, err = idKey(req.GetOffset()); err != nil {
			return nil, err
		}
	}
	keys, err := col.matching(req.GetFilter())
	if err != nil {
		return nil, err
	}
	keys = slices.DeleteFunc(keys, func(k string) bool { return from != "" && compareIDs(k, from) < 0 })
	slices.SortFunc(keys, compareIDs)
	resp := &qdrant.ScrollResponse{}
	for _, k := range keys {
		pt := col.points[k]
		if len(resp.Result) == limit {
			resp.NextPageOffset = proto.Clone(pt.id).(*qdrant.PointId)
			break
		}
		resp.Result = append(resp.Result, col.retrieved(pt, req.GetWithPayload(), req.GetWithVectors()))
	}
	return resp, nil
}
