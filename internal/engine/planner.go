package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/policy"
	"github.com/scimgate/scimgate/scim"
	"github.com/scimgate/scimgate/targets"
)

const (
	// cursorName is the planner's position in the change journal.
	cursorName = "engine.planner"
	// planBatch bounds the changes planned in one transaction.
	planBatch = 128
)

// plan is the planner goroutine.
func (e *Engine) plan(ctx context.Context) {
	st := e.opts.Store
	tick := time.NewTicker(e.opts.Poll)
	defer tick.Stop()
	for failures := 0; ; failures++ {
		err := e.prepare(ctx)
		if err == nil {
			break
		}
		e.log.Error("engine: preparing the targets", "err", err)
		if !sleep(ctx, e.backoff(failures+1)) {
			return
		}
	}
	failures := 0
	for ctx.Err() == nil {
		n, err := e.planNext(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			// The store fails (a full disk, say): back off, and say so
			// once, not at every attempt.
			failures++
			if failures == 1 {
				e.log.Error("engine: planning failed; retrying with backoff", "err", err)
			}
			if !sleep(ctx, e.backoff(failures)) {
				return
			}
			continue
		case err == nil && failures > 0:
			e.log.Info("engine: planning works again", "failures", failures)
			failures = 0
		}
		if n > 0 {
			for _, t := range e.targets {
				signal(t.wake)
			}
			continue
		}
		select {
		case <-ctx.Done():
		case <-st.Changed():
		case <-tick.C:
		}
	}
}

// prepare runs once before the first plan: it restores the deletion
// guard's episodes in progress, catches up the targets that need it, and
// reads when their scheduled reconciliations are due.
func (e *Engine) prepare(ctx context.Context) error {
	e.prepMu.Lock()
	defer e.prepMu.Unlock()
	if e.prepared {
		return nil
	}
	e.resumeEpisodes(ctx)
	if err := e.moveRecordedMembers(ctx); err != nil {
		return err
	}
	if err := e.catchUp(ctx); err != nil {
		return err
	}
	if err := e.loadSchedules(ctx); err != nil {
		return err
	}
	e.prepared = true
	return nil
}

// planNext plans the next batch of journalled changes and returns how
// many it planned (0: the journal is empty).
func (e *Engine) planNext(ctx context.Context) (int, error) {
	cursor, err := e.opts.Store.Cursor(ctx, cursorName)
	if err != nil {
		return 0, err
	}
	changes, err := e.opts.Store.Changes(ctx, cursor, planBatch)
	if err != nil || len(changes) == 0 {
		return 0, err
	}
	return len(changes), e.planAndSave(ctx, changes)
}

// resumeEpisodes restores the deletion guard's episodes in progress: the
// targets with held operations.
func (e *Engine) resumeEpisodes(ctx context.Context) {
	e.planMu.Lock()
	defer e.planMu.Unlock()
	for _, t := range e.targets {
		held, err := e.opts.Store.HeldOutbox(ctx, t.pol.Name(), 1)
		if err != nil {
			e.log.Error("engine: reading held operations", "target", t.pol.Name(), "err", err)
			continue
		}
		if len(held) > 0 {
			t.guard.holding = true
			e.log.Warn("engine: deletion guard holding operations; release or discard them", "target", t.pol.Name())
		}
	}
}

// planAndSave plans changes and saves the outcome with the cursor after the
// last change, in one transaction, then updates the deletion guard.
func (e *Engine) planAndSave(ctx context.Context, changes []store.Change) error {
	e.planMu.Lock()
	defer e.planMu.Unlock()
	p, err := e.planChanges(ctx, changes)
	if err != nil {
		return err
	}
	for _, t := range e.targets { // no coalescing into a delivery that starts now
		t.mu.Lock()
		defer t.mu.Unlock()
	}
	last := changes[len(changes)-1].Seq
	err = e.opts.Store.Write(ctx, func(ctx context.Context, tx store.Tx) error {
		if e.opts.OnChanges != nil {
			if err := e.opts.OnChanges(ctx, tx, changes); err != nil {
				return err
			}
		}
		return p.save(ctx, tx, last)
	})
	if err != nil {
		return err
	}
	e.saved(p)
	if e.opts.Committed != nil && e.opts.OnChanges != nil {
		e.opts.Committed()
	}
	return nil
}

