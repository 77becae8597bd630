package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/policy"
	"github.com/scimgate/scimgate/targets"
)

// Reconciliation. A reconciliation of a target reads every account the
// target holds through its connector's List (users, then groups when the
// target receives them; page by page, never the whole list in memory) and
// compares each with what the policy says it should be now:
//
//   - an account whose anchor is recorded for an identity is linked to it;
//     otherwise the identity in scope whose object id it records, else the
//     one it matches by the target's matching attributes (the values the
//     mapping gives the identities in the target's scope, read into memory
//     before listing: O(identities), the accounts are streamed), is its
//     own, never linked (unlinked), and it is adopted;
//   - a linked account of an identity in scope whose managed attributes,
//     enabled state or (a group) members differ is drift, and is updated;
//   - a linked account of an identity deleted or out of the target's
//     scope that is present or enabled where the lifecycle says it is
//     disabled or deleted is outOfScope, and is deprovisioned as the
//     lifecycle says;
//   - an account of no identity is an orphan: reported, disabled or deleted
//     as the target's orphans setting says;
//   - an identity in scope that no account was seen for is missing, and is
//     created;
//   - an account that matches an identity linked to another account that
//     still exists, or another identity than the one it records, or
//     several identities, or (adopt: false) one never linked, is a
//     conflict that waits for a person, as adoption's conflicts do.
//
// Reconciliation never writes to the target: every change goes through the
// outbox. For an identity it records, in the planner's place, the state the
// target actually holds (the account's managed attributes, its enabled
// state, a group's members, its anchor; a missing object is forgotten) and
// journals the object, so that the planner queues exactly the difference,
// coalesced, retried, audited and counted by the deletion guard as always.
// For an orphan it records the account under a synthetic object id,
// OrphanPrefix and the anchor, marked deleted (so the planner never plans
// it), and queues its disable or final delete as the planner queues them.
//
// Objects that have operations queued (due, held or attempted) are left
// alone and counted as skipped: the engine is converging them already;
// objects with dead letters are reported but not changed (the dead letters
// wait for a person), except that the adoption of an unlinked account
// drops the dead create it supersedes; a leaver re-enabled during its
// grace period is disabled again before its scheduled delete, which keeps
// its time. Each page is classified and recorded serialised with
// the planner. A dry run classifies the same way and writes nothing but its
// report.

// ErrReconcileRunning: a reconciliation of the target is running; a second
// one is not started.
var ErrReconcileRunning = errors.New("engine: a reconciliation of the target is running")

// ErrUnknownReconciliation: no such reconciliation report.
var ErrUnknownReconciliation = errors.New("engine: no such reconciliation")

// ErrNotStarted: the engine is not running (StartReconcile needs Start).
var ErrNotStarted = errors.New("engine: not started")

// The outcomes of a reconciliation: those with items in a report, then
// the counts of the accounts and identities that needed nothing (ok) or
// were left to the engine (skipped).
const (
	OutcomeMissing    = "missing"
	OutcomeDrift      = "drift"
	OutcomeUnlinked   = "unlinked"
	OutcomeOrphan     = "orphan"
	OutcomeOutOfScope = "outOfScope"
	OutcomeConflict   = "conflict"
	OutcomeOK         = "ok"
	OutcomeSkipped    = "skipped"
)

// Outcomes lists the outcomes in report order.
var Outcomes = []string{OutcomeMissing, OutcomeDrift, OutcomeUnlinked, OutcomeOutOfScope, OutcomeOrphan, OutcomeConflict,
	OutcomeOK, OutcomeSkipped}

// The actions of report items: what the run queued (a dry run: would
// queue) for the item.
const (
	ActionCreate  = "create"
	ActionUpdate  = "update"
	ActionAdopt   = "adopt"
	ActionDisable = "disable"
	ActionDelete  = "delete"
	ActionReport  = "report" // listed only (orphans: report, a conflict)
	ActionNone    = "none"   // nothing, for the reason in Detail
)

// The statuses of a reconciliation.
const (
	StatusRunning = "running"
	StatusDone    = "done"
	StatusFailed  = "failed"
)

// OrphanPrefix starts the object id under which the engine records an
// orphan account it disables or deletes ("orphan:" + anchor, or
// "orphan:sha256:" + the anchor's digest for a long anchor).
const OrphanPrefix = "orphan:"

const (
	// reconcilePage is the number of accounts read, classified and
	// recorded at a time.
	reconcilePage = 500
	// reportItemsMax bounds the items a report keeps per outcome (its
	// counts are exact).
	reportItemsMax = 1000
	// reportsKept is the number of reports kept per target.
	reportsKept = 100
	// scheduledMargin: a scheduled operation due sooner than this is taken
	// for due (the object is left alone).
	scheduledMargin = time.Minute
)

// Report is the report of one reconciliation (its JSON is the admin API's
// Reconciliation, docs/admin-api.md).
type Report struct {
	ID     string `json:"id"`
	Target string `json:"target"`
	DryRun bool   `json:"dryRun"`
	// Actor started the run: an admin credential, or "engine: schedule".
	Actor    string    `json:"actor"`
	Status   string    `json:"status"`
	Error    string    `json:"error,omitempty"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished,omitzero"`
	Seconds  float64   `json:"durationSeconds"`
	// Read is the number of accounts read; Matched, those linked or matched
	// to an identity; Expected, the accounts the run expects to read (the
	// previous run's, or the identities in scope): an estimate for the
	// progress.
	Read     int `json:"read"`
	Matched  int `json:"matched"`
	Expected int `json:"expected"`
	// Identities is the number of identities in the target's scope.
	Identities int `json:"identities"`
	// Changes is the number of items whose action queues operations (a
	// dry run: would queue them).
	Changes int `json:"changes"`
	// Counts are per outcome; Items the first reportItemsMax items of
	// each outcome that has items.
	Counts map[string]int `json:"counts"`
	Items  []ReportItem   `json:"items,omitempty"`
}

// ReportItem is one account or identity of a report.
type ReportItem struct {
	Outcome string `json:"outcome"`
	Type    string `json:"type"`             // User or Group
	Anchor  string `json:"anchor,omitempty"` // the account's; none for missing
	ID      string `json:"id,omitempty"`     // the identity's; none for orphans
	// Name is the identity's userName or displayName, or an orphan's
	// value of the first matching attribute, else of the first mapped one.
	Name   string `json:"name,omitempty"`
	Diffs  []Diff `json:"diffs,omitempty"`
	Action string `json:"action"`
	Detail string `json:"detail,omitempty"`
}

// Diff is one difference between an account and what the policy says: an
// attribute (Old is the account's value, New the policy's; null: none),
// "disabled", or "members" (Add and Remove: the names of the members the
// account lacks or has too many).
type Diff struct {
	Attr   string   `json:"attr"`
	Old    any      `json:"old"`
	New    any      `json:"new"`
	Add    []string `json:"add,omitempty"`
	Remove []string `json:"remove,omitempty"`
}

