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
// was never attempted, is not held nor claimed for delivery (by any
// replica: the claim and this transaction do not both commit), and the two merge
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
	if t == nil || prev.Held || prev.ClaimedBy != "" || t.inflight[prev.Seq] {
		_, err = tx.Enqueue(ctx, o)
		return false, err
	}
	if prev.Attempts > 0 {
		return e.behindRemainder(ctx, tx, prev, o)
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

// behindRemainder queues o after prev, the last queued operation of its
// object, which was attempted. When prev is the remainder of an addMembers
// (members whose creates are still to come, see Engine.requeueMembers), it
// stays the last: it moves behind o, without the members that o adds or
// removes, and is dropped when o deletes or creates the group, so that o
// never waits for it. It reports whether queued operations moved.
func (e *Engine) behindRemainder(ctx context.Context, tx store.Tx, prev, o store.Outbox) (bool, error) {
	if _, err := tx.Enqueue(ctx, o); err != nil {
		return false, err
	}
	rp, err := decodePayload(prev.Payload)
	if err != nil || !rp.Remainder {
		return false, err
	}
	np, err := decodePayload(o.Payload)
	if err != nil {
		return false, err
	}
	if err := tx.DeleteOutbox(ctx, prev.Seq); err != nil {
		return false, err
	}
	if np.Op == opDelete || np.Op == opCreate {
		return true, nil
	}
	rp.Members = slices.DeleteFunc(rp.Members, func(m string) bool { return slices.Contains(np.Members, m) })
	if len(rp.Members) == 0 {
		return true, nil
	}
	if prev.Payload, err = json.Marshal(rp); err != nil {
		return false, err
	}
	if prev.Seq, err = tx.Enqueue(ctx, prev); err != nil {
		return false, err
	}
	return true, tx.UpdateOutbox(ctx, prev) // its attempts, error and time
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
		out = payload{Op: a.Op, OpID: b.OpID, Attrs: merge(a.Attrs, b.Attrs), Secret: slices.Compact(secret), OnCreate: a.OnCreate}
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
