package guest

// The lifecycle: the decisions of Rules carried out. It keeps one record
// per user it tracks (store.GuestRecord): the guest's rule, expiry and
// state, and when it is next due. The engine's planning transaction tells
// it of every change (OnChanges), so a record is always as current as the
// user; RunDue performs the steps that fell due, each recorded in the
// store once done: a crash repeats at most the step in flight, and every
// step is idempotent (a notice may then go out twice). Blocks and deletes
// are the engine's holds (source "guest"): they go through its outbox to
// every target, with its order, retries, deletion guard and audit, and
// SCIM changes do not undo them.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scimgate/scimgate/internal/engine"
	"github.com/scimgate/scimgate/internal/entra"
	"github.com/scimgate/scimgate/internal/notify"
	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/scim"
)

// HoldSource is the source of the guest lifecycle's holds.
const HoldSource = "guest"

// Actor is the actor of the audit entries of the steps the lifecycle
// performs on its own (RunDue), its holds' included.
const Actor = "guest lifecycle"

// Errors of Extend.
var (
	// ErrNotGuest: the user is not tracked as a guest.
	ErrNotGuest = errors.New("guest: the user is not a guest")
	// ErrBadExtension: the extension is not in the future, or the guest
	// was deleted (re-invite it instead).
	ErrBadExtension = errors.New("guest: invalid extension")
)

// Engine is what blocks and deletes go through (an *engine.Engine).
type Engine interface {
	Hold(ctx context.Context, h store.Hold, sticky bool) (bool, error)
	ReleaseHolds(ctx context.Context, q store.HoldQuery) (int, error)
}

// Entra is the Entra directory (an *entra.Client), for the block and
// delete there and the users' sign-in activity.
type Entra interface {
	LookupUser(ctx context.Context, key string) (*entra.User, error)
	Enable(ctx context.Context, user string) error
	Disable(ctx context.Context, user string) error
	DeleteUser(ctx context.Context, user string) error
}

// Store is the part of the store the guest lifecycle uses.
type Store interface {
	store.Resources
	store.Writer
	store.Journal
	store.Guests
}

// LifecycleOptions configure a Lifecycle.
type LifecycleOptions struct {
	Store  Store
	Rules  *Rules
	Engine Engine
	// Entra, when set, blocks and deletes in the directory (as the
	// configuration says) and reads sign-in activity (inactivity).
	Entra Entra
	// Sender and Templates send the notices (template guest_expiry).
	Sender    notify.Sender
	Templates *notify.Templates
	Logger    *slog.Logger
	// Now is the clock (default time.Now). The loop of Start runs RunDue
	// when the next record falls due, and at least every Poll (default a
	// minute).
	Now  func() time.Time
	Poll time.Duration
	// Registerer, when set, receives scimgate_guest_steps_total.
	Registerer prometheus.Registerer
}