// saved tells the workers that p's operations were queued, and counts its
// disables and deletes for the deletion guard. The caller holds planMu and
// the mu of every target p queued operations for.
func (e *Engine) saved(p *planner) {
	for _, t := range e.targets {
		switch name := t.pol.Name(); {
		case p.merged[name]:
			t.gen++
		case p.added[name]:
			t.added++
		}
	}
	for _, t := range e.targets {
		name := t.pol.Name()
		if n := p.guarded[name]; n > 0 {
			t.guard.marks = append(t.guard.marks, mark{at: p.now, n: n})
		}
		if n := p.held[name]; n > 0 && !t.guard.holding {
			t.guard.holding = true
			g := t.pol.Lifecycle().DeletionGuard
			e.log.Warn("engine: deletion guard: too many disables/deletes; holding them until released or discarded",
				"target", name, "threshold", g.Threshold, "window", g.Window)
		}
	}
}

// planner plans one batch of changes. It reads outside the store's write
// transaction (only the planner writes states, so the ones it read are
// current) and collects the new states and the operations; save writes
// them, with the cursor, in one transaction. The SCIM write path never
// waits for policy evaluation.
type planner struct {
	e      *Engine
	now    time.Time
	states map[stateKey]*pending // the batch's new states, by object
	order  []stateKey            // keys of states, in first-write order
	ops    []store.Outbox        // the operations, in queue order
	// guarded and held count, per target, the disables/deletes queued and
	// held by the deletion guard in this batch.
	guarded, held map[string]int
	// takeovers are the rehires of the batch: deleted users whose anchor
	// a new user takes over.
	takeovers []takeover
	// redact: secrets stay redacted in the operations (Preview).
	redact bool
	// merged and added record, per target, that save merged operations
	// into queued ones or queued new ones.
	merged, added map[string]bool
	// members are the batch's changes to the records of group members in
	// targets (see members.go), memberOrder their keys in first-write order.
	members     map[groupKey]*memberSet
	memberOrder []groupKey
	// groupsCache holds the groups of each user read in this batch.
	groupsCache map[string][]string
	// userHolds and memberHolds are the holds read in this batch (see
	// holds.go); lapsed those that lapsed, goneUsers and goneGroups the
	// users and groups deleted in SCIM, whose holds save drops.
	userHolds             map[string][]store.Hold
	memberHolds           map[groupKey]map[string][]store.Hold
	lapsed                []store.Hold
	goneUsers, goneGroups []string
}

// reveal returns attrs with their secrets revealed, or redacted when the
// planner only previews.
func (p *planner) reveal(attrs map[string]any) map[string]any {
	if !p.redact {
		return reveal(attrs)
	}
	out := make(map[string]any, len(attrs))
	for k, v := range attrs {
		if _, ok := v.(policy.Secret); ok {
			v = policy.Redacted
		}
		out[k] = v
	}
	return out
}

// takeover: the user id takes over the anchor of the deleted user old in
// target, whose pending operations (its final delete) are dropped.
type takeover struct {
	target, old, id, anchor string
}

type stateKey struct {
	target string
	kind   targets.Kind
	id     string
}

// pending is a state to save, or to delete (gone).
type pending struct {
	s    state
	gone bool
}

// planChanges plans changes; save writes the outcome.
func (e *Engine) planChanges(ctx context.Context, changes []store.Change) (*planner, error) {
	p := e.newPlanner()
	err := p.planAll(ctx, changes)
	return p, err
}

// newPlanner returns a planner for a batch planned now.
func (e *Engine) newPlanner() *planner {
	return &planner{e: e, now: e.opts.Now(), states: map[stateKey]*pending{},
		guarded: map[string]int{}, held: map[string]int{}, merged: map[string]bool{}, added: map[string]bool{},
		members: map[groupKey]*memberSet{}, groupsCache: map[string][]string{},
		userHolds: map[string][]store.Hold{}, memberHolds: map[groupKey]map[string][]store.Hold{}}
}