// Progress is what a running reconciliation has done so far.
type Progress struct {
	ID       string
	Target   string
	Read     int
	Matched  int
	Expected int
	Started  time.Time
	Elapsed  time.Duration
}

// recState is a target's reconciliation state, guarded by Engine.recMu.
type recState struct {
	running *Report   // the run in progress, nil when none
	next    time.Time // when the next scheduled run falls due (zero: none)
}

// reconcileReq asks a target's reconciler goroutine to run rep.
type reconcileReq struct{ rep *Report }

// Reconcile reconciles a target now (see above) and returns its report,
// which it also keeps. dryRun classifies without changing anything.
// progress, when set, is called when the run starts (its ID known) and
// after each page. ErrReconcileRunning when one runs already.
func (e *Engine) Reconcile(ctx context.Context, target string, dryRun bool, progress func(Progress)) (Report, error) {
	t := e.target(target)
	if t == nil {
		return Report{}, fmt.Errorf("%w: %q", ErrUnknownTarget, target)
	}
	rep, err := e.reserve(t, dryRun, store.ActorOf(ctx))
	if err != nil {
		return Report{}, err
	}
	return e.runReconcile(ctx, t, rep, progress)
}

// StartReconcile starts a reconciliation of target in the background (the
// engine must be started) and returns its id; its report is read with
// Reconciliation while it runs and after.
func (e *Engine) StartReconcile(ctx context.Context, target string, dryRun bool) (string, error) {
	t := e.target(target)
	if t == nil {
		return "", fmt.Errorf("%w: %q", ErrUnknownTarget, target)
	}
	if !e.started.Load() {
		return "", ErrNotStarted
	}
	rep, err := e.reserve(t, dryRun, store.ActorOf(ctx))
	if err != nil {
		return "", err
	}
	t.reqs <- reconcileReq{rep: rep} // never blocks: one reservation at a time
	return rep.ID, nil
}

// reserve marks a run of t as running, refusing a second one.
func (e *Engine) reserve(t *target, dryRun bool, actor string) (*Report, error) {
	e.recMu.Lock()
	defer e.recMu.Unlock()
	if r := t.rec.running; r != nil {
		return nil, fmt.Errorf("%w: %q (%s, started %s)", ErrReconcileRunning, t.pol.Name(), r.ID, r.Started.UTC().Format(time.RFC3339))
	}
	rep := &Report{ID: uuid.NewString(), Target: t.pol.Name(), DryRun: dryRun, Actor: actor, Status: StatusRunning,
		Started: e.opts.Now(), Counts: map[string]int{}}
	t.rec.running = rep
	return rep, nil
}

// reconciler is a target's goroutine of reconciliations: those asked by
// StartReconcile and the scheduled ones, one at a time.
func (e *Engine) reconciler(ctx context.Context, t *target) {
	tick := time.NewTicker(e.opts.Poll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case req := <-t.reqs:
			if _, err := e.runReconcile(ctx, t, req.rep, nil); err != nil && ctx.Err() == nil {
				e.log.Error("engine: reconciliation failed", "target", t.pol.Name(), "id", req.rep.ID, "err", err)
			}
		case <-tick.C:
			if _, _, err := e.reconcileIfDue(ctx, t); err != nil && ctx.Err() == nil {
				e.log.Error("engine: scheduled reconciliation failed", "target", t.pol.Name(), "err", err)
			}
		}
	}
}

// ReconcileDue runs, one after the other, the scheduled reconciliations
// that are due at Options.Now and not running, as the reconciler
// goroutines do, and returns their reports (tests drive the schedule with
// it on a fake clock).
func (e *Engine) ReconcileDue(ctx context.Context) ([]Report, error) {
	if err := e.prepare(ctx); err != nil {
		return nil, err
	}
	var out []Report
	for _, t := range e.targets {
		rep, ran, err := e.reconcileIfDue(ctx, t)
		if err != nil {
			return out, err
		}
		if ran {
			out = append(out, rep)
		}
	}
	return out, nil
}

// reconcileIfDue runs t's scheduled reconciliation when it is due.
func (e *Engine) reconcileIfDue(ctx context.Context, t *target) (Report, bool, error) {
	e.recMu.Lock()
	next := t.rec.next
	e.recMu.Unlock()
	if next.IsZero() || e.opts.Now().Before(next) {
		return Report{}, false, nil
	}
	rep, err := e.reserve(t, false, actorSchedule)
	if errors.Is(err, ErrReconcileRunning) {
		return Report{}, false, nil // an administrator's run counts as this one
	}
	if err != nil {
		return Report{}, false, err
	}
	e.log.Info("engine: scheduled reconciliation", "target", t.pol.Name(), "id", rep.ID)
	r, err := e.runReconcile(ctx, t, rep, nil)
	return r, true, err
}

// actorSchedule is the actor of scheduled reconciliations.
const actorSchedule = "engine: schedule"

// loadSchedules sets when each target's next scheduled reconciliation is
// due: a schedule after its last run that was not a dry run, else a
// schedule after now.
func (e *Engine) loadSchedules(ctx context.Context) error {
	now := e.opts.Now()
	for _, t := range e.targets {
		every := t.pol.ReconcileSchedule()
		if every <= 0 {
			continue
		}
		last, err := e.opts.Store.Reconciliations(ctx, store.ReconciliationQuery{Target: t.pol.Name(), NoDryRuns: true, Limit: 1})
		if err != nil {
			return err
		}
		next := now.Add(every)
		if len(last) > 0 {
			next = last[0].Started.Add(every)
		}
		e.recMu.Lock()
		t.rec.next = next
		e.recMu.Unlock()
	}
	return nil
}

