package engine

// Holds: lifecycle decisions that outrank a target's policy for one user
// (store.Hold). The planner applies them where it reads the policy's
// inputs: an account hold replaces the user's active attribute for the
// targets it names (disable, enable) or takes the user out of their scope
// and deletes the account (delete); a membership hold adds the user to a
// group in a target, or keeps it out of it, whatever the group's members
// in SCIM are. Every operation a hold causes goes through the outbox like
// any other: order, retries, deletion guard, audit.
//
// A hold set over a fact of SCIM (its Basis: the user's active attribute,
// or its membership of the group) lapses when that fact changes: a
// lifecycle workflow's disable stands until SCIM says something new about
// the user's active state. A hold without a basis (the guest lifecycle's
// block and delete) stands until its source releases it.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/scim"
	"github.com/scimgate/scimgate/targets"
)

// Errors of Hold.
var (
	// ErrNotProvisioned: a membership hold names a group the target does
	// not hold.
	ErrNotProvisioned = errors.New("engine: the group is not provisioned in the target")
	// ErrBadHold: the hold is not well formed.
	ErrBadHold = errors.New("engine: invalid hold")
)

// Hold sets h (replacing the hold of its source on the same account or
// membership) and plans the user again, in the planner's order with SCIM's
// changes. With sticky false the hold lapses when the fact of SCIM it
// overrides changes (see store.Hold.Basis); a hold that agrees with that
// fact now is not kept: it would change nothing, and its source's earlier
// hold on the same account or membership is dropped. It reports whether a
// hold was set or dropped.
func (e *Engine) Hold(ctx context.Context, h store.Hold, sticky bool) (bool, error) {
	if err := e.checkHold(h); err != nil {
		return false, err
	}
	e.planMu.Lock()
	defer e.planMu.Unlock()
	changed := false
	err := e.opts.Store.Write(ctx, func(ctx context.Context, tx store.Tx) error {
		changed = false
		r, err := tx.Get(ctx, string(targets.User), h.User)
		if err != nil {
			return fmt.Errorf("user %q: %w", h.User, err)
		}
		u, err := scim.DecodeResource(r)
		if err != nil {
			return err
		}
		fact := u["active"] != false
		if h.Group != "" {
			if _, err := tx.Provisioned(ctx, h.Target, string(targets.Group), h.Group); errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("%w: group %q in %q", ErrNotProvisioned, h.Group, h.Target)
			} else if err != nil {
				return err
			}
			gids, err := tx.MemberOf(ctx, string(targets.Group), h.User)
			if err != nil {
				return err
			}
			fact = slices.Contains(gids, h.Group)
		}
		key := store.HoldQuery{User: h.User, Source: h.Source, Target: h.Target, Group: h.Group, Exact: true}
		h.Basis = nil
		if !sticky {
			h.Basis = &fact
		}
		if !sticky && agrees(h.Action, fact) {
			old, err := tx.Holds(ctx, key)
			if err != nil {
				return err
			}
			if len(old) == 0 {
				return nil
			}
			if _, err := tx.DeleteHolds(ctx, key); err != nil {
				return err
			}
		} else {
			if h.Created.IsZero() {
				h.Created = e.opts.Now()
			}
			if err := tx.PutHold(ctx, h); err != nil {
				return err
			}
		}
		changed = true
		if h.Group != "" {
			if err := tx.TouchMembers(ctx, string(targets.Group), h.Group, []string{h.User}); err != nil {
				return err
			}
		} else if err := tx.Touch(ctx, string(targets.User), h.User); err != nil {
			return err
		}
		return tx.Audit(ctx, store.AuditEntry{Actor: store.ActorOf(ctx), Action: "hold", Type: string(targets.User), ID: h.User,
			Target: h.Target, Result: store.AuditOK, Detail: describeHold(h, sticky)})
	})
	return changed, err
}

// agrees reports whether a hold's action is what the fact of SCIM says
// already.
func agrees(action string, fact bool) bool {
	switch action {
	case store.HoldEnable, store.HoldAdd:
		return fact
	case store.HoldDisable, store.HoldRemove:
		return !fact
	}
	return false
}

// describeHold is a hold in words, for the audit log.
func describeHold(h store.Hold, sticky bool) string {
	where := "every target"
	if h.Target != "" {
		where = h.Target
	}
	what := h.Action + " the account in " + where
	if h.Group != "" {
		what = fmt.Sprintf("%s: group %s in %s", h.Action, h.Group, where)
	}
	until := "until released"
	if !sticky {
		until = "until SCIM changes it"
	}
	s := fmt.Sprintf("%s (%s, %s)", what, h.Source, until)
	if h.Reason != "" {
		s += ": " + h.Reason
	}
	return s
}

