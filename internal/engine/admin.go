package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/targets"
)

// The errors of the administrative calls, besides ErrUnknownTarget.
var (
	// ErrUnknownOperation: no such operation in the target's outbox (or it
	// is not a dead letter).
	ErrUnknownOperation = errors.New("engine: no such dead letter")
)

// healthTimeout bounds one connector's Health call.
const healthTimeout = 5 * time.Second

// The health of a target.
const (
	HealthUp      = "up"
	HealthDown    = "down"
	HealthUnknown = "unknown" // the connector cannot tell
)

// TargetStatus is a target's health and queues.
type TargetStatus struct {
	Name        string
	Health      string // HealthUp, HealthDown or HealthUnknown
	HealthError string // why it is down
	// DownSince and NextProbe: while the engine holds the target's
	// operations because it is down, since when, and when it probes it
	// next (zero otherwise).
	DownSince, NextProbe time.Time
	Preview              bool
	// GuardHolding: the deletion guard holds the target's disables and
	// deletes.
	GuardHolding bool
	store.OutboxStats
}

// Operation is a queued operation: pending, held or dead.
type Operation struct {
	Seq    int64
	Target string
	Kind   string // "User", "Group"
	ID     string // the gateway's object id
	Op     string // create, update, disable, enable, delete, addMembers, removeMembers
	// Attrs are the names of the attributes it sets; the values, which may
	// be secrets, are never shown.
	Attrs     []string
	Members   []string // gateway ids of the members it adds or removes
	Attempts  int
	LastError string
	Created   time.Time
	NextAt    time.Time
	Dead      bool
	Held      bool
}

// operations describes outbox rows.
func operations(rows []store.Outbox) ([]Operation, error) {
	out := make([]Operation, 0, len(rows))
	for _, r := range rows {
		var p payload
		if err := json.Unmarshal(r.Payload, &p); err != nil {
			return nil, fmt.Errorf("engine: operation %d: %w", r.Seq, err)
		}
		out = append(out, Operation{Seq: r.Seq, Target: r.Target, Kind: r.Type, ID: r.ID, Op: p.Op,
			Attrs: slices.Sorted(maps.Keys(p.Attrs)), Members: p.Members, Attempts: r.Attempts,
			LastError: r.LastError, Created: r.Created, NextAt: r.NextAt, Dead: r.Dead, Held: r.Held})
	}
	return out, nil
}

// Targets returns the status of every target, in configuration order.
// Connectors that implement targets.HealthChecker are asked, in parallel.
func (e *Engine) Targets(ctx context.Context) ([]TargetStatus, error) {
	out := make([]TargetStatus, len(e.targets))
	e.planMu.Lock()
	for i, t := range e.targets {
		out[i] = TargetStatus{Name: t.pol.Name(), Preview: t.preview, GuardHolding: t.guard.holding, Health: HealthUnknown}
	}
	e.planMu.Unlock()
	var wg sync.WaitGroup
	for i, t := range e.targets {
		t.hmu.Lock()
		h := t.health
		t.hmu.Unlock()
		if h.down { // the engine holds its operations
			out[i].Health, out[i].HealthError, out[i].DownSince, out[i].NextProbe = HealthDown, h.reason, h.since, h.probeAt
			continue
		}
		hc, ok := t.conn.(targets.HealthChecker)
		if !ok {
			continue
		}
		wg.Go(func() {
			hctx, cancel := context.WithTimeout(ctx, healthTimeout)
			defer cancel()
			if err := hc.Health(hctx); err != nil {
				out[i].Health, out[i].HealthError = HealthDown, err.Error()
			} else {
				out[i].Health = HealthUp
			}
		})
	}
	wg.Wait()
	now := e.opts.Now()
	for i := range out {
		st, err := e.opts.Store.OutboxStats(ctx, out[i].Name, now)
		if err != nil {
			return nil, err
		}
		out[i].OutboxStats = st
	}
	return out, nil
}