// save writes the planned states and operations and advances the cursor
// to last, in the transaction tx.
func (p *planner) save(ctx context.Context, tx store.Tx, last int64) error {
	anchors := map[stateKey]string{}
	for _, to := range p.takeovers {
		if err := tx.DeletePending(ctx, to.target, string(targets.User), to.old); err != nil {
			return err
		}
		if err := tx.DeleteProvisioned(ctx, to.target, string(targets.User), to.old); err != nil {
			return err
		}
		anchors[stateKey{to.target, targets.User, to.id}] = to.anchor
		if err := tx.Audit(ctx, store.AuditEntry{Actor: actorEngine, Action: "rehire", Type: string(targets.User), ID: to.id,
			Target: to.target, Result: store.AuditOK, Detail: fmt.Sprintf("takes over the account of deleted user %s (same externalId)", to.old)}); err != nil {
			return err
		}
	}
	for _, k := range p.order {
		ps := p.states[k]
		if ps.gone {
			_, err := tx.LastOutbox(ctx, k.target, string(k.kind), k.id)
			if errors.Is(err, store.ErrNotFound) {
				if err := tx.DeleteProvisioned(ctx, k.target, string(k.kind), k.id); err != nil {
					return err
				}
				continue
			}
			if err != nil {
				return err
			}
			// Operations of the object are queued (its delete, say): keep
			// its record, anchor included, for them; the worker drops it
			// after delivering the last.
			ps = &pending{s: state{Deleted: true}}
		}
		b, err := json.Marshal(ps.s)
		if err != nil {
			return fmt.Errorf("engine: state of %s %q in %q: %w", k.kind, k.id, k.target, err)
		}
		pr, err := tx.Provisioned(ctx, k.target, string(k.kind), k.id) // keep the worker's anchor
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		anchor, ok := anchors[k]
		if !ok {
			anchor = pr.Anchor
		}
		if err := tx.PutProvisioned(ctx, store.Provisioned{Target: k.target, Type: string(k.kind), ID: k.id, Anchor: anchor, State: b, Key: ps.s.ExternalID}); err != nil {
			return err
		}
	}
	if err := p.saveMembers(ctx, tx); err != nil {
		return err
	}
	if err := p.saveHolds(ctx, tx); err != nil {
		return err
	}
	if err := p.queueOps(ctx, tx); err != nil {
		return err
	}
	if err := tx.SetCursor(ctx, cursorName, last); err != nil {
		return err
	}
	if err := p.e.savePositions(ctx, tx, last); err != nil {
		return err
	}
	return tx.DeleteChanges(ctx, last)
}

// queueOps queues the planned operations in tx, coalesced (Engine.queue),
// with an audit entry for each one the deletion guard holds.
func (p *planner) queueOps(ctx context.Context, tx store.Tx) error {
	for _, o := range p.ops {
		merged, err := p.e.queue(ctx, tx, o)
		if err != nil {
			return err
		}
		if merged {
			p.merged[o.Target] = true
		} else {
			p.added[o.Target] = true
		}
		if o.Held {
			pl, err := decodePayload(o.Payload)
			if err != nil {
				return err
			}
			if err := tx.Audit(ctx, store.AuditEntry{Actor: actorEngine, Action: pl.Op, Type: o.Type, ID: o.ID, Target: o.Target,
				Result: store.AuditHeld, Detail: "held by the deletion guard until released or discarded"}); err != nil {
				return err
			}
		}
	}
	return nil
}

