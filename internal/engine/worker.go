package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/targets"
)

// scanLimit bounds the pending operations a worker reads at a time.
const scanLimit = 1000

// recordTimeout bounds the Write that records an operation's outcome.
const recordTimeout = 30 * time.Second

// Errors of delivery, recorded with the operation.
var (
	// errNoAnchor: the object was never created in the target (its create
	// failed for good), so the operation cannot be applied.
	errNoAnchor = targets.Permanent(errors.New("engine: object not created in the target"))
)

// actorEngine is the actor of the engine's audit entries.
const actorEngine = "engine"

// spread is how many times its free slots a replica sharing its store
// considers of the due operations, to take its share at random.
const spread = 4

// objectKey identifies an object within one target.
type objectKey struct{ typ, id string }

// work is the worker goroutine of one target: it delivers the due head
// operation of every object, at most Concurrency at a time.
//
// It reads the deliverable operations in batches and dispatches from the
// batch as objects finish, reading again only when the outbox changed
// under it (target.gen: the planner queued or merged operations, an
// administrator released or retried some), when a delivery did not simply
// succeed (a retried operation stays its object's head), or when the batch
// is used up.
//
// On a store that replicas share (Options.Replica), every operation it
// delivers is claimed first (Tx.ClaimOutbox), in one write for the
// operations it picks at once: replicas never deliver the same operation at
// once, nor two of one object, and the planner does not merge into a
// claimed operation. Operations another replica claimed are skipped until
// its claim ends; the claims of deliveries in flight are renewed every
// ClaimTTL/3. Alone on its store, the worker's marks in memory (inflight)
// do the same.
func (e *Engine) work(ctx context.Context, t *target) {
	var wg sync.WaitGroup
	defer wg.Wait()
	inflight := map[objectKey]bool{}
	finished := make(chan delivery, e.opts.Concurrency)
	timer := time.NewTimer(0)
	defer timer.Stop()
	renew := time.NewTicker(e.opts.ClaimTTL / 3)
	defer renew.Stop()
	var (
		batch []store.Outbox // read, not yet dispatched, in queue order
		gen   uint64         // t.gen when batch was read
		added uint64         // t.added when batch was read
		whole bool           // batch held every deliverable operation
		stale = true
	)
	for {
		wait := e.opts.Poll
		open, probe, w := e.gate(ctx, t)
		if !open {
			wait = min(wait, w)
		}
		t.mu.Lock() // the planner does not coalesce while we pick
		// Read again when the batch may be wrong (stale, gen), used up, or
		// when operations were queued after a batch that held them all
		// and a slot is free for them (queued operations come after a
		// truncated batch in the queue order anyway).
		if open && (stale || gen != t.gen || len(batch) == 0 && len(inflight) == 0 ||
			whole && added != t.added && len(inflight) < e.opts.Concurrency) {
			rows, err := e.opts.Store.Deliverable(ctx, t.pol.Name(), scanLimit)
			if err != nil && ctx.Err() == nil {
				e.log.Error("engine: reading the outbox", "target", t.pol.Name(), "err", err)
			}
			// Operations being delivered stay in the outbox until they
			// are done: leave them out, so that none is sent twice.
			batch = rows[:0]
			for _, row := range rows {
				if !t.inflight[row.Seq] {
					batch = append(batch, row)
				}
			}
			gen, added, whole, stale = t.gen, t.added, len(rows) < scanLimit, false
		}
		now := e.opts.Now()
		slots := e.opts.Concurrency
		switch {
		case !open:
			slots = 0
		case probe: // one delivery probes the target that is down
			slots = 1
		}
		// The due head operations of objects not in flight, in queue
		// order: as many as there are free slots, or on a shared store
		// some more, among which this replica takes its share at random,
		// so that replicas reading the same queue rarely contend for one
		// operation (a claim lost to another replica aborts the
		// transaction it shares with other writes).
		free := max(slots-len(inflight), 0)
		want := free
		if e.opts.Replica != "" {
			want *= spread
		}
		var cands []int // indexes in batch
		seen := map[objectKey]bool{}
		for i, row := range batch {
			if len(cands) >= want {
				break
			}
			k := objectKey{row.Type, row.ID}
			head := !seen[k]
			seen[k] = true
			if !head || inflight[k] {
				continue
			}
			if d := row.NextAt.Sub(now); d > 0 {
				wait = min(wait, d)
				continue
			}
			if e.claimedElsewhere(row, now) { // read again after the poll
				continue
			}
			cands = append(cands, i)
		}
		if len(cands) > free {
			rand.Shuffle(len(cands), func(i, j int) { cands[i], cands[j] = cands[j], cands[i] })
			cands = cands[:free]
			slices.Sort(cands)
		}
		var picked []store.Outbox
		if len(cands) > 0 { // take them out of the batch, which keeps its order
			kept := batch[:0]
			for i, row := range batch {
				if len(cands) > 0 && cands[0] == i {
					cands = cands[1:]
					inflight[objectKey{row.Type, row.ID}] = true
					t.inflight[row.Seq] = true
					picked = append(picked, row)
					continue
				}
				kept = append(kept, row)
			}
			batch = kept
		}
		t.mu.Unlock()
		if len(picked) > 0 {
			claimed, err := e.claim(ctx, picked)
			if err != nil && ctx.Err() == nil { // a store that cannot claim cannot record: paused with backoff
				e.recorded(t, err)
			}
			t.mu.Lock()
			for _, row := range picked {
				c, ok := claimed[row.Seq]
				if !ok { // another replica's, or changed: read again later
					delete(inflight, objectKey{row.Type, row.ID})
					delete(t.inflight, row.Seq)
					continue
				}
				wg.Go(func() {
					ok := e.deliver(ctx, t, c)
					t.mu.Lock()
					delete(t.inflight, c.Seq)
					t.mu.Unlock()
					finished <- delivery{objectKey{c.Type, c.ID}, ok}
				})
			}
			t.mu.Unlock()
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case d := <-finished:
			delete(inflight, d.key)
			stale = stale || !d.ok
		case <-t.wake:
		case <-timer.C:
			stale = true
		case <-renew.C:
			e.renewClaims(ctx, t)
		}
		for drained := false; !drained; { // collect every finished delivery
			select {
			case d := <-finished:
				delete(inflight, d.key)
				stale = stale || !d.ok
			default:
				drained = true
			}
		}
	}
}