// runReconcile runs the reserved reconciliation rep of t, keeps its report
// and releases the reservation.
func (e *Engine) runReconcile(ctx context.Context, t *target, rep *Report, progress func(Progress)) (Report, error) {
	name := t.pol.Name()
	r := &reconcile{e: e, t: t, rep: rep, dry: rep.DryRun, progress: progress, names: map[string]string{}}
	r.report()
	err := e.prepare(ctx)
	if err == nil {
		err = r.run(ctx)
	}
	// The report stays running, for the admin API, until it is kept and
	// the reservation released.
	now := e.opts.Now()
	e.recMu.Lock()
	out := r.snapshot()
	e.recMu.Unlock()
	out.Finished = now
	out.Seconds = now.Sub(out.Started).Seconds()
	out.Status = StatusDone
	if err != nil {
		out.Status, out.Error = StatusFailed, err.Error()
		if ctx.Err() != nil {
			out.Error = "interrupted (the gateway is shutting down): " + out.Error
		}
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	if werr := e.keep(wctx, out); werr != nil {
		e.log.Error("engine: keeping a reconciliation report", "target", name, "id", out.ID, "err", werr)
		err = errors.Join(err, werr)
	}
	e.recMu.Lock()
	t.rec.running = nil
	if every := t.pol.ReconcileSchedule(); every > 0 && !out.DryRun {
		t.rec.next = out.Started.Add(every)
	}
	e.recMu.Unlock()
	if !out.DryRun {
		e.metrics.reconciled(out)
	}
	e.log.Info("engine: reconciliation finished", "target", name, "id", out.ID, "dry_run", out.DryRun, "status", out.Status,
		"read", out.Read, "changes", out.Changes, "seconds", out.Seconds)
	return out, err
}

// keep stores a finished report, with an audit entry for a run that was
// not a dry run.
func (e *Engine) keep(ctx context.Context, rep Report) error {
	items, err := json.Marshal(rep.Items)
	if err != nil {
		return err
	}
	sum := rep
	sum.Items = nil
	summary, err := json.Marshal(sum)
	if err != nil {
		return err
	}
	return e.opts.Store.Write(ctx, func(ctx context.Context, tx store.Tx) error {
		if err := tx.AddReconciliation(ctx, store.Reconciliation{ID: rep.ID, Target: rep.Target, DryRun: rep.DryRun,
			Started: rep.Started, Summary: summary, Items: items}, reportsKept); err != nil {
			return err
		}
		if rep.DryRun {
			return nil
		}
		result, detail := store.AuditOK, rep.summary()
		if rep.Status == StatusFailed {
			result, detail = store.AuditFailed, rep.Error+"; "+detail
		}
		return tx.Audit(ctx, store.AuditEntry{Actor: rep.Actor, Action: "reconcile", Target: rep.Target, Result: result,
			Detail: fmt.Sprintf("%s: %s", rep.ID, detail)})
	})
}

// summary is one line of a report's counts.
func (rep Report) summary() string {
	parts := []string{fmt.Sprintf("%d read", rep.Read), fmt.Sprintf("%d changes", rep.Changes)}
	for _, o := range Outcomes {
		if n := rep.Counts[o]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", o, n))
		}
	}
	return strings.Join(parts, ", ")
}

// Reconciliations returns target's reports, newest first, without their
// items: the running one first, then at most limit kept ones.
func (e *Engine) Reconciliations(ctx context.Context, target string, limit int) ([]Report, error) {
	t := e.target(target)
	if t == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknownTarget, target)
	}
	var out []Report
	e.recMu.Lock()
	if r := t.rec.running; r != nil {
		cp := *r
		cp.Items, cp.Counts = nil, maps.Clone(r.Counts)
		out = append(out, cp)
	}
	e.recMu.Unlock()
	rows, err := e.opts.Store.Reconciliations(ctx, store.ReconciliationQuery{Target: target, Limit: limit})
	if err != nil {
		return nil, err
	}
	for _, row := range rows {
		if len(out) > 0 && out[0].ID == row.ID { // kept as it finishes
			continue
		}
		var rep Report
		if err := json.Unmarshal(row.Summary, &rep); err != nil {
			return nil, fmt.Errorf("engine: reconciliation %s: %w", row.ID, err)
		}
		out = append(out, rep)
	}
	return out, nil
}

// Reconciliation returns one report of target with its items: the running
// one (as far as it got) or a kept one.
func (e *Engine) Reconciliation(ctx context.Context, target, id string) (Report, error) {
	t := e.target(target)
	if t == nil {
		return Report{}, fmt.Errorf("%w: %q", ErrUnknownTarget, target)
	}
	e.recMu.Lock()
	if r := t.rec.running; r != nil && r.ID == id {
		cp := *r
		cp.Items, cp.Counts = slices.Clone(r.Items), maps.Clone(r.Counts)
		e.recMu.Unlock()
		return cp, nil
	}
	e.recMu.Unlock()
	rows, err := e.opts.Store.Reconciliations(ctx, store.ReconciliationQuery{Target: target, ID: id, Limit: 1})
	if err != nil {
		return Report{}, err
	}
	if len(rows) == 0 {
		return Report{}, fmt.Errorf("%w: %q in target %q", ErrUnknownReconciliation, id, target)
	}
	var rep Report
	if err := json.Unmarshal(rows[0].Summary, &rep); err != nil {
		return Report{}, fmt.Errorf("engine: reconciliation %s: %w", id, err)
	}
	if err := json.Unmarshal(rows[0].Items, &rep.Items); err != nil {
		return Report{}, fmt.Errorf("engine: reconciliation %s: %w", id, err)
	}
	return rep, nil
}

// reconcile is one run.
type reconcile struct {
	e        *Engine
	t        *target
	rep      *Report // guarded by Engine.recMu (read by the admin API)
	dry      bool
	progress func(Progress)
	// kind is the kind being reconciled, with its index: the identities in
	// scope not seen yet (wanted), and per matching attribute the
	// identities by folded mapped value.
	kind     targets.Kind
	wanted   map[string]bool
	match    []map[string][]string
	memberOf map[string][]policy.GroupRef // users: their groups
	// claimed are the identities an account was matched to in this run: a
	// second account matching one is a conflict (one linked to its account
	// has the anchor in its record).
	claimed map[string]string // identity id → anchor
	names   map[string]string // user id → userName, for member diffs
	now     time.Time
	// holds are the holds that concern the target (see holds.go), by user;
	// memberHolds those of its groups, by group and user.
	holds map[string][]store.Hold
	// seen are the user accounts of the page linked to a user, for
	// Options.OnAccounts.
	seen        []Account
	memberHolds map[string]map[string][]store.Hold
}

// run reconciles users, then groups.
func (r *reconcile) run(ctx context.Context) error {
	t := r.t
	var kinds []targets.Kind
	if t.pol.ReceivesUsers() {
		kinds = append(kinds, targets.User)
	}
	if t.pol.ReceivesGroups() && t.conn.Capabilities().Groups {
		kinds = append(kinds, targets.Group)
	}
	prev, err := r.e.opts.Store.Reconciliations(ctx, store.ReconciliationQuery{Target: t.pol.Name(), Limit: 1})
	if err != nil {
		return err
	}
	if err := r.loadHolds(ctx); err != nil {
		return err
	}
	prevRead := 0
	if len(prev) > 0 {
		var p Report
		if json.Unmarshal(prev[0].Summary, &p) == nil {
			prevRead = p.Read
		}
	}
	for _, kind := range kinds {
		if err := r.index(ctx, kind); err != nil {
			return err
		}
		r.e.recMu.Lock()
		r.rep.Identities += len(r.wanted)
		r.rep.Expected = max(prevRead, r.rep.Identities)
		r.e.recMu.Unlock()
		r.report()
		if err := r.list(ctx); err != nil {
			return err
		}
		if err := r.missing(ctx); err != nil {
			return err
		}
	}
	return nil
}

// report calls progress.
func (r *reconcile) report() {
	if r.progress == nil {
		return
	}
	r.e.recMu.Lock()
	p := Progress{ID: r.rep.ID, Target: r.rep.Target, Read: r.rep.Read, Matched: r.rep.Matched, Expected: r.rep.Expected,
		Started: r.rep.Started, Elapsed: r.e.opts.Now().Sub(r.rep.Started)}
	r.e.recMu.Unlock()
	r.progress(p)
}