// planAll plans a batch of changes.
func (p *planner) planAll(ctx context.Context, changes []store.Change) error {
	users := map[string]bool{}
	groups := map[string]*groupChange{}
	group := func(id string) *groupChange {
		gc := groups[id]
		if gc == nil {
			gc = &groupChange{sync: map[string]bool{}}
			groups[id] = gc
		}
		return gc
	}
	for _, ch := range changes {
		switch ch.Type {
		case string(targets.User):
			users[ch.ID] = true
		case string(targets.Group):
			gc := group(ch.ID)
			gc.full = gc.full || !ch.MembersOnly
			// The members that joined or left: their membership in the
			// targets is planned again, and so are they where a target's
			// user policy reads their groups (group membership can put a
			// user in or out of a target's scope).
			for _, m := range slices.Concat(ch.Added, ch.Removed, ch.Sync) {
				gc.sync[m] = true
				if p.e.readsGroups {
					users[m] = true
				}
			}
		}
	}
	// A change of a group itself (its name, say) can change the scope of
	// every member.
	for _, id := range slices.Sorted(maps.Keys(groups)) {
		if !groups[id].full || !p.e.readsGroups {
			continue
		}
		ms, err := groupMembers(ctx, p.e.opts.Store, id)
		if err != nil {
			return err
		}
		for _, m := range ms {
			users[m] = true
		}
	}
	ids := slices.Sorted(maps.Keys(users))
	if err := p.prefetchHolds(ctx, ids); err != nil {
		return err
	}
	for _, id := range ids {
		regroup, err := p.planUser(ctx, id)
		if err != nil {
			return err
		}
		for _, g := range regroup {
			group(g).sync[id] = true
		}
		// A membership hold of the user (set, say, by a workflow) is
		// planned with it.
		hs, err := p.holdsOf(ctx, id)
		if err != nil {
			return err
		}
		for _, h := range hs {
			if h.Group != "" {
				group(h.Group).sync[id] = true
			}
		}
	}
	for _, id := range slices.Sorted(maps.Keys(groups)) {
		if err := p.planGroup(ctx, id, groups[id]); err != nil {
			return err
		}
	}
	return nil
}

// groupChange is what a batch changed of a group: the group itself (full:
// every membership is compared), or the members in sync.
type groupChange struct {
	full bool
	sync map[string]bool
}

// load returns the canonical resource, or nil when it was deleted; a
// group as loadGroup returns it.
func (p *planner) load(ctx context.Context, kind targets.Kind, id string) (map[string]any, error) {
	if kind == targets.Group {
		return p.loadGroup(ctx, id)
	}
	return p.loadBare(ctx, kind, id)
}

