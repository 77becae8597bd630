package engine

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/scimgate/scimgate/internal/store"
)

// Catch-up. The planner plans each change of the journal for the targets
// configured at the time, then drops it. A target that was not configured
// meanwhile (left out of the configuration for a while, or new), or whose
// policy changed, would miss those changes; so, per target, two cursors
// record the planner's position when the target was last planned (plus
// one: 0 is "never") and the fingerprint of its policy and capabilities.
// When either differs at startup, every object of the store and every
// object recorded for the target is journalled again: the planner then
// compares what the policy wants with the state recorded for the target
// and queues exactly what it missed (updates, creates, disables, deletes,
// with the deletion guard as always). Targets that were there all along
// find their records equal to the plan, and receive nothing.

const (
	atPrefix     = "engine.at."     // + target: planner cursor + 1 when last planned
	policyPrefix = "engine.policy." // + target: fingerprint of its policy
)

// fingerprint of a target: its policy's and its connector's capabilities,
// as a cursor value (never 0).
func (t *target) fingerprint() int64 {
	c := t.conn.Capabilities()
	sum := sha256.Sum256(fmt.Appendf(nil, "%s|groups=%t|disable=%t", t.pol.Fingerprint(), c.Groups, c.Disable))
	return int64(binary.BigEndian.Uint64(sum[:8])>>1) | 1
}

// catchUp journals every object again for the targets that need it (see
// above), in one transaction with their new cursors.
func (e *Engine) catchUp(ctx context.Context) error {
	st := e.opts.Store
	planned, err := st.Cursor(ctx, cursorName)
	if err != nil {
		return err
	}
	var stale []*target
	var why []string
	for _, t := range e.targets {
		name := t.pol.Name()
		at, err := st.Cursor(ctx, atPrefix+name)
		if err != nil {
			return err
		}
		fp, err := st.Cursor(ctx, policyPrefix+name)
		if err != nil {
			return err
		}
		switch {
		case at == 0 && fp == 0:
			why = append(why, "new target")
		case fp != t.fingerprint():
			why = append(why, "its policy changed")
		case at != planned+1:
			why = append(why, "changes were made while it was not configured")
		default:
			continue
		}
		stale = append(stale, t)
	}
	if len(stale) == 0 {
		return nil
	}
	// Objects recorded for a target but gone from the store (deleted in
	// SCIM meanwhile) are planned too.
	recs := make([][]store.Provisioned, len(stale))
	for i, t := range stale {
		if recs[i], err = st.ProvisionedOf(ctx, t.pol.Name()); err != nil {
			return err
		}
	}
	n := 0
	err = st.Write(ctx, func(ctx context.Context, tx store.Tx) error {
		// Before the first plan, the journal still holds every change
		// since the store was created: nothing to add.
		touched := map[[2]string]bool{}
		for i, t := range stale {
			name := t.pol.Name()
			if planned > 0 {
				if _, err := touchAll(ctx, tx, touched); err != nil {
					return err
				}
				for _, r := range recs[i] {
					if k := [2]string{r.Type, r.ID}; !touched[k] {
						if err := tx.Touch(ctx, r.Type, r.ID); err != nil {
							return err
						}
						touched[k] = true
					}
				}
			}
			if err := tx.SetCursor(ctx, atPrefix+name, planned+1); err != nil {
				return err
			}
			if err := tx.SetCursor(ctx, policyPrefix+name, t.fingerprint()); err != nil {
				return err
			}
			if planned == 0 {
				continue
			}
			if err := tx.Audit(ctx, store.AuditEntry{Actor: actorEngine, Action: "catch-up", Target: name, Result: store.AuditOK,
				Detail: why[i] + ": every object is planned again against the state recorded for the target"}); err != nil {
				return err
			}
		}
		n = len(touched)
		return nil
	})
	if err != nil {
		return err
	}
	for i, t := range stale {
		if planned == 0 {
			break
		}
		e.log.Info("engine: catching up a target: every object is planned again against its recorded state",
			"target", t.pol.Name(), "reason", why[i], "objects", n)
	}
	return nil
}

// savePositions records, in the planner's transaction tx, that every
// target was planned up to the change last.
func (e *Engine) savePositions(ctx context.Context, tx store.Tx, last int64) error {
	for _, t := range e.targets {
		if err := tx.SetCursor(ctx, atPrefix+t.pol.Name(), last+1); err != nil {
			return err
		}
	}
	return nil
}