// DeadLetters returns a target's dead letters, oldest first.
func (e *Engine) DeadLetters(ctx context.Context, target string, limit int) ([]Operation, error) {
	if e.target(target) == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknownTarget, target)
	}
	rows, err := e.opts.Store.Outbox(ctx, target, true, limit)
	if err != nil {
		return nil, err
	}
	return operations(rows)
}

// Retry drops a dead letter and plans its object again, from the object's
// current state in SCIM and the current policy: an operation that failed
// for a value that the mapping has since fixed is not sent again as it
// was. The object's whole state is sent (every mapped attribute, its
// enabled state, a group's members; an object the target never got is
// created), as ResyncObject does for one target. The final delete of an
// object deleted in SCIM is queued again as it was.
func (e *Engine) Retry(ctx context.Context, target string, seq int64) error {
	t := e.target(target)
	if t == nil {
		return fmt.Errorf("%w: %q", ErrUnknownTarget, target)
	}
	e.planMu.Lock()
	defer e.planMu.Unlock()
	t.mu.Lock() // the worker must not pick operations dropped here
	defer t.mu.Unlock()
	t.gen++
	err := e.deadLetter(ctx, target, seq, "retry", func(ctx context.Context, tx store.Tx, r store.Outbox, p payload) error {
		if p.Op == opDelete && p.Final {
			r.Dead, r.Attempts, r.NextAt, r.Created = false, 0, e.opts.Now(), e.opts.Now()
			return tx.UpdateOutbox(ctx, r)
		}
		if err := tx.DeleteOutbox(ctx, r.Seq); err != nil {
			return err
		}
		if err := resync(ctx, tx, target, r.Type, r.ID); err != nil {
			return err
		}
		return tx.Touch(ctx, r.Type, r.ID)
	})
	if err == nil {
		signal(t.wake)
	}
	return err
}

// DiscardDead drops a dead letter. The object is then out of step with
// SCIM in the target until it changes again or is re-synchronised.
func (e *Engine) DiscardDead(ctx context.Context, target string, seq int64) error {
	t := e.target(target)
	if t == nil {
		return fmt.Errorf("%w: %q", ErrUnknownTarget, target)
	}
	err := e.deadLetter(ctx, target, seq, "discard", func(ctx context.Context, tx store.Tx, r store.Outbox, _ payload) error {
		return tx.DeleteOutbox(ctx, r.Seq)
	})
	if err == nil {
		t.poke()
	}
	return err
}

// deadLetter applies fn to the dead letter seq of target, with its audit
// entry.
func (e *Engine) deadLetter(ctx context.Context, target string, seq int64, verb string,
	fn func(ctx context.Context, tx store.Tx, r store.Outbox, p payload) error) error {
	return e.opts.Store.Write(ctx, func(ctx context.Context, tx store.Tx) error {
		r, err := tx.GetOutbox(ctx, seq)
		if errors.Is(err, store.ErrNotFound) || err == nil && (!r.Dead || r.Target != target) {
			return fmt.Errorf("%w: %d in target %q", ErrUnknownOperation, seq, target)
		}
		if err != nil {
			return err
		}
		var p payload
		if err := json.Unmarshal(r.Payload, &p); err != nil {
			return fmt.Errorf("engine: dead letter %d: %w", seq, err)
		}
		if err := fn(ctx, tx, r, p); err != nil {
			return err
		}
		return tx.Audit(ctx, store.AuditEntry{Actor: store.ActorOf(ctx), Action: verb + " dead letter", Type: r.Type, ID: r.ID,
			Target: target, Result: store.AuditOK, Detail: fmt.Sprintf("operation %d (%s)", seq, p.Op)})
	})
}