// Lifecycle runs the guest lifecycle. It is safe for concurrent use.
type Lifecycle struct {
	opts  LifecycleOptions
	rules *Rules
	log   *slog.Logger
	mu    sync.Mutex // one RunDue or Extend at a time
	wake  chan struct{}
	steps *prometheus.CounterVec
	// cancel and wg stop the loop of Start.
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Record is what the lifecycle knows of one user (its store record).
type Record struct {
	User        string `json:"user"`
	UserName    string `json:"userName"`
	DisplayName string `json:"displayName,omitempty"`
	// Guest and Rule: whether a guest rule matches, and which.
	Guest bool   `json:"guest"`
	Rule  string `json:"rule,omitempty"`
	// Expiry is when access expires (zero: never), Why the expiry rule
	// that gave it ("expiry.lifetime", "extended").
	Expiry time.Time `json:"expiry"`
	Why    string    `json:"why,omitempty"`
	// ExtendedUntil is an administrator's extension: the expiry is at
	// least that.
	ExtendedUntil time.Time `json:"extendedUntil"`
	// LastApproval is the end of the last access review that approved
	// the guest (expiry.afterApproval); DeniedAt when one denied it: its
	// access expires then (block, then delete after the grace period).
	LastApproval time.Time `json:"lastApproval"`
	DeniedAt     time.Time `json:"deniedAt"`
	// LastSignIn is the last sign-in read from Entra, SignInsRead when it
	// was read.
	LastSignIn  time.Time `json:"lastSignIn"`
	SignInsRead time.Time `json:"signInsRead"`
	State       State     `json:"state"`
	// Next is the next step, nil when none.
	Next *Step `json:"next,omitempty"`
	// Attempts and LastError are of the next step's failed attempts.
	Attempts  int    `json:"attempts,omitempty"`
	LastError string `json:"lastError,omitempty"`
}

// Status is the record's state in a word: active, blocked, deleted, or
// member (not a guest).
func (r Record) Status() string {
	switch {
	case r.State.Deleted:
		return "deleted"
	case r.State.Blocked:
		return "blocked"
	case !r.Guest:
		return "member"
	}
	return "active"
}

// NewLifecycle returns the lifecycle of opts.
func NewLifecycle(opts LifecycleOptions) (*Lifecycle, error) {
	if opts.Store == nil || opts.Rules == nil || opts.Engine == nil {
		return nil, errors.New("guest: a lifecycle needs a store, rules and an engine")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Poll <= 0 {
		opts.Poll = time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Templates == nil {
		opts.Templates = notify.DefaultTemplates()
	}
	l := &Lifecycle{opts: opts, rules: opts.Rules, log: opts.Logger, wake: make(chan struct{}, 1),
		steps: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "scimgate_guest_steps_total",
			Help: "Guest lifecycle steps performed (notice, block, unblock, delete), by outcome."}, []string{"step", "outcome"})}
	if opts.Registerer != nil {
		if err := opts.Registerer.Register(l.steps); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// subject is a user as the rules see it.
type subject struct {
	user    map[string]any
	groups  []GroupRef
	manager string // the manager's id, "" none
}

// reader reads users and groups (a store.Resources or a store.Tx).
type reader interface {
	Get(ctx context.Context, typ, id string) (store.Resource, error)
	MemberOf(ctx context.Context, typ, value string) ([]string, error)
}

// load returns user id with its groups, or nil when it is gone.
func load(ctx context.Context, rd reader, id string) (*subject, error) {
	r, err := rd.Get(ctx, "User", id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	u, err := scim.DecodeResource(r)
	if err != nil {
		return nil, err
	}
	// The store keeps meta apart; the rules read meta.created (the
	// lifetime, an expiry attribute) as the SCIM server renders it.
	u["meta"] = map[string]any{"created": r.Created.UTC().Format(time.RFC3339Nano),
		"lastModified": r.Modified.UTC().Format(time.RFC3339Nano)}
	s := &subject{user: u}
	if m, ok := u[scim.URNEnterpriseUser].(map[string]any); ok {
		if mgr, ok := m["manager"].(map[string]any); ok {
			s.manager, _ = mgr["value"].(string)
		}
	}
	gids, err := rd.MemberOf(ctx, "Group", id)
	if err != nil {
		return nil, err
	}
	for _, gid := range gids {
		g, err := rd.Get(ctx, "Group", gid)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		gm, err := scim.DecodeResource(g)
		if err != nil {
			return nil, err
		}
		name, _ := gm["displayName"].(string)
		s.groups = append(s.groups, GroupRef{ID: gid, DisplayName: name})
	}
	return s, nil
}

// evaluate brings rec up to date with the user s at now and returns the
// steps ahead.
func (l *Lifecycle) evaluate(s *subject, rec Record, now time.Time) (Record, []Step) {
	rec.UserName, _ = s.user["userName"].(string)
	rec.DisplayName, _ = s.user["displayName"].(string)
	rec.Guest, rec.Rule = l.rules.Classify(s.user, s.groups)
	rec.Expiry, rec.Why = time.Time{}, ""
	if rec.Guest {
		if at, why, ok := l.rules.Expiry(s.user, Facts{LastSignIn: rec.LastSignIn, LastApproval: rec.LastApproval}); ok {
			rec.Expiry, rec.Why = at, why
			if rec.ExtendedUntil.After(at) {
				rec.Expiry, rec.Why = rec.ExtendedUntil, "extended"
			}
		}
	}
	if !rec.DeniedAt.IsZero() && (rec.Expiry.IsZero() || rec.DeniedAt.Before(rec.Expiry)) {
		rec.Expiry, rec.Why = rec.DeniedAt, "denied in an access review"
	}
	steps := l.rules.Plan(rec.Expiry, now, rec.State)
	rec.Next = nil
	if len(steps) > 0 {
		s := steps[0]
		rec.Next = &s
	}
	return rec, steps
}

// tracked reports whether rec is worth keeping: a guest, or a user the
// lifecycle acted on or an administrator extended.
func tracked(rec Record) bool {
	return rec.Guest || rec.State.Blocked || rec.State.Deleted || !rec.ExtendedUntil.IsZero() || !rec.DeniedAt.IsZero()
}

// due is when rec is due next: its next step, or sooner when the
// failed attempts back off, or when the sign-ins are to be read again.
func (l *Lifecycle) due(rec Record, now time.Time) time.Time {
	var at time.Time
	if rec.Next != nil {
		at = rec.Next.At
	}
	if rec.Attempts > 0 {
		at = later(at, now.Add(backoff(rec.Attempts)))
	}
	if l.readsSignIns() && rec.Guest && !rec.State.Deleted {
		if next := rec.SignInsRead.Add(signInRefresh); at.IsZero() || next.Before(at) {
			at = next // a guest whose sign-ins were never read is due now
		}
	}
	return at
}

// signInRefresh is how often a guest's sign-in activity is read again.
const signInRefresh = 24 * time.Hour

func (l *Lifecycle) readsSignIns() bool {
	return l.rules.cfg.Expiry.Inactivity > 0 && l.opts.Entra != nil
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// backoff is the wait after n failed attempts: 1m, 2m, 4m, ... up to 1h.
func backoff(n int) time.Duration {
	d := time.Minute << min(n-1, 6)
	return min(d, time.Hour)
}

// record returns the record of user id (found false when none) from st (a
// store.Guests or a store.Tx).
func record(ctx context.Context, st interface {
	Guest(ctx context.Context, user string) (store.GuestRecord, error)
}, id string) (Record, bool, error) {
	g, err := st.Guest(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return Record{User: id}, false, nil
	}
	if err != nil {
		return Record{}, false, err
	}
	var rec Record
	if err := json.Unmarshal(g.Data, &rec); err != nil {
		return Record{}, false, fmt.Errorf("guest: record of %q: %w", id, err)
	}
	return rec, true, nil
}

// put saves rec, due as due says, or drops it when it is not tracked.
func (l *Lifecycle) put(ctx context.Context, tx store.Tx, rec Record, now time.Time) error {
	if !tracked(rec) {
		return tx.DeleteGuest(ctx, rec.User)
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return tx.PutGuest(ctx, store.GuestRecord{User: rec.User, Due: l.due(rec, now), Data: b})
}

// OnChanges brings the records of the users changes touch up to date, in
// the engine's planning transaction tx (engine.Options.OnChanges, see
// engine.ChainChanges): a user who became a guest is scheduled, one whose
// expiry moved is rescheduled, one who is no guest any more is dropped
// (or unblocked), one deleted in SCIM is forgotten.
func (l *Lifecycle) OnChanges(ctx context.Context, tx store.Tx, changes []store.Change) error {
	now := l.opts.Now()
	seen := map[string]bool{}
	var ids []string
	add := func(id string) {
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	groupRules := slices.ContainsFunc(l.rules.cfg.Rules, func(r RuleConfig) bool { return r.Group != "" || r.Expression != "" })
	for _, c := range changes {
		switch {
		case c.Type == "User":
			add(c.ID)
		case c.Type == "Group" && groupRules:
			for _, m := range slices.Concat(c.Added, c.Removed) {
				add(m)
			}
			if !c.MembersOnly { // its name, or a create or replace with members
				ms, err := tx.Members(ctx, "Group", c.ID, -1, 0)
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					return err
				}
				for _, m := range ms {
					add(m.Value)
				}
			}
		}
	}
	for _, id := range ids {
		if err := l.refresh(ctx, tx, id, now); err != nil {
			return err
		}
	}
	// No Wake here: the records are not committed yet. The gateway wakes
	// the lifecycle after the batch commits (engine.Options.Committed).
	return nil
}

// refresh brings the record of user id up to date in tx.
func (l *Lifecycle) refresh(ctx context.Context, tx store.Tx, id string, now time.Time) error {
	s, err := load(ctx, tx, id)
	if err != nil {
		return err
	}
	if s == nil {
		return tx.DeleteGuest(ctx, id)
	}
	rec, _, err := record(ctx, tx, id)
	if err != nil {
		return err
	}
	rec, _ = l.evaluate(s, rec, now)
	return l.put(ctx, tx, rec, now)
}

// ObserveAccounts takes the last logins of the accounts a reconciliation
// of target read (engine.Options.OnAccounts), when the configuration's
// expiry.lastLogin names the target: a guest's last sign-in is the latest
// it knows from Entra and from the target.
func (l *Lifecycle) ObserveAccounts(ctx context.Context, target string, accounts []engine.Account) error {
	ll := l.rules.cfg.Expiry.LastLogin
	if ll == nil || !strings.EqualFold(ll.Target, target) {
		return nil
	}
	now := l.opts.Now()
	changed := false
	err := l.opts.Store.Write(ctx, func(ctx context.Context, tx store.Tx) error {
		changed = false
		for _, a := range accounts {
			at, ok := dateTime(a.Attrs[ll.Attribute])
			if !ok {
				continue
			}
			rec, found, err := record(ctx, tx, a.ID)
			if err != nil {
				return err
			}
			if !found || !at.After(rec.LastSignIn) {
				continue
			}
			s, err := load(ctx, tx, a.ID)
			if err != nil || s == nil {
				return err
			}
			rec.LastSignIn = at
			rec, _ = l.evaluate(s, rec, now)
			if err := l.put(ctx, tx, rec, now); err != nil {
				return err
			}
			changed = true
		}
		return nil
	})
	if changed {
		l.Wake()
	}
	return err
}

// enrolledCursor marks that every user was evaluated under a configuration
// (its hash).
const enrolledCursor = "guest.enrolled"

// Enroll evaluates every user once for a configuration it has not seen
// (the first start with guests configured, a changed configuration):
// users who do not change would otherwise never be looked at.
func (l *Lifecycle) Enroll(ctx context.Context) (int, error) {
	b, err := json.Marshal(l.rules.cfg)
	if err != nil {
		return 0, err
	}
	h := fnv.New32a()
	h.Write(b)
	mark := int64(h.Sum32()) + 1
	done, err := l.opts.Store.Cursor(ctx, enrolledCursor)
	if err != nil || done == mark {
		return 0, err
	}
	ids, err := l.opts.Store.Find(ctx, "User", store.Const(true))
	if err != nil {
		return 0, err
	}
	now := l.opts.Now()
	for rest := ids; len(rest) > 0; {
		chunk := rest[:min(len(rest), 200)]
		rest = rest[len(chunk):]
		if err := l.opts.Store.Write(ctx, func(ctx context.Context, tx store.Tx) error {
			for _, id := range chunk {
				if err := l.refresh(ctx, tx, id, now); err != nil {
					return err
				}
			}
			if len(rest) == 0 {
				return tx.SetCursor(ctx, enrolledCursor, mark)
			}
			return nil
		}); err != nil {
			return 0, err
		}
	}
	if len(ids) == 0 {
		if err := l.opts.Store.Write(ctx, func(ctx context.Context, tx store.Tx) error {
			return tx.SetCursor(ctx, enrolledCursor, mark)
		}); err != nil {
			return 0, err
		}
	}
	return len(ids), nil
}

// Wake makes the loop of Start run now.
func (l *Lifecycle) Wake() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// Start enrolls the users and runs RunDue when the next record falls
// due, at least every Poll, and on Wake, until ctx ends or Close.
func (l *Lifecycle) Start(ctx context.Context) {
	ctx, l.cancel = context.WithCancel(ctx)
	l.wg.Go(func() {
		if _, err := l.Enroll(ctx); err != nil && ctx.Err() == nil {
			l.log.Error("guest lifecycle: enrolling the users", "err", err)
		}
		timer := time.NewTimer(0)
		defer timer.Stop()
		for {
			wait := l.opts.Poll
			if _, err := l.RunDue(ctx); err != nil {
				if ctx.Err() == nil {
					l.log.Error("guest lifecycle: running due steps", "err", err)
				}
			} else if next, err := l.opts.Store.Guests(ctx, store.GuestQuery{Due: l.opts.Now().Add(wait), Limit: 1}); err == nil && len(next) > 0 {
				wait = max(next[0].Due.Sub(l.opts.Now()), 0) // the next step on time, not up to Poll late
			}
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			case <-l.wake:
			}
		}
	})
}

// Close stops the loop of Start and waits for it.
func (l *Lifecycle) Close() {
	if l.cancel != nil {
		l.cancel()
	}
	l.wg.Wait()
}

// RunDue performs the steps due now and returns how many it performed.
func (l *Lifecycle) RunDue(ctx context.Context) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ctx = store.WithActor(ctx, Actor) // of the engine's audit entries of the holds
	now := l.opts.Now()
	recs, err := l.opts.Store.Guests(ctx, store.GuestQuery{Due: now, Limit: 500})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, g := range recs {
		k, err := l.process(ctx, g.User, now)
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// process performs the due steps of user id, recording each.
func (l *Lifecycle) process(ctx context.Context, id string, now time.Time) (int, error) {
	s, err := load(ctx, l.opts.Store, id)
	if err != nil {
		return 0, err
	}
	if s == nil { // deleted in SCIM (OnChanges drops its record too)
		return 0, l.opts.Store.Write(ctx, func(ctx context.Context, tx store.Tx) error { return tx.DeleteGuest(ctx, id) })
	}
	rec, _, err := record(ctx, l.opts.Store, id)
	if err != nil {
		return 0, err
	}
	if l.readsSignIns() && rec.Guest && rec.UserName != "" {
		if u, err := l.opts.Entra.LookupUser(ctx, rec.UserName); err != nil {
			l.log.Warn("guest lifecycle: reading sign-in activity", "user", rec.UserName, "err", err)
		} else {
			rec.SignInsRead = now
			if a := u.SignInActivity; a != nil {
				rec.LastSignIn = later(rec.LastSignIn, later(a.LastSignInDateTime, a.LastSuccessfulSignInDateTime))
			}
		}
	}
	rec, steps := l.evaluate(s, rec, now)
	done := 0
	for _, step := range steps {
		if step.At.After(now) {
			break
		}
		detail, err := l.perform(ctx, s, rec, step)
		outcome := "done"
		if err != nil {
			outcome = "failed"
			if step.Kind == Notice && errors.Is(err, notify.ErrPermanent) {
				outcome = "skipped" // a notice that cannot go out does not hold up the rest
			}
		}
		l.steps.WithLabelValues(string(step.Kind), outcome).Inc()
		if outcome == "failed" {
			rec.Attempts++
			rec.LastError = err.Error()
			l.log.Warn("guest lifecycle: step failed; retrying with backoff", "user", rec.UserName, "step", step.Kind, "attempts", rec.Attempts, "err", err)
			return done, l.save(ctx, rec, now, nil, "")
		}
		if outcome == "skipped" {
			detail = "notice not sent: " + err.Error()
		}
		rec.State = rec.State.Apply(step)
		rec.Attempts, rec.LastError = 0, ""
		if err := l.save(ctx, rec, now, &step, detail); err != nil {
			return done, err
		}
		done++
		l.log.Info("guest lifecycle: "+string(step.Kind), "user", rec.UserName, "expiry", step.Expiry.Format(time.DateOnly), "detail", detail)
		if step.Kind == Delete || step.Kind == Unblock {
			break // the plan changes: the next round plans again
		}
	}
	rec, _ = l.evaluate(s, rec, now)
	return done, l.save(ctx, rec, now, nil, "")
}

// save stores rec (its state as the store has it, with the step applied)
// and the audit entry of step, when one was performed.
func (l *Lifecycle) save(ctx context.Context, rec Record, now time.Time, step *Step, detail string) error {
	return l.opts.Store.Write(ctx, func(ctx context.Context, tx store.Tx) error {
		cur, found, err := record(ctx, tx, rec.User)
		if err != nil {
			return err
		}
		if found { // keep what OnChanges learned meanwhile; the state is ours
			cur.State, cur.Attempts, cur.LastError, cur.LastSignIn, cur.SignInsRead = rec.State, rec.Attempts, rec.LastError, rec.LastSignIn, rec.SignInsRead
			cur.Next = rec.Next
			rec = cur
		}
		if s, err := load(ctx, tx, rec.User); err != nil {
			return err
		} else if s != nil {
			rec, _ = l.evaluate(s, rec, now)
		}
		if err := l.put(ctx, tx, rec, now); err != nil {
			return err
		}
		if step == nil {
			return nil
		}
		return tx.Audit(ctx, store.AuditEntry{Actor: Actor, Action: "guest " + string(step.Kind), Type: "User", ID: rec.User,
			Result: store.AuditOK, Detail: detail})
	})
}

// perform does one step for the user s and says what it did.
func (l *Lifecycle) perform(ctx context.Context, s *subject, rec Record, step Step) (string, error) {
	cfg := l.rules.cfg
	expiry := step.Expiry.UTC().Format(time.DateOnly)
	switch step.Kind {
	case Notice:
		return l.notice(ctx, s, rec, step)
	case Block:
		if _, err := l.opts.Engine.Hold(ctx, store.Hold{User: rec.User, Source: HoldSource, Action: store.HoldDisable,
			Reason: "guest access expired on " + expiry}, true); err != nil {
			return "", err
		}
		what := "blocked in every target"
		if cfg.BlockInEntra && l.opts.Entra != nil {
			if err := l.opts.Entra.Disable(ctx, rec.UserName); err != nil {
				return "", fmt.Errorf("blocking in Entra: %w", err)
			}
			what += " and in Entra"
		}
		return what + " (access expired on " + expiry + ")", nil
	case Unblock:
		if _, err := l.opts.Engine.ReleaseHolds(ctx, store.HoldQuery{User: rec.User, Source: HoldSource}); err != nil {
			return "", err
		}
		what := "unblocked in every target"
		if cfg.BlockInEntra && l.opts.Entra != nil {
			if err := l.opts.Entra.Enable(ctx, rec.UserName); err != nil {
				return "", fmt.Errorf("unblocking in Entra: %w", err)
			}
			what += " and in Entra"
		}
		if rec.Expiry.IsZero() {
			return what + " (no expiry applies any more)", nil
		}
		return what + " (access now expires on " + rec.Expiry.UTC().Format(time.DateOnly) + ")", nil
	case Delete:
		if _, err := l.opts.Engine.Hold(ctx, store.Hold{User: rec.User, Source: HoldSource, Action: store.HoldDelete,
			Reason: fmt.Sprintf("guest access expired on %s; grace period over", expiry)}, true); err != nil {
			return "", err
		}
		what := "deleted in every target"
		if cfg.DeleteInEntra && l.opts.Entra != nil {
			err := l.opts.Entra.DeleteUser(ctx, rec.UserName)
			if err != nil && !errors.Is(err, entra.ErrNotFound) {
				return "", fmt.Errorf("removing from Entra: %w", err)
			}
			what += " and removed from Entra"
		}
		return what, nil
	}
	return "", fmt.Errorf("guest: unknown step %q", step.Kind)
}

// notice sends the expiry notice of step to the configured recipients
// and channels.
func (l *Lifecycle) notice(ctx context.Context, s *subject, rec Record, step Step) (string, error) {
	data := map[string]any{
		"userName": rec.UserName, "displayName": nameOr(rec.DisplayName, rec.UserName),
		"expiry": step.Expiry.UTC().Format(time.DateOnly), "daysLeft": int(step.Expiry.Sub(l.opts.Now()).Hours()+23) / 24,
		"deleteOn": step.Expiry.Add(l.rules.Grace()).UTC().Format(time.DateOnly), "rule": rec.Rule, "why": rec.Why,
		"managerDisplayName": "",
	}
	var to []string
	var manager map[string]any
	if s.manager != "" {
		if m, err := load(ctx, l.opts.Store, s.manager); err != nil {
			return "", err
		} else if m != nil {
			manager = m.user
			data["managerDisplayName"] = nameOr(str(manager["displayName"]), str(manager["userName"]))
		}
	}
	for _, r := range l.rules.cfg.noticeTo() {
		switch r {
		case "manager":
			if a := Email(manager); a != "" {
				to = append(to, a)
			}
		case "guest":
			if a := Email(s.user); a != "" {
				to = append(to, a)
			}
		default:
			to = append(to, r)
		}
	}
	var sent []string
	if len(to) > 0 {
		if l.opts.Sender == nil {
			return "", fmt.Errorf("%w: no email settings in the notifications section", notify.ErrPermanent)
		}
		e, err := l.opts.Templates.Render(notify.TemplateGuestExpiry, data)
		if err != nil {
			return "", fmt.Errorf("%w: %v", notify.ErrPermanent, err)
		}
		e.To = to
		if err := l.opts.Sender.SendEmail(ctx, e); err != nil {
			return "", err
		}
		sent = append(sent, strings.Join(to, ", "))
	}
	for _, ch := range l.rules.cfg.NoticeChannels {
		if l.opts.Sender == nil {
			return "", fmt.Errorf("%w: no notifications section", notify.ErrPermanent)
		}
		m, err := l.opts.Templates.RenderMessage(notify.TemplateGuestExpiry, data)
		if err != nil {
			return "", fmt.Errorf("%w: %v", notify.ErrPermanent, err)
		}
		m.Facts = [][2]string{{"Guest", rec.UserName}, {"Expires", data["expiry"].(string)}, {"Deleted on", data["deleteOn"].(string)}}
		if err := l.opts.Sender.Notify(ctx, ch, m); err != nil {
			return "", err
		}
		sent = append(sent, "channel "+ch)
	}
	if len(sent) == 0 {
		return "", fmt.Errorf("%w: nobody to send the notice to (no manager or email address)", notify.ErrPermanent)
	}
	return fmt.Sprintf("notice of the expiry on %s sent to %s", data["expiry"], strings.Join(sent, "; ")), nil
}

func nameOr(name, alt string) string {
	if name != "" {
		return name
	}
	return alt
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// Email returns a user's primary (else first) email, else its userName
// when it is an address; "" for none.
func Email(u map[string]any) string {
	if u == nil {
		return ""
	}
	first := ""
	if es, ok := u["emails"].([]any); ok {
		for _, e := range es {
			m, _ := e.(map[string]any)
			v := str(m["value"])
			if v == "" {
				continue
			}
			if m["primary"] == true {
				return v
			}
			if first == "" {
				first = v
			}
		}
	}
	if first != "" {
		return first
	}
	if n := str(u["userName"]); strings.Contains(n, "@") && !strings.Contains(n, "#EXT#") {
		return n
	}
	return ""
}

// Extend extends the access of user id until until (after now), which
// reschedules its steps and unblocks a blocked guest at once.
func (l *Lifecycle) Extend(ctx context.Context, id string, until time.Time) (Record, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.opts.Now()
	if !until.After(now) {
		return Record{}, fmt.Errorf("%w: %s is not in the future", ErrBadExtension, until.UTC().Format(time.RFC3339))
	}
	err := l.opts.Store.Write(ctx, func(ctx context.Context, tx store.Tx) error {
		rec, found, err := record(ctx, tx, id)
		if err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("%w: %q", ErrNotGuest, id)
		}
		if rec.State.Deleted {
			return fmt.Errorf("%w: %s was deleted; invite the guest again", ErrBadExtension, nameOr(rec.UserName, id))
		}
		s, err := load(ctx, tx, id)
		if err != nil {
			return err
		}
		if s == nil {
			return fmt.Errorf("%w: %q", ErrNotGuest, id)
		}
		rec.ExtendedUntil, rec.DeniedAt = until, time.Time{} // an extension outranks a denial before it
		rec, _ = l.evaluate(s, rec, now)
		if err := l.put(ctx, tx, rec, now); err != nil {
			return err
		}
		return tx.Audit(ctx, store.AuditEntry{Actor: store.ActorOf(ctx), Action: "guest extend", Type: "User", ID: id,
			Result: store.AuditOK, Detail: "access extended until " + until.UTC().Format(time.RFC3339)})
	})
	if err != nil {
		return Record{}, err
	}
	if _, err := l.process(ctx, id, now); err != nil {
		return Record{}, err
	}
	return l.Guest(ctx, id)
}

// Now is the lifecycle's clock (LifecycleOptions.Now), from which an
// extension for a duration counts.
func (l *Lifecycle) Now() time.Time { return l.opts.Now() }

// Approve records that an access review approved user id's access at at
// (the end of the review): with expiry.afterApproval its access runs
// from then; it also withdraws an earlier denial. A user the lifecycle
// does not track is left alone.
func (l *Lifecycle) Approve(ctx context.Context, id string, at time.Time) error {
	return l.review(ctx, id, "guest approved", func(rec *Record) {
		rec.LastApproval, rec.DeniedAt = later(rec.LastApproval, at), time.Time{}
	})
}

// Deny records that an access review denied user id's access at at: the
// guest is blocked then (at once when at is past), and deleted after the
// grace period, as on expiry. Deny tracks a user who is not a guest too.
func (l *Lifecycle) Deny(ctx context.Context, id string, at time.Time) error {
	return l.review(ctx, id, "guest denied", func(rec *Record) { rec.DeniedAt = at })
}

// review applies an access review's decision to the record of user id,
// audited as action.
func (l *Lifecycle) review(ctx context.Context, id, action string, apply func(*Record)) error {
	l.mu.Lock()
	now := l.opts.Now()
	err := l.opts.Store.Write(ctx, func(ctx context.Context, tx store.Tx) error {
		s, err := load(ctx, tx, id)
		if err != nil {
			return err
		}
		if s == nil {
			return fmt.Errorf("%w: %q", store.ErrNotFound, id)
		}
		rec, found, err := record(ctx, tx, id)
		if err != nil {
			return err
		}
		if !found && action == "guest approved" {
			return nil
		}
		apply(&rec)
		rec, _ = l.evaluate(s, rec, now)
		if err := l.put(ctx, tx, rec, now); err != nil {
			return err
		}
		return tx.Audit(ctx, store.AuditEntry{Actor: store.ActorOf(ctx), Action: action, Type: "User", ID: id, Result: store.AuditOK,
			Detail: "access now expires " + expiryText(rec)})
	})
	l.mu.Unlock()
	if err == nil {
		l.Wake()
	}
	return err
}

// expiryText is when rec's access expires, in words.
func expiryText(rec Record) string {
	if rec.Expiry.IsZero() {
		return "never"
	}
	return "on " + rec.Expiry.UTC().Format(time.RFC3339) + " (" + rec.Why + ")"
}

// Guest returns the record of user id, or ErrNotGuest.
func (l *Lifecycle) Guest(ctx context.Context, id string) (Record, error) {
	rec, found, err := record(ctx, l.opts.Store, id)
	if err == nil && !found {
		err = fmt.Errorf("%w: %q", ErrNotGuest, id)
	}
	return rec, err
}

// Guests returns every record, by user id.
func (l *Lifecycle) Guests(ctx context.Context) ([]Record, error) {
	return Records(ctx, l.opts.Store)
}

// Records returns the records kept in st, by user id.
func Records(ctx context.Context, st store.Guests) ([]Record, error) {
	gs, err := st.Guests(ctx, store.GuestQuery{})
	if err != nil {
		return nil, err
	}
	out := make([]Record, 0, len(gs))
	for _, g := range gs {
		var rec Record
		if err := json.Unmarshal(g.Data, &rec); err != nil {
			return nil, fmt.Errorf("guest: record of %q: %w", g.User, err)
		}
		out = append(out, rec)
	}
	return out, nil
}
