package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/scimgate/scimgate/internal/store"
)

// queue appends o to the outbox in the planner's transaction tx, or
// coalesces it with the last queued operation of its object when that one
// was never attempted, is not held nor being delivered, and the two merge
// (see coalesce). Merging into the object's last operation keeps the order
// per object; doing it in the planner's transaction keeps a crash from
// losing either. It reports whether o was merged into a queued operation.
// The caller holds every target's mu.
func (e *Engine) queue(ctx context.Context, tx store.Tx, o store.Outbox) (merged bool, err error) {
	if o.Held { // a held operation stays as planned, for the administrator
		_, err := tx.Enqueue(ctx, o)
		return false, err
	}
	prev, err := tx.LastOutbox(ctx, o.Target, o.Type, o.ID)
	if errors.Is(err, store.ErrNotFound) {
		_, err = tx.Enqueue(ctx, o)
		return false, err
	}
	if err != nil {
		return false, err
	}
	t := e.target(o.Target)
	if prev.Attempts > 0 || prev.Held || t == nil || t.inflight[prev.Seq] {
		_, err = tx.Enqueue(ctx, o)
		return false, err
	}
	payload, ok, err := coalesce(prev.Payload, o.Payload)
	if err != nil {
		return false, err
	}
	if !ok {
		_, err = tx.Enqueue(ctx, o)
		return false, err
	}
	prev.Payload = payload
	if o.NextAt.After(prev.NextAt) {
		prev.NextAt = o.NextAt
	}
	return true, tx.UpdateOutbox(ctx, prev)
}

// coalesce merges the operation next into prev, queued just before it for
// the same object, when one operation has the effect of both:
//
//   - update, update: one update with the attributes of both, next's winning;
//   - create, update: the create with the update's attributes;
//   - update, delete: the delete.
//
// The merged operation takes next's id. ok is false when they do not merge.
func coalesce(prev, next []byte) (merged []byte, ok bool, err error) {
	var a, b payload
	for _, d := range []struct {
		b []byte
		p *payload
	}{{prev, &a}, {next, &b}} {
		dec := json.NewDecoder(bytes.NewReader(d.b))
		dec.UseNumber() // integers stay exact
		if err := dec.Decode(d.p); err != nil {
			return nil, false, fmt.Errorf("engine: coalescing: %w", err)
		}
	}
	var out payload
	switch {
	case (a.Op == opUpdate || a.Op == opCreate) && b.Op == opUpdate:
		secret := slices.Concat(a.Secret, b.Secret)
		slices.Sort(secret)
		out = payload{Op: a.Op, OpID: b.OpID, Attrs: merge(a.Attrs, b.Attrs), Secret: slices.Compact(secret)}
	case a.Op == opUpdate && b.Op == opDelete:
		out = b
	default:
		return nil, false, nil
	}
	merged, err = json.Marshal(out)
	if err != nil {
		return nil, false, fmt.Errorf("engine: coalescing: %w", err)
	}
	return merged, true, nil
}