// checkHold checks the fields of h.
func (e *Engine) checkHold(h store.Hold) error {
	var errs []error
	if h.User == "" {
		errs = append(errs, errors.New("no user"))
	}
	if h.Source == "" {
		errs = append(errs, errors.New("no source"))
	}
	if h.Target != "" && e.target(h.Target) == nil {
		errs = append(errs, fmt.Errorf("%w: %q", ErrUnknownTarget, h.Target))
	}
	switch h.Action {
	case store.HoldDisable, store.HoldEnable, store.HoldDelete:
		if h.Group != "" {
			errs = append(errs, fmt.Errorf("action %q is for an account, not a group", h.Action))
		}
	case store.HoldAdd, store.HoldRemove:
		if h.Group == "" || h.Target == "" {
			errs = append(errs, fmt.Errorf("action %q needs a group and a target", h.Action))
		} else if t := e.target(h.Target); t != nil && (!t.pol.ReceivesGroups() || !t.conn.Capabilities().Groups) {
			errs = append(errs, fmt.Errorf("target %q does not hold groups", h.Target))
		}
	default:
		errs = append(errs, fmt.Errorf("unknown action %q", h.Action))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrBadHold, err)
	}
	return nil
}

// ReleaseHolds drops the holds q selects (q must name a user or a
// source) and plans their users again. It returns how many it dropped.
func (e *Engine) ReleaseHolds(ctx context.Context, q store.HoldQuery) (int, error) {
	if q.User == "" && q.Source == "" {
		return 0, fmt.Errorf("%w: a release names a user or a source", ErrBadHold)
	}
	e.planMu.Lock()
	defer e.planMu.Unlock()
	n := 0
	err := e.opts.Store.Write(ctx, func(ctx context.Context, tx store.Tx) error {
		hs, err := tx.Holds(ctx, q)
		if err != nil {
			return err
		}
		n = len(hs)
		if n == 0 {
			return nil
		}
		if _, err := tx.DeleteHolds(ctx, q); err != nil {
			return err
		}
		users := map[string]bool{}
		for _, h := range hs {
			users[h.User] = true
			if h.Group != "" { // its membership is planned again
				if err := tx.TouchMembers(ctx, string(targets.Group), h.Group, []string{h.User}); err != nil {
					return err
				}
			}
			if err := tx.Audit(ctx, store.AuditEntry{Actor: store.ActorOf(ctx), Action: "release", Type: string(targets.User), ID: h.User,
				Target: h.Target, Result: store.AuditOK, Detail: describeHold(h, h.Basis == nil)}); err != nil {
				return err
			}
		}
		for _, u := range slices.Sorted(maps.Keys(users)) {
			if err := tx.Touch(ctx, string(targets.User), u); err != nil {
				return err
			}
		}
		return nil
	})
	return n, err
}

// Holds returns the holds q selects.
func (e *Engine) Holds(ctx context.Context, q store.HoldQuery) ([]store.Hold, error) {
	return e.opts.Store.Holds(ctx, q)
}

// lapsed reports whether h lapsed: the fact of SCIM it overrode changed.
func lapsed(h store.Hold, fact bool) bool { return h.Basis != nil && *h.Basis != fact }

// accountHold returns what the account holds hs (a user's) say for target
// tgt, given the user's active attribute: "" nothing, else
// store.HoldDelete, HoldDisable or HoldEnable (in that precedence). It
// skips lapsed holds.
func accountHold(hs []store.Hold, tgt string, active bool) string {
	act := ""
	for _, h := range hs {
		if h.Group != "" || (h.Target != "" && h.Target != tgt) || lapsed(h, active) {
			continue
		}
		switch h.Action {
		case store.HoldDelete:
			return store.HoldDelete
		case store.HoldDisable:
			act = store.HoldDisable
		case store.HoldEnable:
			if act == "" {
				act = store.HoldEnable
			}
		}
	}
	return act
}

// memberHold returns what the membership holds hs (of one user, group and
// target) say, given its membership in SCIM: "" nothing, else
// store.HoldRemove or HoldAdd (in that precedence). It skips lapsed holds.
func memberHold(hs []store.Hold, member bool) string {
	act := ""
	for _, h := range hs {
		if lapsed(h, member) {
			continue
		}
		if h.Action == store.HoldRemove {
			return store.HoldRemove
		}
		act = h.Action
	}
	return act
}