// snapshot copies the report; the caller holds recMu.
func (r *reconcile) snapshot() Report {
	cp := *r.rep
	cp.Items, cp.Counts = slices.Clone(r.rep.Items), maps.Clone(r.rep.Counts)
	return cp
}

// inScope reports whether the policy wants the object in the target, as
// the planner decides it.
func (r *reconcile) inScope(res map[string]any, d policy.Decision) bool {
	if r.kind == targets.User {
		return d.InScope && (res["active"] != false || canDisable(r.t))
	}
	return d.InScope
}

// evaluate decides the target for an identity (res as load returns it).
func (r *reconcile) evaluate(id string, res map[string]any) policy.Decision {
	if r.kind == targets.User {
		d := r.t.pol.EvaluateUser(res, r.memberOf[id])
		if accountHold(r.holds[id], r.t.pol.Name(), true) == store.HoldDelete {
			d.InScope = false
		}
		return d
	}
	return r.t.pol.EvaluateGroup(res)
}

// Account is a user's account in a target, as a reconciliation read it
// (Options.OnAccounts).
type Account struct {
	ID    string         // the user's id
	Attrs map[string]any // the account's attributes, as the connector returned them
}

// loadHolds reads the holds that concern the target.
func (r *reconcile) loadHolds(ctx context.Context) error {
	hs, err := r.e.opts.Store.Holds(ctx, store.HoldQuery{})
	if err != nil {
		return err
	}
	r.holds, r.memberHolds = map[string][]store.Hold{}, map[string]map[string][]store.Hold{}
	name := r.t.pol.Name()
	for _, h := range hs {
		switch {
		case h.Group == "" && (h.Target == "" || h.Target == name):
			r.holds[h.User] = append(r.holds[h.User], h)
		case h.Group != "" && h.Target == name:
			if r.memberHolds[h.Group] == nil {
				r.memberHolds[h.Group] = map[string][]store.Hold{}
			}
			r.memberHolds[h.Group][h.User] = append(r.memberHolds[h.Group][h.User], h)
		}
	}
	return nil
}

// load returns the identity id of r.kind as the planner sees it: a user
// with its account holds applied to its active attribute; nil when it
// was deleted.
func (r *reconcile) load(ctx context.Context, id string) (map[string]any, error) {
	res, err := (&planner{e: r.e}).load(ctx, r.kind, id)
	if err != nil || res == nil || r.kind != targets.User {
		return res, err
	}
	active := res["active"] != false
	switch accountHold(r.holds[id], r.t.pol.Name(), active) {
	case store.HoldDisable:
		res = withActive(res, false)
	case store.HoldEnable:
		res = withActive(res, true)
	}
	return res, nil
}

// index reads every identity of kind, evaluates the policy for it, and
// keeps those in scope with their matching values.
func (r *reconcile) index(ctx context.Context, kind targets.Kind) error {
	st := r.e.opts.Store
	p := &planner{e: r.e}
	r.kind, r.wanted, r.claimed = kind, map[string]bool{}, map[string]string{}
	r.memberOf = nil
	if kind == targets.User {
		r.memberOf = map[string][]policy.GroupRef{}
		gids, err := st.Find(ctx, string(targets.Group), store.Const(true))
		if err != nil {
			return err
		}
		for _, gid := range gids {
			g, err := p.loadBare(ctx, targets.Group, gid)
			if err != nil || g == nil {
				if err != nil {
					return err
				}
				continue
			}
			name, _ := g["displayName"].(string)
			members, err := groupMembers(ctx, st, gid)
			if err != nil {
				return err
			}
			for _, m := range members {
				r.memberOf[m] = append(r.memberOf[m], policy.GroupRef{ID: gid, DisplayName: name})
			}
		}
	}
	attrs := r.t.pol.Matching(kind == targets.Group)
	r.match = make([]map[string][]string, len(attrs))
	for i := range r.match {
		r.match[i] = map[string][]string{}
	}
	ids, err := st.Find(ctx, string(kind), store.Const(true))
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return err
		}
		res, err := r.load(ctx, id)
		if err != nil {
			return err
		}
		if res == nil {
			continue
		}
		d := r.evaluate(id, res)
		if d.Err != nil || !r.inScope(res, d) {
			continue
		}
		r.wanted[id] = true
		for i, a := range attrs {
			for _, k := range matchKeys(d.Attributes[a]) {
				r.match[i][k] = append(r.match[i][k], id)
			}
		}
	}
	return nil
}

// matchKeys returns the keys under which a mapped value matches: a string
// case-folded, each string of a list; other scalars as JSON. Secrets and
// empty values match nothing.
func matchKeys(v any) []string {
	switch x := v.(type) {
	case nil, policy.Secret:
		return nil
	case string:
		if x == "" {
			return nil
		}
		return []string{strings.ToLower(x)}
	case []string:
		var out []string
		for _, s := range x {
			out = append(out, matchKeys(s)...)
		}
		return out
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, matchKeys(e)...)
		}
		return out
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return []string{string(b)}
}