// ObjectState is an object's provisioning state in one target.
type ObjectState struct {
	Target string
	Anchor string // "" when not (yet) created there
	// Present: in the target or its create queued; InScope: the policy
	// wants it there; Disabled: disabled (or queued to be); Deleted:
	// deleted in SCIM, its delete queued.
	Present, InScope, Disabled, Deleted bool
	Pending, Dead                       []Operation
	LastError                           string // the newest error of its operations
	// MissingMembers are the members of a group that the target should
	// have but does not yet: their creates are queued, being retried, or
	// failed (dead letters of their own); each is added once created.
	MissingMembers []string
}

// RecordState reads the engine's record of an object in a target: its
// Target, Anchor, Present, InScope, Disabled and Deleted (no
// operations). An access review reads which users a target holds, and
// whether they are still in its scope, from these.
func RecordState(pr store.Provisioned) (ObjectState, error) {
	s, err := stateOf(pr)
	if err != nil {
		return ObjectState{}, err
	}
	return ObjectState{Target: pr.Target, Anchor: pr.Anchor, Present: s.Present, InScope: s.InScope, Disabled: s.Disabled, Deleted: s.Deleted}, nil
}

// Object returns the state of an object in every target that receives
// its kind.
func (e *Engine) Object(ctx context.Context, kind targets.Kind, id string) ([]ObjectState, error) {
	var out []ObjectState
	for _, t := range e.targets {
		if kind == targets.User && !t.pol.ReceivesUsers() || kind == targets.Group && !t.pol.ReceivesGroups() {
			continue
		}
		name := t.pol.Name()
		os := ObjectState{Target: name, Pending: []Operation{}, Dead: []Operation{}}
		pr, err := e.opts.Store.Provisioned(ctx, name, string(kind), id)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return nil, err
		default:
			s, err := stateOf(pr)
			if err != nil {
				return nil, err
			}
			os.Anchor, os.Present, os.InScope, os.Disabled, os.Deleted = pr.Anchor, s.Present, s.InScope, s.Disabled, s.Deleted
			if kind == targets.Group && s.live() {
				if os.MissingMembers, err = e.missingMembers(ctx, name, id); err != nil {
					return nil, err
				}
			}
		}
		rows, err := e.opts.Store.ObjectOutbox(ctx, name, string(kind), id)
		if err != nil {
			return nil, err
		}
		ops, err := operations(rows)
		if err != nil {
			return nil, err
		}
		for _, o := range ops {
			if o.Dead {
				os.Dead = append(os.Dead, o)
			} else {
				os.Pending = append(os.Pending, o)
			}
			if o.LastError != "" {
				os.LastError = o.LastError
			}
		}
		out = append(out, os)
	}
	return out, nil
}

// missingMembers returns the members of group id in SCIM that the target
// should have (users in its scope) but does not: not created there yet.
func (e *Engine) missingMembers(ctx context.Context, tgt, id string) ([]string, error) {
	members, err := groupMembers(ctx, e.opts.Store, id)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range members {
		pr, err := e.opts.Store.Provisioned(ctx, tgt, string(targets.User), m)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		s, err := stateOf(pr)
		if err != nil {
			return nil, err
		}
		if s.InScope && !s.Deleted && pr.Anchor == "" {
			out = append(out, m)
		}
	}
	return out, nil
}

// ResyncObject has the planner send an object's whole state again to a
// target ("" every target): every mapped attribute, the enabled state and
// a group's members; an object the target never got, or lost, is created.
// It returns the number of targets it affects.
func (e *Engine) ResyncObject(ctx context.Context, tgt string, kind targets.Kind, id string) (int, error) {
	var ts []*target
	for _, t := range e.targets {
		if tgt == "" || t.pol.Name() == tgt {
			ts = append(ts, t)
		}
	}
	if len(ts) == 0 {
		return 0, fmt.Errorf("%w: %q", ErrUnknownTarget, tgt)
	}
	e.planMu.Lock()
	defer e.planMu.Unlock()
	for _, t := range ts { // the workers must not pick operations dropped here
		t.mu.Lock()
		defer t.mu.Unlock()
		t.gen++
	}
	err := e.opts.Store.Write(ctx, func(ctx context.Context, tx store.Tx) error {
		for _, t := range ts {
			if err := resync(ctx, tx, t.pol.Name(), string(kind), id); err != nil {
				return err
			}
		}
		if err := tx.Touch(ctx, string(kind), id); err != nil {
			return err
		}
		return tx.Audit(ctx, store.AuditEntry{Actor: store.ActorOf(ctx), Action: "resync", Type: string(kind), ID: id,
			Target: tgt, Result: store.AuditOK})
	})
	if err != nil {
		return 0, err
	}
	return len(ts), nil
}