// claimedElsewhere reports whether another replica's claim on row stands
// at now.
func (e *Engine) claimedElsewhere(row store.Outbox, now time.Time) bool {
	return e.opts.Replica != "" && row.ClaimedBy != "" && row.ClaimedBy != e.opts.Replica && row.ClaimedUntil.After(now)
}

// claim claims rows for this replica and returns those claimed, as
// stored, by Seq; alone on its store, the engine has them all as they are.
func (e *Engine) claim(ctx context.Context, rows []store.Outbox) (map[int64]store.Outbox, error) {
	if e.opts.Replica == "" {
		out := make(map[int64]store.Outbox, len(rows))
		for _, r := range rows {
			out[r.Seq] = r
		}
		return out, nil
	}
	seqs := make([]int64, len(rows))
	for i, r := range rows {
		seqs[i] = r.Seq
	}
	now := e.opts.Now()
	var got []store.Outbox
	err := e.opts.Store.Write(ctx, func(ctx context.Context, tx store.Tx) (err error) {
		got, err = tx.ClaimOutbox(ctx, seqs, e.opts.Replica, now, now.Add(e.opts.ClaimTTL))
		return err
	})
	out := make(map[int64]store.Outbox, len(got))
	if err != nil {
		return out, err
	}
	for _, r := range got {
		out[r.Seq] = r
	}
	return out, nil
}

