package server

import (
	"context"
	"errors"

	"twostage"
)

// DeleteResponse is the answer of DELETE /v1/collections/{name}/documents:
// the ids that were stored and are now deleted, and those that were not
// stored, each once, in the order asked.
type DeleteResponse struct {
	Collection string   `json:"collection"`
	Deleted    []string `json:"deleted"`
	NotFound   []string `json:"not_found"`
}

// deleteDocuments looks the ids up, then deletes them. A document upserted
// by another request between the two steps is deleted but reported as not
// found; the store's own Delete stays one call.
func deleteDocuments(ctx context.Context, c *collection, ids []string) (*DeleteResponse, error) {
	found, err := c.store.Get(ctx, ids)
	if err != nil && !errors.Is(err, twostage.ErrNotFound) {
		return nil, err
	}
	stored := make(map[string]bool, len(found))
	for _, d := range found {
		stored[d.ID] = true
	}
	out := &DeleteResponse{Collection: c.name, Deleted: []string{}, NotFound: []string{}}
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		if stored[id] {
			out.Deleted = append(out.Deleted, id)
		} else {
			out.NotFound = append(out.NotFound, id)
		}
	}
	if err := c.store.Delete(ctx, ids); err != nil {
		return nil, err
	}
	return out, nil
}