// ResyncTarget re-synchronises every object with a target: each one the
// target has or should have gets its whole state sent again (see
// ResyncObject). It returns the number of objects re-planned.
func (e *Engine) ResyncTarget(ctx context.Context, target string) (int, error) {
	t := e.target(target)
	if t == nil {
		return 0, fmt.Errorf("%w: %q", ErrUnknownTarget, target)
	}
	e.planMu.Lock()
	defer e.planMu.Unlock()
	t.mu.Lock() // the worker must not pick operations dropped here
	defer t.mu.Unlock()
	t.gen++
	recs, err := e.opts.Store.ProvisionedOf(ctx, target)
	if err != nil {
		return 0, err
	}
	var count int
	err = e.opts.Store.Write(ctx, func(ctx context.Context, tx store.Tx) error {
		touched := map[[2]string]bool{}
		for _, r := range recs {
			if err := resync(ctx, tx, target, r.Type, r.ID); err != nil {
				return err
			}
			touched[[2]string{r.Type, r.ID}] = true
		}
		for k := range touched {
			if err := tx.Touch(ctx, k[0], k[1]); err != nil {
				return err
			}
		}
		// Every object in the store: those the target never got are
		// evaluated too.
		n, err := touchAll(ctx, tx, touched)
		if err != nil {
			return err
		}
		count = n
		return tx.Audit(ctx, store.AuditEntry{Actor: store.ActorOf(ctx), Action: "resync", Target: target,
			Result: store.AuditOK, Detail: fmt.Sprintf("%d objects", count)})
	})
	if err != nil {
		return 0, err
	}
	return count, nil
}

// touchAll journals, in tx, every user and group of the store that is not
// in done, so that the planner plans them, adds them to done, and returns
// the number of objects in done.
func touchAll(ctx context.Context, tx store.Tx, done map[[2]string]bool) (int, error) {
	for _, kind := range []targets.Kind{targets.User, targets.Group} {
		ids, err := tx.Find(ctx, string(kind), store.Const(true))
		if err != nil {
			return 0, err
		}
		for _, id := range ids {
			k := [2]string{string(kind), id}
			if done[k] {
				continue
			}
			if err := tx.Touch(ctx, k[0], k[1]); err != nil {
				return 0, err
			}
			done[k] = true
		}
	}
	return len(done), nil
}

// resync marks, in tx, an object's state in a target so that its next plan
// sends everything. An object without an anchor is forgotten, its pending
// operations dropped, so that the planner creates it (a create in flight
// meanwhile is adopted by the next one: see Engine.call).
func resync(ctx context.Context, tx store.Tx, tgt, typ, id string) error {
	pr, s, found, err := recordOf(ctx, tx, tgt, typ, id)
	if err != nil {
		return err
	}
	if !found {
		return nil
	}
	if s.Deleted || !s.Present {
		return nil
	}
	if pr.Anchor == "" { // never created (a dead or queued create): start again
		return forgetTarget(ctx, tx, tgt, typ, id)
	}
	s.Attrs, s.Members, s.Resync = nil, nil, true
	if pr.State, err = json.Marshal(s); err != nil {
		return err
	}
	if typ == string(targets.Group) {
		if err := tx.RemoveProvisionedMembers(ctx, tgt, id, nil); err != nil {
			return err
		}
	}
	return tx.PutProvisioned(ctx, pr)
}