// renewClaims renews the claims of t's deliveries in flight.
func (e *Engine) renewClaims(ctx context.Context, t *target) {
	t.mu.Lock()
	rows := make([]store.Outbox, 0, len(t.inflight))
	for seq := range t.inflight {
		rows = append(rows, store.Outbox{Seq: seq})
	}
	t.mu.Unlock()
	if len(rows) == 0 || e.opts.Replica == "" {
		return
	}
	if _, err := e.claim(ctx, rows); err != nil && ctx.Err() == nil {
		e.log.Warn("engine: renewing the claims of deliveries in flight", "target", t.pol.Name(), "err", err)
	}
}

// errClaimLost: the operation delivered is no longer claimed by this
// replica (an administrator or a reconciliation dropped it, or another
// replica took it over after the claim ended): its outcome is not recorded.
var errClaimLost = errors.New("engine: the operation is no longer claimed by this replica")

// ownClaim checks, in tx, that row is still claimed by this replica, if
// it shares its store.
func (e *Engine) ownClaim(ctx context.Context, tx store.Tx, row store.Outbox) error {
	if e.opts.Replica == "" {
		return nil
	}
	cur, err := tx.GetOutbox(ctx, row.Seq)
	if errors.Is(err, store.ErrNotFound) || err == nil && cur.ClaimedBy != e.opts.Replica {
		return errClaimLost
	}
	return err
}

// delivery is the outcome of one delivery for the worker: ok when the
// operation succeeded and left the outbox.
type delivery struct {
	key objectKey
	ok  bool
}

// poke tells the worker that the outbox changed under it.
func (t *target) poke() {
	t.mu.Lock()
	t.gen++
	t.mu.Unlock()
	signal(t.wake)
}