// loadBare returns the canonical resource without a group's members, or
// nil when it was deleted.
func (p *planner) loadBare(ctx context.Context, kind targets.Kind, id string) (map[string]any, error) {
	r, err := p.e.opts.Store.Get(ctx, string(kind), id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return scim.DecodeResource(r)
}

// loadGroup returns a group, with its members when the policy of a target
// reads them (group.members), or nil when it was deleted.
func (p *planner) loadGroup(ctx context.Context, id string) (map[string]any, error) {
	st := p.e.opts.Store
	r, err := st.Get(ctx, string(targets.Group), id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	for _, t := range p.e.targets {
		if t.pol.ReadsGroupMembers() {
			return scim.DecodeWithMembers(ctx, st, r)
		}
	}
	return scim.DecodeResource(r)
}

// groupsOf returns the groups that list id as a member.
func (p *planner) groupsOf(ctx context.Context, id string) ([]string, []policy.GroupRef, error) {
	ids, err := p.memberOf(ctx, id)
	if err != nil || len(ids) == 0 {
		return nil, nil, err
	}
	var out []string
	var refs []policy.GroupRef
	for _, gid := range ids {
		g, err := p.loadBare(ctx, targets.Group, gid)
		if err != nil {
			return nil, nil, err
		}
		if g == nil {
			continue
		}
		name, _ := g["displayName"].(string)
		out = append(out, gid)
		refs = append(refs, policy.GroupRef{ID: gid, DisplayName: name})
	}
	return out, refs, nil
}

// state reads the planner's state of an object in a target: as planned in
// this batch, else as saved.
func (p *planner) state(ctx context.Context, tgt string, kind targets.Kind, id string) (state, bool, error) {
	if ps, ok := p.states[stateKey{tgt, kind, id}]; ok {
		return ps.s, !ps.gone, nil
	}
	pr, err := p.e.opts.Store.Provisioned(ctx, tgt, string(kind), id)
	if errors.Is(err, store.ErrNotFound) {
		return state{}, false, nil
	}
	if err != nil {
		return state{}, false, err
	}
	s, err := stateOf(pr)
	if err != nil {
		return state{}, false, err
	}
	return s, true, nil
}

// put records the new state of an object (saved by save).
func (p *planner) put(_ context.Context, tgt string, kind targets.Kind, id string, s state) error {
	p.set(stateKey{tgt, kind, id}, &pending{s: s})
	return nil
}

// forget records that an object's state is to be deleted. save keeps it,
// as deleted, while operations of the object are queued.
func (p *planner) forget(tgt string, kind targets.Kind, id string) {
	p.set(stateKey{tgt, kind, id}, &pending{gone: true})
}

func (p *planner) set(k stateKey, ps *pending) {
	if _, ok := p.states[k]; !ok {
		p.order = append(p.order, k)
	}
	p.states[k] = ps
}

// enqueue queues an operation, due at (written by save).
func (p *planner) enqueue(_ context.Context, tgt string, kind targets.Kind, id string, at time.Time, pl payload) error {
	pl.OpID = uuid.NewString()
	b, err := json.Marshal(pl)
	if err != nil {
		return fmt.Errorf("engine: %s of %s %q: %w", pl.Op, kind, id, err)
	}
	// An operation for later (a leaver's delete after the grace period) is
	// created when it falls due: until then it is scheduled, not pending.
	p.ops = append(p.ops, store.Outbox{Target: tgt, Type: string(kind), ID: id, Payload: b, NextAt: at,
		Created: later(p.now, at), Held: p.hold(tgt, pl.Op)})
	return nil
}

// later returns the later of a and b.
func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// hold counts a disable or delete for the deletion guard and reports
// whether it is to be held.
func (p *planner) hold(tgt, op string) bool {
	t := p.e.target(tgt)
	if t == nil || !guarded(op) {
		return false
	}
	g := t.pol.Lifecycle().DeletionGuard
	if !g.Enabled {
		return false
	}
	p.guarded[tgt]++
	if t.guard.holding || p.held[tgt] > 0 || t.guard.recent(p.now, g.Window)+p.guarded[tgt] > g.Threshold {
		p.held[tgt]++
		return true
	}
	return false
}

// canDisable reports whether t's users can be disabled.
func canDisable(t *target) bool {
	return t.conn.Capabilities().Disable && t.pol.Lifecycle().DisableSupported
}

// planUser plans one user in every target that receives users. It returns
// the user's groups when its presence changed in a target, so that their
// memberships are re-planned.
func (p *planner) planUser(ctx context.Context, id string) ([]string, error) {
	u, err := p.load(ctx, targets.User, id)
	if err != nil {
		return nil, err
	}
	var groupIDs []string
	var refs []policy.GroupRef
	var holds []store.Hold
	active := u["active"] != false
	if u != nil {
		if groupIDs, refs, err = p.groupsOf(ctx, id); err != nil {
			return nil, err
		}
		if holds, err = p.holdsOf(ctx, id); err != nil {
			return nil, err
		}
		for _, h := range holds {
			if h.Group == "" {
				p.lapse([]store.Hold{h}, active)
			}
		}
	} else {
		p.goneUsers = append(p.goneUsers, id)
	}
	flipped := false
	for _, t := range p.e.targets {
		if !t.pol.ReceivesUsers() {
			continue
		}
		prev, known, err := p.state(ctx, t.pol.Name(), targets.User, id)
		if err != nil {
			return nil, err
		}
		var next state
		if u == nil {
			if !known || prev.Deleted {
				continue
			}
			if !prev.Present { // never in the target: forget it
				p.forget(t.pol.Name(), targets.User, id)
				continue
			}
			next, err = p.userDeleted(ctx, t, id, prev)
		} else {
			if !prev.Present {
				if prev, known, err = p.rehire(ctx, t, id, u, prev, known); err != nil {
					return nil, err
				}
			}
			// The account holds of the target replace the user's active
			// attribute, or take it out of the scope.
			ut, remove := u, false
			switch accountHold(holds, t.pol.Name(), active) {
			case store.HoldDelete:
				remove = true
			case store.HoldDisable:
				ut = withActive(u, false)
			case store.HoldEnable:
				ut = withActive(u, true)
			}
			d := t.pol.EvaluateUser(ut, refs)
			if d.Err != nil {
				p.e.log.Warn("engine: policy failed; object left as it is", "target", t.pol.Name(), "kind", "User", "id", id, "err", d.Err)
				continue
			}
			next, err = p.userChanged(ctx, t, id, ut, d, prev, groupIDs, remove)
		}
		if err != nil {
			return nil, err
		}
		if known || next.Present {
			if err := p.put(ctx, t.pol.Name(), targets.User, id, next); err != nil {
				return nil, err
			}
		}
		flipped = flipped || prev.live() != next.live()
	}
	if flipped {
		return groupIDs, nil
	}
	return nil, nil
}

// userDeleted plans a SCIM delete: disable now, delete after the grace
// period.
func (p *planner) userDeleted(ctx context.Context, t *target, id string, prev state) (state, error) {
	next := prev
	next.Deleted, next.InScope = true, false
	grace := t.pol.Lifecycle().DeleteGracePeriod
	name := t.pol.Name()
	if grace > 0 && canDisable(t) && !prev.Disabled {
		if err := p.enqueue(ctx, name, targets.User, id, p.now, payload{Op: opDisable}); err != nil {
			return state{}, err
		}
		next.Disabled = true
	}
	return next, p.enqueue(ctx, name, targets.User, id, p.now.Add(grace), payload{Op: opDelete, Final: true})
}

// userChanged plans a created or updated user: joiner, mover, leaver,
// rehire. remove (a hold) takes the user out of the target's scope and
// deletes its account.
func (p *planner) userChanged(ctx context.Context, t *target, id string, u map[string]any, d policy.Decision, prev state, groupIDs []string, remove bool) (state, error) {
	name := t.pol.Name()
	active := u["active"] != false
	inScope := d.InScope && (active || canDisable(t)) && !remove // without disable, inactive is out of scope
	next := prev
	next.InScope = inScope
	next.Resync = false
	if !inScope {
		if prev.live() {
			action := t.pol.Lifecycle().OutOfScope
			if remove {
				action = policy.ActionDelete
			}
			return p.leave(ctx, t, targets.User, id, prev, action)
		}
		return next, nil
	}
	next.ExternalID, _ = u["externalId"].(string)
	attrs := p.reveal(d.Attributes)
	if !prev.Present {
		create := merge(attrs, p.reveal(d.OnCreate))
		if err := p.enqueue(ctx, name, targets.User, id, p.now, payload{Op: opCreate, Attrs: create, Secret: secretNames(create, d),
			OnCreate: slices.Sorted(maps.Keys(d.OnCreate))}); err != nil {
			return state{}, err
		}
		next = state{Present: true, InScope: true, Attrs: attrs, ExternalID: next.ExternalID}
		// A user being created is in no group of the target yet (a user
		// the target lost is re-added to its groups).
		for _, g := range groupIDs {
			p.setMember(name, g, id, false)
		}
	} else {
		if changed := diff(prev.Attrs, attrs); len(changed) > 0 {
			if err := p.enqueue(ctx, name, targets.User, id, p.now, payload{Op: opUpdate, Attrs: changed, Secret: secretNames(changed, d)}); err != nil {
				return state{}, err
			}
		}
		next.Attrs = merge(prev.Attrs, attrs)
	}
	if want := !active; canDisable(t) && (want != next.Disabled || prev.Resync && prev.Present) {
		op := opEnable
		if want {
			op = opDisable
		}
		if err := p.enqueue(ctx, name, targets.User, id, p.now, payload{Op: op}); err != nil {
			return state{}, err
		}
		next.Disabled = want
	}
	return next, nil
}

// leave applies action (the target's outOfScope action, or a hold's
// delete) to an object that left its scope.
func (p *planner) leave(ctx context.Context, t *target, kind targets.Kind, id string, prev state, action policy.Action) (state, error) {
	next := prev
	next.InScope = false
	switch action {
	case policy.ActionDelete:
		next = state{}
		return next, p.enqueue(ctx, t.pol.Name(), kind, id, p.now, payload{Op: opDelete})
	case policy.ActionDisable:
		if kind == targets.User && canDisable(t) && !prev.Disabled {
			next.Disabled = true
			return next, p.enqueue(ctx, t.pol.Name(), kind, id, p.now, payload{Op: opDisable})
		}
	}
	return next, nil
}

// planGroup plans one group, and its memberships, in every target that
// receives groups and can hold them.
func (p *planner) planGroup(ctx context.Context, id string, gc *groupChange) error {
	g, err := p.loadGroup(ctx, id)
	if err != nil {
		return err
	}
	if g == nil {
		p.goneGroups = append(p.goneGroups, id)
	}
	for _, t := range p.e.targets {
		if !t.pol.ReceivesGroups() || !t.conn.Capabilities().Groups {
			continue
		}
		name := t.pol.Name()
		prev, known, err := p.state(ctx, name, targets.Group, id)
		if err != nil {
			return err
		}
		next := prev
		switch {
		case g == nil:
			if !known || prev.Deleted {
				continue
			}
			p.clearMembers(name, id)
			if !prev.Present { // never in the target: forget it
				p.forget(name, targets.Group, id)
				continue
			}
			next = state{Deleted: true}
			err = p.enqueue(ctx, name, targets.Group, id, p.now, payload{Op: opDelete, Final: true})
		default:
			d := t.pol.EvaluateGroup(g)
			if d.Err != nil {
				p.e.log.Warn("engine: policy failed; object left as it is", "target", name, "kind", "Group", "id", id, "err", d.Err)
				continue
			}
			if !d.InScope {
				next.InScope = false
				if prev.live() {
					next, err = p.leave(ctx, t, targets.Group, id, prev, t.pol.Lifecycle().OutOfScope)
					if !next.Present {
						p.clearMembers(name, id)
					}
				}
				break
			}
			next, err = p.groupInScope(ctx, t, id, g, d, prev, gc)
		}
		if err != nil {
			return err
		}
		if known || next.Present {
			if err := p.put(ctx, name, targets.Group, id, next); err != nil {
				return err
			}
		}
	}
	return nil
}

// groupInScope plans a group in scope: create or update, then the member
// changes for the members that are live users of the target: of every
// member when the group itself changed (or is new, or resynced), else of
// the members in gc.sync.
func (p *planner) groupInScope(ctx context.Context, t *target, id string, g map[string]any, d policy.Decision, prev state, gc *groupChange) (state, error) {
	name := t.pol.Name()
	attrs := p.reveal(d.Attributes)
	next := prev
	next.InScope = true
	next.Resync = false
	next.Members = nil
	full := gc.full || !prev.Present || prev.Resync
	if !prev.Present {
		if err := p.enqueue(ctx, name, targets.Group, id, p.now, payload{Op: opCreate, Attrs: merge(attrs, p.reveal(d.OnCreate)),
			Secret: secretNames(merge(d.Attributes, d.OnCreate), d), OnCreate: slices.Sorted(maps.Keys(d.OnCreate))}); err != nil {
			return state{}, err
		}
		next = state{Present: true, InScope: true, Attrs: attrs}
		p.clearMembers(name, id)
	} else {
		if changed := diff(prev.Attrs, attrs); len(changed) > 0 {
			if err := p.enqueue(ctx, name, targets.Group, id, p.now, payload{Op: opUpdate, Attrs: changed, Secret: secretNames(changed, d)}); err != nil {
				return state{}, err
			}
		}
		next.Attrs = merge(prev.Attrs, attrs)
	}
	holds, err := p.groupHolds(ctx, name, id)
	if err != nil {
		return state{}, err
	}
	var add, remove []string
	if full {
		members, err := groupMembers(ctx, p.e.opts.Store, id)
		if err != nil {
			return state{}, err
		}
		members = p.heldMembers(members, holds)
		have, err := p.provisionedMembers(ctx, name, id)
		if err != nil {
			return state{}, err
		}
		for _, m := range members {
			s, _, err := p.state(ctx, name, targets.User, m)
			if err != nil {
				return state{}, err
			}
			if !s.live() {
				continue
			}
			if !have[m] {
				add = append(add, m)
			}
			delete(have, m)
		}
		remove = slices.Sorted(maps.Keys(have))
	} else {
		for _, m := range slices.Sorted(maps.Keys(gc.sync)) {
			member, err := p.isMember(ctx, id, m)
			if err != nil {
				return state{}, err
			}
			if hs := holds[m]; len(hs) > 0 {
				p.lapse(hs, member)
				if act := memberHold(hs, member); act != "" {
					member = act == store.HoldAdd
				}
			}
			want := false
			if member {
				s, _, err := p.state(ctx, name, targets.User, m)
				if err != nil {
					return state{}, err
				}
				want = s.live()
			}
			have, err := p.provisionedMember(ctx, name, id, m)
			if err != nil {
				return state{}, err
			}
			switch {
			case want && !have:
				add = append(add, m)
			case !want && have:
				remove = append(remove, m)
			}
		}
	}
	if len(remove) > 0 {
		if err := p.enqueue(ctx, name, targets.Group, id, p.now, payload{Op: opRemoveMembers, Members: remove}); err != nil {
			return state{}, err
		}
		for _, m := range remove {
			p.setMember(name, id, m, false)
		}
	}
	if len(add) > 0 {
		if err := p.enqueue(ctx, name, targets.Group, id, p.now, payload{Op: opAddMembers, Members: add}); err != nil {
			return state{}, err
		}
		for _, m := range add {
			p.setMember(name, id, m, true)
		}
	}
	return next, nil
}

// rehireMargin: a deleted user's final delete due sooner than this is let
// run; a rehire then creates a new account.
const rehireMargin = time.Minute

// rehire returns the state a new user id takes over in target t: that of a
// user deleted in SCIM with the same externalId whose final delete (after
// the grace period) is still queued and not due soon. The new user then
// keeps the account - anchor, group memberships in the target - and is
// updated and enabled instead of created. Without such a user, it returns
// prev and known unchanged.
func (p *planner) rehire(ctx context.Context, t *target, id string, u map[string]any, prev state, known bool) (state, bool, error) {
	ext, _ := u["externalId"].(string)
	if ext == "" {
		return prev, known, nil
	}
	name := t.pol.Name()
	recs, err := p.e.opts.Store.ProvisionedByKey(ctx, name, string(targets.User), ext)
	if err != nil {
		return state{}, false, err
	}
	for _, r := range recs {
		if r.ID == id || r.Anchor == "" {
			continue
		}
		if _, planned := p.states[stateKey{name, targets.User, r.ID}]; planned {
			continue
		}
		s, err := stateOf(r)
		if err != nil {
			return state{}, false, err
		}
		if !s.Deleted || !s.Present {
			continue
		}
		rows, err := p.e.opts.Store.ObjectOutbox(ctx, name, string(targets.User), r.ID)
		if err != nil {
			return state{}, false, err
		}
		if !takeable(rows, p.now) {
			continue
		}
		p.takeovers = append(p.takeovers, takeover{target: name, old: r.ID, id: id, anchor: r.Anchor})
		// Every attribute is sent again, even those that did not change:
		// the update records the new user's id on the account (the
		// connector's object id), which still names the deleted user.
		s.Deleted, s.InScope, s.Attrs, s.Resync = false, false, nil, true
		return s, true, nil
	}
	return prev, known, nil
}

// takeable reports whether a deleted user's queued operations let another
// user take over its account: its final delete is queued, not due within
// rehireMargin, and nothing else is queued but its disable.
func takeable(rows []store.Outbox, now time.Time) bool {
	final := false
	for _, r := range rows {
		if r.Dead {
			continue
		}
		var pl payload
		if err := json.Unmarshal(r.Payload, &pl); err != nil || r.Attempts > 0 || r.Held {
			return false
		}
		switch {
		case pl.Op == opDelete && pl.Final && r.NextAt.After(now.Add(rehireMargin)):
			final = true
		case pl.Op == opDisable:
		default:
			return false
		}
	}
	return final
}