// list pages through the target's accounts of r.kind.
func (r *reconcile) list(ctx context.Context) error {
	cursor := ""
	for {
		page, err := r.t.conn.List(ctx, r.kind, cursor, reconcilePage)
		if err != nil {
			return fmt.Errorf("listing the %ss of %s: %w", strings.ToLower(string(r.kind)), r.t.pol.Name(), err)
		}
		if err := r.batch(ctx, func(ctx context.Context, b *batch) error {
			for _, o := range page.Objects {
				if err := r.account(ctx, b, o); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return err
		}
		if len(r.seen) > 0 {
			if err := r.e.opts.OnAccounts(ctx, r.t.pol.Name(), r.seen); err != nil {
				r.e.log.Warn("engine: reconciliation: the accounts' observer failed", "target", r.t.pol.Name(), "err", err)
			}
			r.seen = r.seen[:0]
		}
		r.e.recMu.Lock()
		r.rep.Read += len(page.Objects)
		r.e.recMu.Unlock()
		r.report()
		if page.Next == "" {
			return nil
		}
		cursor = page.Next
	}
}

// missing classifies the identities in scope that no account was seen for.
func (r *reconcile) missing(ctx context.Context) error {
	ids := slices.Sorted(maps.Keys(r.wanted))
	for len(ids) > 0 {
		n := min(len(ids), reconcilePage)
		chunk := ids[:n]
		ids = ids[n:]
		if err := r.batch(ctx, func(ctx context.Context, b *batch) error {
			for _, id := range chunk {
				if err := r.absent(ctx, b, id); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return err
		}
	}
	return nil
}

// batch is what one page of a run records: the changes to write, and the
// operations queued through a planner.
type batch struct {
	p       *planner
	changes []change
}

// change is the recording of one object.
type change struct {
	id string
	// rec, when set, is the record to put in the planner's place.
	rec *store.Provisioned
	// forget: the object is not in the target (forgetTarget).
	forget bool
	// touch journals the object for the planner; groups are journalled
	// too.
	touch  bool
	groups []string
	// members, with setMembers, replace the record of a group's members.
	members    []string
	setMembers bool
	// requeue are the object's scheduled operations, queued again after
	// the operations b.p queues for it (a disable before a leaver's
	// scheduled delete).
	requeue []store.Outbox
	// drop are dead letters the change supersedes.
	drop []store.Outbox
}

// batch classifies one page with fn and records it, serialised with the
// planner (a dry run records nothing and takes no lock).
func (r *reconcile) batch(ctx context.Context, fn func(ctx context.Context, b *batch) error) error {
	e, t := r.e, r.t
	b := &batch{p: e.newPlanner()}
	r.now = b.p.now
	if r.dry {
		return fn(ctx, b)
	}
	e.planMu.Lock()
	defer e.planMu.Unlock()
	if err := fn(ctx, b); err != nil {
		return err
	}
	if len(b.changes) == 0 && len(b.p.ops) == 0 {
		return nil
	}
	t.mu.Lock() // no coalescing into a delivery that starts now
	defer t.mu.Unlock()
	name := t.pol.Name()
	err := e.opts.Store.Write(ctx, func(ctx context.Context, tx store.Tx) error {
		for _, c := range b.changes {
			switch {
			case c.forget:
				if err := forgetTarget(ctx, tx, name, string(r.kind), c.id); err != nil {
					return err
				}
			case c.rec != nil:
				if err := tx.PutProvisioned(ctx, *c.rec); err != nil {
					return err
				}
			}
			if c.setMembers {
				if err := tx.RemoveProvisionedMembers(ctx, name, c.id, nil); err != nil {
					return err
				}
				if err := tx.AddProvisionedMembers(ctx, name, c.id, c.members); err != nil {
					return err
				}
			}
			for _, o := range c.requeue {
				if err := tx.DeleteOutbox(ctx, o.Seq); err != nil {
					return err
				}
			}
			for _, o := range c.drop { // an administrator may have discarded it
				if err := tx.DeleteOutbox(ctx, o.Seq); err != nil && !errors.Is(err, store.ErrNotFound) {
					return err
				}
			}
			if c.touch {
				if err := tx.Touch(ctx, string(r.kind), c.id); err != nil {
					return err
				}
			}
			for _, g := range c.groups {
				if err := tx.Touch(ctx, string(targets.Group), g); err != nil {
					return err
				}
			}
		}
		if err := b.p.queueOps(ctx, tx); err != nil {
			return err
		}
		for _, c := range b.changes {
			for _, o := range c.requeue {
				if _, err := tx.Enqueue(ctx, o); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, c := range b.changes {
		if len(c.requeue) > 0 {
			t.gen++ // operations the worker may hold in its batch moved
			break
		}
	}
	e.saved(b.p)
	signal(t.wake)
	return nil
}

// item adds an item to the report, counting it among the changes when its
// action queues operations.
func (r *reconcile) item(it ReportItem) {
	r.e.recMu.Lock()
	defer r.e.recMu.Unlock()
	r.rep.Counts[it.Outcome]++
	if it.Action != ActionNone && it.Action != ActionReport {
		r.rep.Changes++
	}
	if r.rep.Counts[it.Outcome] <= reportItemsMax {
		r.rep.Items = append(r.rep.Items, it)
	}
}

// count counts an account or identity that has no item (ok, skipped).
func (r *reconcile) count(outcome string, matched bool) {
	r.e.recMu.Lock()
	defer r.e.recMu.Unlock()
	r.rep.Counts[outcome]++
	if matched {
		r.rep.Matched++
	}
}

// matched counts an account linked or matched to an identity.
func (r *reconcile) matched() {
	r.e.recMu.Lock()
	r.rep.Matched++
	r.e.recMu.Unlock()
}

// queued describes the operations of an object in the outbox: skip when
// one is due, held or attempted (the engine is delivering them: the
// object is left alone); dead when it has dead letters; the rest are
// scheduled for later.
type queued struct {
	skip, dead bool
	scheduled  []store.Outbox
	deadRows   []store.Outbox
}

func (r *reconcile) queued(ctx context.Context, id string) (queued, error) {
	rows, err := r.e.opts.Store.ObjectOutbox(ctx, r.t.pol.Name(), string(r.kind), id)
	if err != nil {
		return queued{}, err
	}
	var q queued
	for _, o := range rows {
		switch {
		case o.Dead:
			q.dead = true
			q.deadRows = append(q.deadRows, o)
		case o.Held || o.Attempts > 0 || !o.NextAt.After(r.now.Add(scheduledMargin)):
			q.skip = true
		default:
			q.scheduled = append(q.scheduled, o)
		}
	}
	return q, nil
}

// deadDetail is the detail of an item whose object has dead letters.
func (r *reconcile) deadDetail() string {
	return fmt.Sprintf("left as it is: the object has dead letters, which wait for a person (scimgate admin deadletters %s)", r.t.pol.Name())
}

// account classifies one account of the target.
func (r *reconcile) account(ctx context.Context, b *batch, o targets.Object) error {
	name := r.t.pol.Name()
	recs, err := r.e.opts.Store.ProvisionedByAnchor(ctx, name, string(r.kind), o.Anchor)
	if err != nil {
		return err
	}
	switch {
	case len(recs) > 1:
		ids := make([]string, len(recs))
		for i, rec := range recs {
			ids[i] = rec.ID
		}
		r.item(ReportItem{Outcome: OutcomeConflict, Type: string(r.kind), Anchor: o.Anchor, Action: ActionNone,
			Detail: "the gateway records this account for several identities: " + strings.Join(ids, ", ")})
		return nil
	case len(recs) == 1 && strings.HasPrefix(recs[0].ID, OrphanPrefix):
		return r.orphan(ctx, b, o, &recs[0])
	case len(recs) == 1:
		return r.linked(ctx, b, o, recs[0])
	}
	return r.unknown(ctx, b, o)
}

// linked classifies an account whose anchor is recorded for the identity
// of rec.
func (r *reconcile) linked(ctx context.Context, b *batch, o targets.Object, rec store.Provisioned) error {
	id := rec.ID
	delete(r.wanted, id)
	if r.kind == targets.User && !r.dry && r.e.opts.OnAccounts != nil {
		r.seen = append(r.seen, Account{ID: id, Attrs: o.Attrs})
	}
	s, err := stateOf(rec)
	if err != nil {
		return err
	}
	q, err := r.queued(ctx, id)
	if err != nil {
		return err
	}
	if q.skip {
		r.count(OutcomeSkipped, true)
		return nil
	}
	res, err := r.load(ctx, id)
	if err != nil {
		return err
	}
	if res == nil {
		return r.deleted(ctx, b, o, rec, s, q)
	}
	it := ReportItem{Type: string(r.kind), Anchor: o.Anchor, ID: id, Name: nameOf(res)}
	d := r.evaluate(id, res)
	switch in := d.Err == nil && r.inScope(res, d); {
	case d.Err != nil:
		r.e.log.Warn("engine: reconciliation: policy failed; object left as it is", "target", r.t.pol.Name(), "kind", r.kind, "id", id, "err", d.Err)
		r.count(OutcomeSkipped, true)
		return nil
	case in != s.InScope || !s.Present || s.Deleted || s.Resync:
		// The planner has yet to plan a change of the object (its scope
		// changed, a re-sync): it converges it.
		r.count(OutcomeSkipped, true)
		return nil
	case !in:
		return r.outOfScope(b, o, rec, s, q, it)
	}
	r.matched()
	diffs, next, err := r.compare(ctx, o, res, d, s)
	if err != nil {
		return err
	}
	if len(diffs) == 0 {
		r.count(OutcomeOK, false)
		return nil
	}
	it.Outcome, it.Diffs, it.Action = OutcomeDrift, diffs, ActionUpdate
	if q.dead {
		it.Action, it.Detail = ActionNone, r.deadDetail()
		r.item(it)
		return nil
	}
	r.item(it)
	c := change{id: id, rec: &rec, touch: true, members: next.Members, setMembers: r.kind == targets.Group}
	next.Members = nil
	rec.State, err = json.Marshal(next)
	if err != nil {
		return err
	}
	b.changes = append(b.changes, c)
	return nil
}

// deleted classifies the account of an identity deleted in SCIM.
func (r *reconcile) deleted(ctx context.Context, b *batch, o targets.Object, rec store.Provisioned, s state, q queued) error {
	id := rec.ID
	r.matched()
	if !s.Deleted { // the planner has yet to plan the delete
		r.count(OutcomeSkipped, false)
		return nil
	}
	it := ReportItem{Outcome: OutcomeOutOfScope, Type: string(r.kind), Anchor: o.Anchor, ID: id, Detail: "deleted in SCIM"}
	switch {
	case q.dead:
		it.Action, it.Detail = ActionNone, "deleted in SCIM; "+r.deadDetail()
	case len(q.scheduled) == 0:
		// Its final delete is neither queued nor dead: queue it.
		it.Action = ActionDelete
		if !r.dry {
			if err := b.p.enqueue(ctx, r.t.pol.Name(), r.kind, id, b.p.now, payload{Op: opDelete, Final: true}); err != nil {
				return err
			}
		}
	case r.kind == targets.User && canDisable(r.t) && s.Disabled && !o.Disabled:
		// Enabled again while its delete waits for the grace period:
		// disabled again, before the scheduled delete, which keeps its
		// time.
		it.Action, it.Diffs = ActionDisable, []Diff{{Attr: "disabled", Old: false, New: true}}
		it.Detail = "deleted in SCIM; its delete is scheduled for " + q.scheduled[0].NextAt.UTC().Format(time.RFC3339)
		if !r.dry {
			if err := b.p.enqueue(ctx, r.t.pol.Name(), r.kind, id, b.p.now, payload{Op: opDisable}); err != nil {
				return err
			}
			b.changes = append(b.changes, change{id: id, requeue: q.scheduled})
		}
	default:
		r.count(OutcomeOK, false) // as the lifecycle wants it until its delete
		return nil
	}
	r.item(r.held(b, it, id))
	return nil
}

// held notes in it that the deletion guard holds the operation just
// queued for the object id.
func (r *reconcile) held(b *batch, it ReportItem, id string) ReportItem {
	if n := len(b.p.ops); n > 0 && b.p.ops[n-1].ID == id && b.p.ops[n-1].Held {
		it.Detail = strings.TrimPrefix(it.Detail+"; held by the deletion guard until released or discarded", "; ")
	}
	return it
}

// outOfScope classifies the account of an identity out of the target's
// scope: the lifecycle says disabled, deleted or left alone.
func (r *reconcile) outOfScope(b *batch, o targets.Object, rec store.Provisioned, s state, q queued, it ReportItem) error {
	r.matched()
	it.Outcome = OutcomeOutOfScope
	switch r.t.pol.Lifecycle().OutOfScope {
	case policy.ActionDisable:
		if r.kind != targets.User || !canDisable(r.t) || o.Disabled {
			r.count(OutcomeOK, false)
			return nil
		}
		it.Action, it.Diffs = ActionDisable, []Diff{{Attr: "disabled", Old: false, New: true}}
	case policy.ActionDelete:
		it.Action = ActionDelete
	default:
		r.count(OutcomeOK, false)
		return nil
	}
	if q.dead {
		it.Action, it.Detail = ActionNone, r.deadDetail()
		r.item(it)
		return nil
	}
	r.item(it)
	// Recorded live as the target holds it: the planner applies the
	// lifecycle's outOfScope action again.
	s.InScope, s.Present, s.Disabled = true, true, o.Disabled
	var err error
	if rec.State, err = json.Marshal(s); err != nil {
		return err
	}
	b.changes = append(b.changes, change{id: rec.ID, rec: &rec, touch: true})
	return nil
}

// unknown classifies an account whose anchor no identity records: matched
// by the matching attributes, or an orphan.
func (r *reconcile) unknown(ctx context.Context, b *batch, o targets.Object) error {
	ids, how, err := r.ownerOf(ctx, o)
	if err != nil {
		return err
	}
	for i, a := range r.t.pol.Matching(r.kind == targets.Group) {
		if len(ids) > 0 { // the object id it records decides
			break
		}
		seen := map[string]bool{}
		for _, k := range matchKeys(o.Attrs[a]) {
			for _, id := range r.match[i][k] {
				if !seen[id] {
					seen[id] = true
					ids = append(ids, id)
				}
			}
		}
		if len(ids) > 0 {
			how = a
			break
		}
	}
	if len(ids) == 0 {
		return r.orphan(ctx, b, o, nil)
	}
	it := ReportItem{Type: string(r.kind), Anchor: o.Anchor, Outcome: OutcomeConflict, Action: ActionNone}
	what := "its " + how
	if how == "" {
		what = "the object id it records"
	}
	if len(ids) > 1 {
		named := make([]string, len(ids))
		for i, id := range ids {
			named[i] = fmt.Sprintf("%s (%s)", r.nameOfID(ctx, id), id)
		}
		slices.Sort(named)
		it.Detail = fmt.Sprintf("%s matches several identities: %s", what, strings.Join(named, ", "))
		r.item(it)
		return nil
	}
	id := ids[0]
	it.ID = id
	name := r.t.pol.Name()
	res, err := r.load(ctx, id)
	if err != nil {
		return err
	}
	if res == nil { // deleted since the index was read: an orphan now
		return r.orphan(ctx, b, o, nil)
	}
	it.Name = nameOf(res)
	r.matched()
	pr, err := r.e.opts.Store.Provisioned(ctx, name, string(r.kind), id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	found := err == nil
	var s state
	if found {
		if s, err = stateOf(pr); err != nil {
			return err
		}
	}
	switch {
	case o.ObjectID != "" && o.ObjectID != id:
		it.Detail = fmt.Sprintf("%s matches %s, but the account records the object id %s", what, id, o.ObjectID)
	case r.claimed[id] != "":
		it.Detail = fmt.Sprintf("%s matches %s, which is linked to the account %q", what, id, r.claimed[id])
	case pr.Anchor != "":
		// Linked to another account: a conflict, unless that account is
		// gone (deleted, and this one made by hand in its place).
		_, err := r.t.conn.Get(ctx, r.kind, pr.Anchor)
		switch {
		case errors.Is(err, targets.ErrNotFound):
			it.Detail = ""
		case err != nil:
			return fmt.Errorf("reading the %s %q of %s: %w", strings.ToLower(string(r.kind)), pr.Anchor, r.t.pol.Name(), err)
		default:
			it.Detail = fmt.Sprintf("%s matches %s, which is linked to the account %q", what, id, pr.Anchor)
		}
	}
	if it.Detail == "" && !r.t.pol.Adopt() && how != "" {
		it.Detail = fmt.Sprintf("%s matches %s, and adoption is off for the target (adopt: false)", what, id)
	}
	r.claimed[id] = o.Anchor
	delete(r.wanted, id)
	if it.Detail != "" {
		r.item(it)
		return nil
	}
	q, err := r.queued(ctx, id)
	if err != nil {
		return err
	}
	if q.skip || found && len(q.scheduled) > 0 {
		r.count(OutcomeSkipped, false)
		return nil
	}
	d := r.evaluate(id, res)
	if d.Err != nil || !r.inScope(res, d) {
		r.count(OutcomeSkipped, false)
		return nil
	}
	diffs, next, err := r.compare(ctx, o, res, d, state{})
	if err != nil {
		return err
	}
	it.Outcome, it.Action, it.Diffs = OutcomeUnlinked, ActionAdopt, diffs
	it.Detail = "matched by " + how
	if how == "" {
		it.Detail = "it records the identity's object id"
	}
	// A dead create (the account held a unique value) is superseded by the
	// adoption; other dead letters wait for a person.
	var drop []store.Outbox
	for _, o := range q.deadRows {
		pl, err := decodePayload(o.Payload)
		if err != nil {
			return err
		}
		if pl.Op != opCreate {
			it.Action, it.Detail = ActionNone, it.Detail+"; "+r.deadDetail()
			r.item(it)
			return nil
		}
		drop = append(drop, o)
	}
	if len(drop) > 0 {
		it.Detail += "; its dead create is dropped"
	}
	r.item(it)
	// Linked as the target holds it; every attribute is sent again (the
	// update records the object id on the account), and the enabled state.
	next.Present, next.InScope, next.Deleted = true, true, false
	next.Attrs, next.Resync, next.ExternalID = nil, true, s.ExternalID
	if ext, ok := res["externalId"].(string); ok {
		next.ExternalID = ext
	}
	members := next.Members
	next.Members = nil
	js, err := json.Marshal(next)
	if err != nil {
		return err
	}
	rec := store.Provisioned{Target: name, Type: string(r.kind), ID: id, Anchor: o.Anchor, State: js, Key: next.ExternalID}
	c := change{id: id, rec: &rec, touch: true, drop: drop, members: members, setMembers: r.kind == targets.Group}
	for _, g := range r.memberOf[id] { // they add the user, now in the target
		c.groups = append(c.groups, g.ID)
	}
	b.changes = append(b.changes, c)
	return nil
}

// ownerOf returns the identity in scope whose object id the account
// records (its own, as the engine's create adopts it), if any.
func (r *reconcile) ownerOf(ctx context.Context, o targets.Object) ([]string, string, error) {
	if o.ObjectID == "" {
		return nil, "", nil
	}
	res, err := r.load(ctx, o.ObjectID)
	if err != nil || res == nil {
		return nil, "", err
	}
	if d := r.evaluate(o.ObjectID, res); d.Err != nil || !r.inScope(res, d) {
		return nil, "", nil
	}
	return []string{o.ObjectID}, "", nil
}

// orphan classifies an account of no identity; rec is the engine's record
// of it when it disabled or deleted it before.
func (r *reconcile) orphan(ctx context.Context, b *batch, o targets.Object, rec *store.Provisioned) error {
	it := ReportItem{Outcome: OutcomeOrphan, Type: string(r.kind), Anchor: o.Anchor, Action: ActionReport}
	groups := r.kind == targets.Group
	for _, a := range append(r.t.pol.Matching(groups), r.t.pol.Attributes(groups)...) {
		if s, ok := o.Attrs[a].(string); ok && s != "" {
			it.Name = s
			break
		}
	}
	id := orphanID(o.Anchor)
	var q queued
	if rec != nil {
		id = rec.ID
		var err error
		if q, err = r.queued(ctx, id); err != nil {
			return err
		}
	}
	switch setting := r.t.pol.Orphans(); {
	case q.skip || len(q.scheduled) > 0:
		it.Action, it.Detail = ActionNone, "an operation is queued for it"
	case q.dead:
		it.Action, it.Detail = ActionNone, r.deadDetail()
	case setting == policy.OrphansDisable && (r.kind != targets.User || !canDisable(r.t)):
		it.Detail = "orphans: disable, but the target cannot disable " + strings.ToLower(string(r.kind)) + "s"
	case setting == policy.OrphansDisable && o.Disabled:
		it.Action, it.Detail = ActionNone, "disabled"
	case setting == policy.OrphansDisable:
		it.Action = ActionDisable
	case setting == policy.OrphansDelete:
		it.Action = ActionDelete
	}
	if r.dry || it.Action != ActionDisable && it.Action != ActionDelete {
		r.item(it)
		return nil
	}
	// Recorded under its synthetic id, marked deleted (never planned), and
	// its disable or final delete queued as the planner queues them.
	s, err := json.Marshal(state{Present: true, Deleted: true, Disabled: it.Action == ActionDisable})
	if err != nil {
		return err
	}
	b.changes = append(b.changes, change{id: id, rec: &store.Provisioned{Target: r.t.pol.Name(), Type: string(r.kind), ID: id,
		Anchor: o.Anchor, State: s}})
	pl := payload{Op: opDisable}
	if it.Action == ActionDelete {
		pl = payload{Op: opDelete, Final: true}
	}
	if err := b.p.enqueue(ctx, r.t.pol.Name(), r.kind, id, b.p.now, pl); err != nil {
		return err
	}
	it.ID = ""
	r.item(r.held(b, it, id))
	return nil
}

// orphanID is the object id under which the engine records an orphan.
func orphanID(anchor string) string {
	if len(OrphanPrefix)+len(anchor) <= 200 {
		return OrphanPrefix + anchor
	}
	sum := sha256.Sum256([]byte(anchor))
	return OrphanPrefix + "sha256:" + hex.EncodeToString(sum[:])
}

// absent classifies an identity in scope that no account was seen for.
func (r *reconcile) absent(ctx context.Context, b *batch, id string) error {
	name := r.t.pol.Name()
	pr, err := r.e.opts.Store.Provisioned(ctx, name, string(r.kind), id)
	if errors.Is(err, store.ErrNotFound) {
		r.count(OutcomeSkipped, false) // the planner has yet to plan it
		return nil
	}
	if err != nil {
		return err
	}
	s, err := stateOf(pr)
	if err != nil {
		return err
	}
	q, err := r.queued(ctx, id)
	if err != nil {
		return err
	}
	if q.skip || !s.InScope || s.Deleted || s.Resync || len(q.scheduled) > 0 {
		r.count(OutcomeSkipped, false)
		return nil
	}
	res, err := r.load(ctx, id)
	if err != nil || res == nil {
		if err == nil {
			r.count(OutcomeSkipped, false)
		}
		return err
	}
	it := ReportItem{Outcome: OutcomeMissing, Type: string(r.kind), ID: id, Name: nameOf(res), Action: ActionCreate}
	if pr.Anchor != "" {
		it.Detail = fmt.Sprintf("the account %q is gone", pr.Anchor)
	}
	if q.dead {
		it.Action, it.Detail = ActionNone, strings.TrimPrefix(it.Detail+"; "+r.deadDetail(), "; ")
		r.item(it)
		return nil
	}
	r.item(it)
	b.changes = append(b.changes, change{id: id, forget: true})
	return nil
}

// compare compares the account o of an identity (res) with the
// decision d and returns the differences, and the state to record in the
// planner's place: s with the account's managed attributes (the policy's
// value where they agree, so that the planner sends exactly the
// differences), its enabled state and, for a group, its members.
func (r *reconcile) compare(ctx context.Context, o targets.Object, res map[string]any, d policy.Decision, s state) ([]Diff, state, error) {
	var diffs []Diff
	next := s
	next.Attrs = maps.Clone(s.Attrs)
	if next.Attrs == nil {
		next.Attrs = map[string]any{}
	}
	for _, k := range slices.Sorted(maps.Keys(d.Attributes)) {
		want := d.Attributes[k]
		if _, secret := want.(policy.Secret); secret {
			continue // never compared: the record keeps what was sent
		}
		have, ok := o.Attrs[k]
		if same(have, ok, want) {
			next.Attrs[k] = want
			continue
		}
		diffs = append(diffs, Diff{Attr: k, Old: have, New: want})
		next.Attrs[k] = have // nil when absent
	}
	next.Disabled = o.Disabled
	if r.kind == targets.User && canDisable(r.t) {
		if want := res["active"] == false; want != o.Disabled {
			diffs = append(diffs, Diff{Attr: "disabled", Old: o.Disabled, New: want})
		}
	}
	if r.kind == targets.Group {
		md, members, err := r.members(ctx, o, res)
		if err != nil {
			return nil, state{}, err
		}
		diffs = append(diffs, md...)
		next.Members = members
	}
	return diffs, next, nil
}

// same reports whether an account's value (ok: present) is the policy's
// want: nil wants it absent; lists compare in any order.
func same(have any, ok bool, want any) bool {
	if want == nil {
		return !ok
	}
	return ok && canon(have) == canon(want)
}

// canon is a value's JSON with its lists sorted.
func canon(v any) string {
	var elems []any
	switch x := v.(type) {
	case []string:
		for _, s := range x {
			elems = append(elems, s)
		}
	case []any:
		elems = x
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Sprintf("%#v", v)
		}
		return string(b)
	}
	parts := make([]string, len(elems))
	for i, e := range elems {
		parts[i] = canon(e)
	}
	slices.Sort(parts)
	return "[" + strings.Join(parts, ",") + "]"
}

// members compares a group account's members with the group's members that
// are live users of the target, and returns the differences and the
// member ids to record: those the account has, those it has too many that
// the gateway manages (the planner removes them), and those without an
// anchor yet as recorded (their creates are queued). Members the gateway
// does not manage (accounts of no identity) are left alone.
func (r *reconcile) members(ctx context.Context, o targets.Object, res map[string]any) ([]Diff, []string, error) {
	st, name := r.e.opts.Store, r.t.pol.Name()
	has := map[string]bool{}
	for _, a := range o.Members {
		has[a] = true
	}
	var rec, add, remove []string
	anchors := map[string]bool{} // of the members the group should have
	gid, _ := res["id"].(string)
	members, err := groupMembers(ctx, st, gid)
	if err != nil {
		return nil, nil, err
	}
	members = (&planner{e: r.e}).heldMembers(members, r.memberHolds[gid])
	recorded, err := st.ProvisionedMembers(ctx, name, gid)
	if err != nil {
		return nil, nil, err
	}
	for _, m := range members {
		pr, err := st.Provisioned(ctx, name, string(targets.User), m)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		ms, err := stateOf(pr)
		if err != nil {
			return nil, nil, err
		}
		if !ms.live() {
			continue
		}
		switch {
		case pr.Anchor == "": // its create is queued: as recorded
			if _, ok := slices.BinarySearch(recorded, m); ok {
				rec = append(rec, m)
			}
		case has[pr.Anchor]:
			rec = append(rec, m)
			anchors[pr.Anchor] = true
		default:
			add = append(add, r.userName(ctx, m))
			anchors[pr.Anchor] = true
		}
	}
	for _, a := range o.Members {
		if anchors[a] {
			continue
		}
		prs, err := st.ProvisionedByAnchor(ctx, name, string(targets.User), a)
		if err != nil {
			return nil, nil, err
		}
		if len(prs) != 1 || strings.HasPrefix(prs[0].ID, OrphanPrefix) || slices.Contains(rec, prs[0].ID) {
			continue // not managed by the gateway
		}
		rec = append(rec, prs[0].ID)
		remove = append(remove, r.userName(ctx, prs[0].ID))
	}
	slices.Sort(rec)
	if len(add)+len(remove) == 0 {
		return nil, rec, nil
	}
	slices.Sort(add)
	slices.Sort(remove)
	return []Diff{{Attr: "members", Add: add, Remove: remove}}, rec, nil
}

// userName returns a user's userName (its id when it has none or is
// gone), for the member differences.
func (r *reconcile) userName(ctx context.Context, id string) string {
	if n, ok := r.names[id]; ok {
		return n
	}
	n := id
	if res, err := (&planner{e: r.e}).load(ctx, targets.User, id); err == nil && res != nil {
		if s := nameOf(res); s != "" {
			n = s
		}
	}
	r.names[id] = n
	return n
}

// nameOfID is the userName or displayName of the identity id of r.kind
// ("" when it has none or is gone).
func (r *reconcile) nameOfID(ctx context.Context, id string) string {
	res, err := r.load(ctx, id)
	if err != nil || res == nil {
		return ""
	}
	return nameOf(res)
}

// nameOf is an identity's userName or displayName.
func nameOf(res map[string]any) string {
	for _, k := range []string{"userName", "displayName"} {
		if n, _ := res[k].(string); n != "" {
			return n
		}
	}
	return ""
}