// deliver sends one operation and records its outcome. It reports whether
// the operation succeeded and left the outbox.
func (e *Engine) deliver(ctx context.Context, t *target, row store.Outbox) bool {
	name := t.pol.Name()
	p, err := decodePayload(row.Payload)
	err = targets.Permanent(err)
	var anchor string
	var rest []string // members to add that are not created yet
	var adopted string
	if err == nil {
		anchor, rest, err = e.call(ctx, t, row, p, &adopted)
	}
	if ctx.Err() != nil {
		return false // shutting down: the operation is retried after a restart
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	class := targets.Class(err)
	if class == targets.ErrNotFound && lostOp(p.Op) {
		e.recreate(rctx, t, row, p, err)
		return false
	}
	// A transient failure while the target is down (no gRPC connector
	// connected, a database that does not answer) is not counted: the
	// operation waits in the outbox, however long the outage, instead of
	// running out of attempts.
	down := ""
	switch class {
	case targets.ErrTransient:
		down = e.failed(rctx, t, objectKey{row.Type, row.ID}, err)
	case nil:
		e.succeeded(t)
	}
	now := e.opts.Now()
	werr := e.opts.Store.Write(rctx, func(ctx context.Context, tx store.Tx) error {
		if err := e.ownClaim(ctx, tx, row); err != nil {
			return err
		}
		if down != "" { // due again when the target is back
			row.LastError = "target down (" + down + "): " + err.Error()
			return tx.UpdateOutbox(ctx, row)
		}
		if class != nil {
			row.Attempts++
			row.LastError = err.Error()
			expired := e.opts.MaxAge > 0 && !row.Created.IsZero() && now.Sub(row.Created) >= e.opts.MaxAge
			if class == targets.ErrTransient && row.Attempts < e.opts.MaxAttempts && !expired {
				row.NextAt = now.Add(e.backoff(row.Attempts))
				return tx.UpdateOutbox(ctx, row)
			}
			row.Dead = true
			if err := tx.UpdateOutbox(ctx, row); err != nil {
				return err
			}
			if p.Op == opCreate {
				if err := createFailed(ctx, tx, name, row.Type, row.ID); err != nil {
					return err
				}
			}
			return tx.Audit(ctx, store.AuditEntry{Actor: actorEngine, Action: p.Op, Type: row.Type, ID: row.ID,
				Target: name, Result: store.AuditDead, Detail: row.LastError})
		}
		if len(rest) > 0 {
			return e.requeueMembers(ctx, tx, row, p, rest, now)
		}
		detail := p.describe()
		if adopted != "" {
			detail = adopted + "; " + payload{Attrs: without(p.Attrs, p.OnCreate), Secret: p.Secret}.describe()
		}
		if err := tx.Audit(ctx, store.AuditEntry{Actor: actorEngine, Action: p.Op, Type: row.Type, ID: row.ID,
			Target: name, Result: store.AuditOK, Detail: detail}); err != nil {
			return err
		}
		switch {
		case p.Op == opDelete && p.Final:
			if err := tx.DeleteProvisioned(ctx, name, row.Type, row.ID); err != nil {
				return err
			}
		case p.Op == opDelete, p.Op == opCreate:
			pr, err := tx.Provisioned(ctx, name, row.Type, row.ID)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			if len(pr.State) == 0 {
				pr.State = []byte("{}")
			}
			pr.Target, pr.Type, pr.ID, pr.Anchor = name, row.Type, row.ID, anchor
			if err := tx.PutProvisioned(ctx, pr); err != nil {
				return err
			}
		}
		if err := tx.DeleteOutbox(ctx, row.Seq); err != nil {
			return err
		}
		if p.Op == opDelete && !p.Final {
			return dropForgotten(ctx, tx, name, row.Type, row.ID)
		}
		return nil
	})
	switch {
	case class == nil:
		e.metrics.delivered(name, p.Op, outcomeOK)
		if !row.Created.IsZero() && werr == nil {
			e.metrics.lag.WithLabelValues(name).Observe(e.opts.Now().Sub(row.Created).Seconds())
		}
	case row.Dead:
		e.metrics.delivered(name, p.Op, outcomeDead)
	default:
		e.metrics.delivered(name, p.Op, outcomeRetry)
	}
	lost := errors.Is(werr, errClaimLost)
	if lost {
		werr = nil // the store works; the operation is not this replica's any more
	}
	e.recorded(t, werr)
	switch {
	case lost:
		e.log.Info("engine: operation no longer claimed by this replica; its outcome is not recorded", "target", name, "kind", row.Type, "id", row.ID, "op", p.Op)
		return false
	case werr != nil:
		e.log.Debug("engine: recording a delivery", "target", name, "kind", row.Type, "id", row.ID, "op", p.Op, "err", werr)
	case down != "":
		e.log.Debug("engine: operation waits for the target", "target", name, "kind", row.Type, "id", row.ID, "op", p.Op, "err", err)
	case class == nil:
		e.log.Debug("engine: delivered", "target", name, "kind", row.Type, "id", row.ID, "op", p.Op)
	case row.Dead:
		e.log.Error("engine: operation failed; dead letter", "target", name, "kind", row.Type, "id", row.ID, "op", p.Op, "attempts", row.Attempts, "err", err)
	default:
		e.log.Warn("engine: operation failed; retrying", "target", name, "kind", row.Type, "id", row.ID, "op", p.Op, "attempts", row.Attempts, "next", row.NextAt, "err", err)
	}
	return class == nil && werr == nil && len(rest) == 0
}

// requeueMembers records, in tx, an addMembers that added the members
// created in the target but not rest, whose creates are still to come:
// rest is queued again in an operation of its own, at the end of the
// group's queue with backoff, so that neither they nor the group's later
// operations wait for one another. Members that a later operation of the
// group adds or removes anyway are left to it. The remainder counts the
// attempts, and becomes a dead letter naming its members after the last.
func (e *Engine) requeueMembers(ctx context.Context, tx store.Tx, row store.Outbox, p payload, rest []string, now time.Time) error {
	name := row.Target
	rows, err := tx.ObjectOutbox(ctx, name, row.Type, row.ID)
	if err != nil {
		return err
	}
	later, gone := map[string]bool{}, false
	for _, o := range rows {
		if o.Seq <= row.Seq || o.Dead {
			continue
		}
		lp, err := decodePayload(o.Payload)
		if err != nil {
			return err
		}
		for _, m := range lp.Members {
			later[m] = true
		}
		// A later delete ends the group (or its create starts it over,
		// with every member): nothing is left to add after it.
		gone = gone || lp.Op == opDelete || lp.Op == opCreate
	}
	rest = slices.DeleteFunc(rest, func(m string) bool { return gone || later[m] })
	detail := fmt.Sprintf("added %d members; %d not yet created in the target, retried on their own",
		len(p.Members)-len(rest), len(rest))
	if err := tx.Audit(ctx, store.AuditEntry{Actor: actorEngine, Action: p.Op, Type: row.Type, ID: row.ID,
		Target: name, Result: store.AuditOK, Detail: detail}); err != nil {
		return err
	}
	if err := tx.DeleteOutbox(ctx, row.Seq); err != nil || len(rest) == 0 {
		return err
	}
	b, err := json.Marshal(payload{Op: opAddMembers, OpID: uuid.NewString(), Members: rest, Remainder: true})
	if err != nil {
		return err
	}
	o := store.Outbox{Target: name, Type: row.Type, ID: row.ID, Payload: b, Created: row.Created,
		Attempts: row.Attempts + 1, NextAt: now.Add(e.backoff(row.Attempts + 1)),
		LastError: fmt.Sprintf("members not yet created in the target: %s", strings.Join(rest, ", "))}
	if o.Seq, err = tx.Enqueue(ctx, o); err != nil {
		return err
	}
	expired := e.opts.MaxAge > 0 && !o.Created.IsZero() && now.Sub(o.Created) >= e.opts.MaxAge
	if o.Attempts >= e.opts.MaxAttempts || expired {
		o.Dead = true
		if err := tx.Audit(ctx, store.AuditEntry{Actor: actorEngine, Action: p.Op, Type: row.Type, ID: row.ID,
			Target: name, Result: store.AuditDead, Detail: o.LastError}); err != nil {
			return err
		}
	}
	return tx.UpdateOutbox(ctx, o)
}

// createFailed records, in tx, that an object's create became a dead
// letter: the object is not in the target (the planner creates it again,
// with its whole state, at its next change or when the dead letter is
// retried), the operations queued behind the create are dropped (none can
// apply to an object that does not exist: each would be one more dead
// letter), and a user is in none of the target's groups meanwhile (they add
// it once it is created).
func createFailed(ctx context.Context, tx store.Tx, tgt, typ, id string) error {
	pr, s, found, err := recordOf(ctx, tx, tgt, typ, id)
	if err != nil || !found || pr.Anchor != "" {
		return err
	}
	if err := tx.DeletePending(ctx, tgt, typ, id); err != nil {
		return err
	}
	s = state{InScope: s.InScope, ExternalID: s.ExternalID}
	if pr.State, err = json.Marshal(s); err != nil {
		return err
	}
	if err := tx.PutProvisioned(ctx, pr); err != nil {
		return err
	}
	if typ != string(targets.User) {
		return tx.RemoveProvisionedMembers(ctx, tgt, id, nil)
	}
	gids, err := tx.ProvisionedGroupsOf(ctx, tgt, id)
	if err != nil {
		return err
	}
	for _, g := range gids {
		if err := tx.RemoveProvisionedMembers(ctx, tgt, g, []string{id}); err != nil {
			return err
		}
	}
	return nil
}

// backoff is the delay before retry number attempts (from 1): the base
// doubled per attempt, capped, with jitter in its upper half.
func (e *Engine) backoff(attempts int) time.Duration {
	d := e.opts.BackoffBase
	for i := 1; i < attempts && d < e.opts.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, e.opts.BackoffMax)
	return d/2 + rand.N(d/2+1)
}

