package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/scimgate/scimgate/internal/store"
)

// The accidental-deletion guard. Per target, the planner counts the
// disable and delete operations it queues; when more than the lifecycle's
// DeletionGuard.Threshold fall within DeletionGuard.Window, it queues the
// further ones held (an episode begins): they stay in the outbox, with
// every later operation of their objects waiting behind them, and every
// disable or delete planned for the target is held too until an
// administrator calls Release (deliver them) or Discard (drop them). Both
// end the episode and restart the count. The count lives in memory: after
// a restart it starts again, but an episode in progress (held operations in
// the outbox) continues.

// ErrUnknownTarget: no target has that name.
var ErrUnknownTarget = errors.New("engine: unknown target")

const (
	// heldPage is how many held operations Discard reads at a time.
	heldPage = 500
)

// mark is a number of disables/deletes queued at one time.
type mark struct {
	at time.Time
	n  int
}

// guardState is a target's guard; guarded by Engine.planMu.
type guardState struct {
	marks   []mark
	holding bool // an episode is in progress
}

// recent returns the disables/deletes counted within window before now,
// dropping older marks.
func (g *guardState) recent(now time.Time, window time.Duration) int {
	n, keep := 0, g.marks[:0]
	for _, m := range g.marks {
		if now.Sub(m.at) < window {
			keep = append(keep, m)
			n += m.n
		}
	}
	g.marks = keep
	return n
}

// guarded reports whether op is counted by the deletion guard.
func guarded(op string) bool { return op == opDisable || op == opDelete }

// Held returns the operations of target held by the deletion guard, in
// queue order, at most limit of them.
func (e *Engine) Held(ctx context.Context, target string, limit int) ([]Operation, error) {
	if e.target(target) == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknownTarget, target)
	}
	rows, err := e.opts.Store.HeldOutbox(ctx, target, limit)
	if err != nil {
		return nil, err
	}
	return operations(rows)
}

// Release delivers target's held operations and ends the guard's episode.
// It returns how many were released.
func (e *Engine) Release(ctx context.Context, target string) (int, error) {
	n, err := e.endEpisode(ctx, target, "release", func(ctx context.Context, tx store.Tx) (int, error) {
		return tx.ReleaseHeld(ctx, target)
	})
	if err == nil {
		e.log.Info("engine: deletion guard released", "target", target, "operations", n)
	}
	return n, err
}

// Discard drops target's held operations and ends the guard's episode. It
// returns how many were dropped.
//
// A discarded operation never reaches the target, so the engine records
// the object as it is there: a discarded disable leaves it enabled, a
// discarded delete leaves it present (with its anchor; a user deleted in
// SCIM then stays in the target, no longer managed). The object is out of
// step with SCIM until it changes again there or is re-synchronised.
func (e *Engine) Discard(ctx context.Context, target string) (int, error) {
	n, err := e.endEpisode(ctx, target, "discard", func(ctx context.Context, tx store.Tx) (int, error) {
		n := 0
		for {
			rows, err := tx.HeldOutbox(ctx, target, heldPage)
			if err != nil || len(rows) == 0 {
				return n, err
			}
			for _, r := range rows {
				if err := discard(ctx, tx, r); err != nil {
					return n, err
				}
				n++
			}
		}
	})
	if err == nil {
		e.log.Warn("engine: deletion guard: held operations discarded", "target", target, "operations", n)
	}
	return n, err
}

// endEpisode runs fn on target's held operations in one Write with its
// audit entry (verb: release or discard), serialised with the planner, then
// ends the guard's episode and wakes the worker.
func (e *Engine) endEpisode(ctx context.Context, target, verb string, fn func(ctx context.Context, tx store.Tx) (int, error)) (int, error) {
	t := e.target(target)
	if t == nil {
		return 0, fmt.Errorf("%w: %q", ErrUnknownTarget, target)
	}
	e.planMu.Lock()
	defer e.planMu.Unlock()
	var n int
	err := e.opts.Store.Write(ctx, func(ctx context.Context, tx store.Tx) error {
		var err error
		if n, err = fn(ctx, tx); err != nil {
			return err
		}
		return tx.Audit(ctx, store.AuditEntry{Actor: store.ActorOf(ctx), Action: "guard " + verb, Target: target,
			Result: store.AuditOK, Detail: fmt.Sprintf("%d operations", n)})
	})
	if err != nil {
		return 0, fmt.Errorf("engine: %s the held operations of %q: %w", verb, target, err)
	}
	t.guard = guardState{}
	t.poke()
	return n, nil
}

// discard drops one held operation and records its object as the target
// still has it.
func discard(ctx context.Context, tx store.Tx, r store.Outbox) error {
	var p payload
	if err := json.Unmarshal(r.Payload, &p); err != nil {
		return fmt.Errorf("engine: held operation %d: %w", r.Seq, err)
	}
	pr, s, found, err := recordOf(ctx, tx, r.Target, r.Type, r.ID)
	switch {
	case err != nil:
		return err
	case found && strings.HasPrefix(r.ID, OrphanPrefix):
		// An orphan account a reconciliation meant to disable or delete:
		// the target keeps it as it is, and the engine no longer records
		// it (the next reconciliation reports it again).
		if err := tx.DeleteProvisioned(ctx, r.Target, r.Type, r.ID); err != nil {
			return err
		}
	case found:
		switch p.Op {
		case opDisable:
			s.Disabled = false
		case opDelete:
			s.Present, s.Deleted = true, false
		}
		if pr.State, err = json.Marshal(s); err != nil {
			return err
		}
		if err := tx.PutProvisioned(ctx, pr); err != nil {
			return err
		}
	}
	return tx.DeleteOutbox(ctx, r.Seq)
}

// target returns the target named name, or nil.
func (e *Engine) target(name string) *target {
	for _, t := range e.targets {
		if t.pol.Name() == name {
			return t
		}
	}
	return nil
}