// withActive returns u with its active attribute set to active (a copy;
// u itself when it says so already).
func withActive(u map[string]any, active bool) map[string]any {
	if (u["active"] != false) == active {
		return u
	}
	c := maps.Clone(u)
	c["active"] = active
	return c
}

// holdsOf returns the holds of user id, read once per batch.
func (p *planner) holdsOf(ctx context.Context, id string) ([]store.Hold, error) {
	if hs, ok := p.userHolds[id]; ok {
		return hs, nil
	}
	hs, err := p.e.opts.Store.Holds(ctx, store.HoldQuery{User: id})
	if err != nil {
		return nil, err
	}
	p.userHolds[id] = hs
	return hs, nil
}

// prefetchHolds reads the holds of users in a few queries, for holdsOf.
func (p *planner) prefetchHolds(ctx context.Context, users []string) error {
	for rest := users; len(rest) > 0; {
		chunk := rest[:min(len(rest), 500)]
		rest = rest[len(chunk):]
		hs, err := p.e.opts.Store.Holds(ctx, store.HoldQuery{Users: chunk})
		if err != nil {
			return err
		}
		for _, id := range chunk {
			p.userHolds[id] = nil
		}
		for _, h := range hs {
			p.userHolds[h.User] = append(p.userHolds[h.User], h)
		}
	}
	return nil
}

// groupHolds returns the membership holds of group gid in target tgt, by
// user, read once per batch.
func (p *planner) groupHolds(ctx context.Context, tgt, gid string) (map[string][]store.Hold, error) {
	k := groupKey{tgt, gid}
	if hs, ok := p.memberHolds[k]; ok {
		return hs, nil
	}
	hs, err := p.e.opts.Store.Holds(ctx, store.HoldQuery{Group: gid, Target: tgt})
	if err != nil {
		return nil, err
	}
	out := map[string][]store.Hold{}
	for _, h := range hs {
		out[h.User] = append(out[h.User], h)
	}
	p.memberHolds[k] = out
	return out, nil
}

// lapse records that the holds hs lapsed (fact is SCIM's fact now): save
// drops them.
func (p *planner) lapse(hs []store.Hold, fact bool) {
	for _, h := range hs {
		if lapsed(h, fact) {
			p.lapsed = append(p.lapsed, h)
		}
	}
}

// saveHolds drops, in tx, the holds that lapsed and those of the users
// deleted in this batch.
func (p *planner) saveHolds(ctx context.Context, tx store.Tx) error {
	type key struct{ user, source, target, group string }
	seen := map[key]bool{}
	for _, h := range p.lapsed {
		if k := (key{h.User, h.Source, h.Target, h.Group}); seen[k] {
			continue
		} else {
			seen[k] = true
		}
		n, err := tx.DeleteHolds(ctx, store.HoldQuery{User: h.User, Source: h.Source, Target: h.Target, Group: h.Group, Exact: true})
		if err != nil {
			return err
		}
		if n == 0 {
			continue
		}
		if err := tx.Audit(ctx, store.AuditEntry{Actor: actorEngine, Action: "hold lapsed", Type: string(targets.User), ID: h.User,
			Target: h.Target, Result: store.AuditOK, Detail: describeHold(h, false) + "; SCIM changed since"}); err != nil {
			return err
		}
	}
	for _, id := range p.goneUsers {
		if _, err := tx.DeleteHolds(ctx, store.HoldQuery{User: id}); err != nil {
			return err
		}
	}
	for _, gid := range p.goneGroups {
		if _, err := tx.DeleteHolds(ctx, store.HoldQuery{Group: gid}); err != nil {
			return err
		}
	}
	return nil
}

// heldMembers returns a group's members in SCIM (sorted) as its membership
// holds in a target (by user) make them, recording the holds that lapsed.
func (p *planner) heldMembers(members []string, holds map[string][]store.Hold) []string {
	if len(holds) == 0 {
		return members
	}
	out := slices.Clone(members)
	for _, u := range slices.Sorted(maps.Keys(holds)) {
		i, in := slices.BinarySearch(out, u)
		_, member := slices.BinarySearch(members, u)
		p.lapse(holds[u], member)
		switch memberHold(holds[u], member) {
		case store.HoldAdd:
			if !in {
				out = slices.Insert(out, i, u)
			}
		case store.HoldRemove:
			if in {
				out = slices.Delete(out, i, i+1)
			}
		}
	}
	return out
}