// call performs one operation on the connector. It returns the anchor of
// the object after a create ("" after a delete), and for addMembers the
// members it could not add yet: their creates are queued or being retried.
//
// A create may adopt an existing account instead (see match); adopted then
// says so.
func (e *Engine) call(ctx context.Context, t *target, row store.Outbox, p payload, adopted *string) (string, []string, error) {
	name := t.pol.Name()
	anchor, err := e.anchor(ctx, name, row.Type, row.ID)
	if err != nil {
		return "", nil, err
	}
	op := targets.Op{ID: p.OpID, ObjectID: row.ID, Kind: targets.Kind(row.Type), Anchor: anchor, Attrs: p.Attrs}
	c := t.conn
	switch p.Op {
	case opCreate:
		if anchor != "" {
			return anchor, nil, nil // created by an earlier attempt
		}
		a, how, err := e.match(ctx, t, op)
		if err != nil {
			return "", nil, err
		}
		if a != "" { // an existing account: adopted, brought to the mapped state
			op.Anchor, op.Attrs = a, without(op.Attrs, p.OnCreate)
			if err := c.Update(ctx, op); err != nil {
				return "", nil, err
			}
			*adopted = fmt.Sprintf("adopted the existing account %q, matched by %s", a, how)
			return a, nil, nil
		}
		a, err = c.Create(ctx, op)
		var ce *targets.ConflictError
		if errors.As(err, &ce) && ce.Anchor != "" && ce.ObjectID == row.ID {
			// Our own object (an earlier attempt whose answer was lost):
			// adopt it and bring its attributes up to date.
			op.Anchor = ce.Anchor
			return ce.Anchor, nil, c.Update(ctx, op)
		}
		return a, nil, err
	case opDelete:
		if anchor == "" {
			return "", nil, nil
		}
		if err := c.Delete(ctx, op); err != nil && !errors.Is(err, targets.ErrNotFound) {
			return anchor, nil, err
		}
		return "", nil, nil
	}
	if anchor == "" {
		return "", nil, errNoAnchor
	}
	switch p.Op {
	case opUpdate:
		return anchor, nil, c.Update(ctx, op)
	case opDisable:
		return anchor, nil, c.Disable(ctx, op)
	case opEnable:
		return anchor, nil, c.Enable(ctx, op)
	case opAddMembers, opRemoveMembers:
		var rest []string
		for _, m := range p.Members {
			a, coming, err := e.member(ctx, name, m)
			if err != nil {
				return anchor, nil, err
			}
			switch {
			case a != "":
				op.Members = append(op.Members, a)
			case p.Op == opAddMembers && coming:
				rest = append(rest, m)
			}
			// A member without an anchor that is not coming (never in the
			// target, or its create failed for good) is left out; the
			// planner adds it when it is created.
		}
		if len(op.Members) == 0 {
			return anchor, rest, nil
		}
		if p.Op == opRemoveMembers {
			return anchor, nil, c.RemoveMembers(ctx, op)
		}
		err := c.AddMembers(ctx, op)
		if errors.Is(err, targets.ErrNotFound) {
			// A member may be on its way: retry. The cause is kept as text,
			// since Class would read ErrNotFound before ErrTransient.
			err = fmt.Errorf("%w: %v", targets.ErrTransient, err)
		}
		if err != nil {
			return anchor, nil, err
		}
		return anchor, rest, nil
	}
	return anchor, nil, targets.Permanent(fmt.Errorf("engine: unknown operation %q", p.Op))
}

