package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/targets"
)

// Errors of SetUserEnabled.
var (
	// ErrNotProvisioned: the user is not in the target (never created,
	// out of its scope, or deleted).
	ErrNotProvisioned = errors.New("engine: the user is not provisioned in the target")
	// ErrCannotDisable: the target cannot disable users (its connector or
	// its lifecycle).
	ErrCannotDisable = errors.New("engine: the target cannot disable users")
)

// SetUserEnabled queues the disable (or enable) of user id's account in
// a target, as the planner queues them (same outbox, same worker, same
// audit), for a lifecycle workflow's task. It reports false when the
// account is already in that state. The policy stays the source of
// truth: the user's next change in SCIM plans its enabled state again
// from its active attribute.
func (e *Engine) SetUserEnabled(ctx context.Context, tgt, id string, enabled bool) (bool, error) {
	t := e.target(tgt)
	if t == nil {
		return false, fmt.Errorf("%w: %q", ErrUnknownTarget, tgt)
	}
	if !canDisable(t) {
		return false, fmt.Errorf("%w: %q", ErrCannotDisable, tgt)
	}
	e.planMu.Lock()
	defer e.planMu.Unlock()
	t.mu.Lock() // no coalescing into an operation being delivered
	defer t.mu.Unlock()
	op := opDisable
	if enabled {
		op = opEnable
	}
	changed, merged := false, false
	err := e.opts.Store.Write(ctx, func(ctx context.Context, tx store.Tx) error {
		changed, merged = false, false
		pr, s, found, err := recordOf(ctx, tx, tgt, string(targets.User), id)
		if err != nil {
			return err
		}
		if !found || !s.live() {
			return fmt.Errorf("%w: user %q in %q", ErrNotProvisioned, id, tgt)
		}
		if s.Disabled == !enabled {
			return nil
		}
		s.Disabled = !enabled
		b, err := json.Marshal(s)
		if err != nil {
			return err
		}
		pr.State = b
		if err := tx.PutProvisioned(ctx, pr); err != nil {
			return err
		}
		pl, err := json.Marshal(payload{Op: op, OpID: uuid.NewString()})
		if err != nil {
			return err
		}
		now := e.opts.Now()
		if merged, err = e.queue(ctx, tx, store.Outbox{Target: tgt, Type: string(targets.User), ID: id, Payload: pl,
			NextAt: now, Created: now}); err != nil {
			return err
		}
		changed = true
		return tx.Audit(ctx, store.AuditEntry{Actor: store.ActorOf(ctx), Action: op, Type: string(targets.User), ID: id,
			Target: tgt, Result: store.AuditOK, Detail: "queued by a lifecycle workflow"})
	})
	if err != nil || !changed {
		return false, err
	}
	if merged {
		t.gen++
	} else {
		t.added++
	}
	signal(t.wake)
	return true, nil
}