// anchor returns the recorded anchor of an object, "" when none.
func (e *Engine) anchor(ctx context.Context, tgt, typ, id string) (string, error) {
	pr, err := e.opts.Store.Provisioned(ctx, tgt, typ, id)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", targets.Transient(err)
	}
	return pr.Anchor, nil
}

// member returns the recorded anchor of a user, "" when none, and whether
// one is coming: the planner's state has the user present, so its create
// is queued (or in flight).
func (e *Engine) member(ctx context.Context, tgt, id string) (anchor string, coming bool, err error) {
	pr, err := e.opts.Store.Provisioned(ctx, tgt, string(targets.User), id)
	if errors.Is(err, store.ErrNotFound) {
		return "", false, nil
	}
	if err != nil {
		return "", false, targets.Transient(err)
	}
	if pr.Anchor != "" {
		return pr.Anchor, false, nil
	}
	s, err := stateOf(pr)
	if err != nil {
		return "", false, targets.Permanent(err)
	}
	return "", s.Present, nil
}

// dropForgotten drops, in tx, the record of an object that the planner
// forgot while operations of it were queued (see planner.save), once none
// is left.
func dropForgotten(ctx context.Context, tx store.Tx, tgt, typ, id string) error {
	_, s, found, err := recordOf(ctx, tx, tgt, typ, id)
	if err != nil {
		return err
	}
	if !found {
		return nil
	}
	if !s.Deleted || s.Present {
		return nil
	}
	if _, err := tx.LastOutbox(ctx, tgt, typ, id); !errors.Is(err, store.ErrNotFound) {
		return err // nil: operations are still queued
	}
	return tx.DeleteProvisioned(ctx, tgt, typ, id)
}

// lostOp reports whether ErrNotFound from op means that the target lost
// the object (it was deleted there behind the gateway's back).
func lostOp(op string) bool { return op == opUpdate || op == opDisable || op == opEnable }

// recreate handles an object that the target lost: it drops the object's
// pending operations and anchor, and has the planner plan it again, from
// scratch: a create with every attribute, then its state (disabled) and
// its memberships. It runs serialised with the planner, which owns the
// states.
func (e *Engine) recreate(ctx context.Context, t *target, row store.Outbox, p payload, cause error) {
	name := t.pol.Name()
	e.planMu.Lock()
	defer e.planMu.Unlock()
	t.mu.Lock() // the worker must not pick the operations dropped here
	defer t.mu.Unlock()
	t.gen++
	err := e.opts.Store.Write(ctx, func(ctx context.Context, tx store.Tx) error {
		if err := e.ownClaim(ctx, tx, row); err != nil {
			return err
		}
		if err := forgetTarget(ctx, tx, name, row.Type, row.ID); err != nil {
			return err
		}
		return tx.Audit(ctx, store.AuditEntry{Actor: actorEngine, Action: p.Op, Type: row.Type, ID: row.ID, Target: name,
			Result: store.AuditFailed, Detail: "the target lost the object; re-creating it: " + cause.Error()})
	})
	if errors.Is(err, errClaimLost) {
		e.log.Info("engine: operation no longer claimed by this replica; its outcome is not recorded", "target", name, "kind", row.Type, "id", row.ID, "op", p.Op)
		return
	}
	if err != nil {
		e.log.Error("engine: recording a lost object", "target", name, "kind", row.Type, "id", row.ID, "err", err)
		return
	}
	e.metrics.delivered(name, p.Op, outcomeRetry)
	e.log.Warn("engine: the target lost the object; re-creating it", "target", name, "kind", row.Type, "id", row.ID, "op", p.Op, "err", cause)
}

// forgetTarget records, in tx, that an object is not in a target (though
// the policy may want it there), drops its pending operations, and
// journals it so that the planner plans it again.
func forgetTarget(ctx context.Context, tx store.Tx, tgt, typ, id string) error {
	_, s, found, err := recordOf(ctx, tx, tgt, typ, id)
	if err != nil {
		return err
	}
	if !found {
		return tx.Touch(ctx, typ, id)
	}
	if err := tx.DeletePending(ctx, tgt, typ, id); err != nil {
		return err
	}
	if s.Deleted { // it was on its way out anyway
		return tx.DeleteProvisioned(ctx, tgt, typ, id)
	}
	s = state{InScope: s.InScope}
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if err := tx.PutProvisioned(ctx, store.Provisioned{Target: tgt, Type: typ, ID: id, State: b}); err != nil {
		return err
	}
	return tx.Touch(ctx, typ, id)
}
