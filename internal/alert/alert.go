package alert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
)

// Store is the part of the store the Evaluator uses: it keeps its
// episodes and notifications there, and reads the users and workflow
// runs its rules name.
type Store interface {
	store.Resources
	store.Writer
	store.Alerts
	store.Workflows
}

// Engine is what the target rules read (an *engine.Engine).
type Engine interface {
	Targets(ctx context.Context) ([]engine.TargetStatus, error)
	Reconciliations(ctx context.Context, target string, limit int) ([]engine.Report, error)
}

// Entra is what privilegedGroup rules with entraGroups read (an
// *entra.Client).
type Entra interface {
	ListMembers(ctx context.Context, groupID string) ([]entra.Object, error)
	Group(ctx context.Context, id string) (*entra.Group, error)
}

// Options configure an Evaluator. Zero durations and counts take the
// defaults.
type Options struct {
	// Config must be valid (Config.Validate).
	Config Config
	Store  Store
	// Sender sends the notifications, rendered from Templates (default:
	// notify's built-in alert_raised and alert_resolved).
	Sender    notify.Sender
	Templates *notify.Templates
	// Engine is required by the target rules (deletionGuard, targetDown,
	// deadLetters, reconcileDrift); Entra by rules with entraGroups.
	Engine Engine
	Entra  Entra
	Logger *slog.Logger
	// Now is the clock (default time.Now); After waits on it in Start's
	// loop (default time.After).
	Now   func() time.Time
	After func(time.Duration) <-chan time.Time
	// BackoffBase and BackoffMax bound the delay before retrying a
	// notification that failed: BackoffBase doubled per attempt, at most
	// BackoffMax (defaults 30s and 30m). After MaxAttempts (default 10)
	// the notification is marked failed and logged.
	BackoffBase, BackoffMax time.Duration
	MaxAttempts             int
	// Registerer, when set, receives scimgate_alerts_active{rule} and
	// scimgate_alerts_total{rule,state}.
	Registerer prometheus.Registerer
}

// Evaluator evaluates the alert rules (Evaluate, or the loop of Start),
// observes the events of the event-driven rules (ObserveChanges,
// ObserveTaskFailed) and sends the notifications.
type Evaluator struct {
	opts    Options
	log     *slog.Logger
	rules   []*rule
	metrics *metrics

	// mu serialises Evaluate: one evaluation and one sender at a time.
	mu     sync.Mutex
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// rule is a configured rule.
type rule struct {
	cfg  Rule
	name string
	// groups are the watched SCIM groups' ids and displayNames, lower-case.
	groups map[string]bool
}

// New checks opts and returns an Evaluator that is not running yet.
func New(opts Options) (*Evaluator, error) {
	if err := opts.Config.Validate(); err != nil {
		return nil, err
	}
	if opts.Store == nil || opts.Sender == nil {
		return nil, errors.New("alert: a store and a sender are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Templates == nil {
		opts.Templates = notify.DefaultTemplates()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.After == nil {
		opts.After = time.After
	}
	if opts.BackoffBase <= 0 {
		opts.BackoffBase = 30 * time.Second
	}
	if opts.BackoffMax <= 0 {
		opts.BackoffMax = 30 * time.Minute
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 10
	}
	if opts.Config.Interval <= 0 {
		opts.Config.Interval = DefaultInterval
	}
	e := &Evaluator{opts: opts, log: opts.Logger}
	var names []string
	for _, c := range opts.Config.Rules {
		r := &rule{cfg: c, name: c.RuleName(), groups: map[string]bool{}}
		switch c.Kind {
		case KindDeletionGuard, KindTargetDown, KindDeadLetters, KindReconcileDrift:
			if opts.Engine == nil {
				return nil, fmt.Errorf("alert: rule %s (%s) needs the engine", r.name, c.Kind)
			}
		case KindPrivilegedGroup:
			if len(c.EntraGroups) > 0 && opts.Entra == nil {
				return nil, fmt.Errorf("alert: rule %s watches Entra groups and needs the Entra client", r.name)
			}
		}
		for _, g := range c.Groups {
			r.groups[strings.ToLower(g)] = true
		}
		e.rules = append(e.rules, r)
		names = append(names, r.name)
	}
	m, err := newMetrics(names, opts.Registerer)
	if err != nil {
		return nil, err
	}
	e.metrics = m
	return e, nil
}

// Start runs Evaluate every Config.Interval until Close or until ctx
// ends; an evaluation's error is logged.
func (e *Evaluator) Start(ctx context.Context) {
	ctx, e.cancel = context.WithCancel(ctx)
	e.wg.Go(func() {
		for {
			if err := e.Evaluate(ctx); err != nil && ctx.Err() == nil {
				e.log.Warn("alert: evaluation failed; trying again at the next interval", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-e.opts.After(e.opts.Config.Interval):
			}
		}
	})
}

// Close stops the loop of Start and waits for it.
func (e *Evaluator) Close() {
	if e.cancel != nil {
		e.cancel()
	}
	e.wg.Wait()
}

// Evaluate reads the sources of the rules, raises the alerts whose
// condition started and resolves those whose condition ended, then sends
// the notifications that are due. A source that cannot be read changes
// none of its rules' alerts (its error is returned, joined with the
// others).
func (e *Evaluator) Evaluate(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.opts.Now()
	var errs []error
	var targets []engine.TargetStatus
	var targetsErr error
	targetsRead := false
	for _, r := range e.rules {
		var err error
		switch r.cfg.Kind {
		case KindDeletionGuard, KindTargetDown, KindDeadLetters, KindReconcileDrift:
			if !targetsRead {
				targets, targetsErr = e.opts.Engine.Targets(ctx)
				targetsRead = true
				if targetsErr != nil {
					errs = append(errs, fmt.Errorf("alert: target status: %w", targetsErr))
				}
			}
			if targetsErr != nil {
				continue
			}
			var conds map[string]Event
			if conds, err = e.targetConditions(ctx, r, targets, now); err == nil {
				err = e.sync(ctx, r, conds, now)
			}
		case KindPrivilegedGroup:
			err = e.evaluateEntra(ctx, r, now)
		case KindWorkflowTaskFailed:
			err = e.evaluateTasks(ctx, r, now)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("alert: rule %s: %w", r.name, err))
		}
	}
	if err := e.refreshMetrics(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := e.send(ctx, now); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// targetConditions returns the alerts of a target rule that hold now, by
// key (the target's name).
func (e *Evaluator) targetConditions(ctx context.Context, r *rule, targets []engine.TargetStatus, now time.Time) (map[string]Event, error) {
	conds := map[string]Event{}
	for _, t := range targets {
		ev := Event{Rule: r.name, Kind: r.cfg.Kind, Key: t.Name, Target: t.Name}
		switch r.cfg.Kind {
		case KindDeletionGuard:
			if !t.GuardHolding {
				continue
			}
			ev.Count = t.Held
			ev.Summary = fmt.Sprintf("the deletion guard of target %s holds its disables and deletes (%d held)", t.Name, t.Held)
		case KindTargetDown:
			// DownSince is set while the engine holds the target's
			// operations because it is down.
			if t.DownSince.IsZero() || now.Sub(t.DownSince) < r.cfg.For {
				continue
			}
			ev.Since, ev.For = t.DownSince, r.cfg.For
			ev.Summary = fmt.Sprintf("target %s is down for more than %s", t.Name, r.cfg.For)
		case KindDeadLetters:
			if t.Dead < r.cfg.Threshold {
				continue
			}
			ev.Count, ev.Threshold = t.Dead, r.cfg.Threshold
			ev.Summary = fmt.Sprintf("target %s has %d dead letters (threshold %d)", t.Name, t.Dead, r.cfg.Threshold)
		case KindReconcileDrift:
			reps, err := e.opts.Engine.Reconciliations(ctx, t.Name, 10)
			if err != nil {
				return nil, err
			}
			i := slices.IndexFunc(reps, func(rep engine.Report) bool { return rep.Status == engine.StatusDone && !rep.DryRun })
			if i < 0 {
				continue
			}
			rep := reps[i]
			n := rep.Counts[engine.OutcomeOrphan] + rep.Counts[engine.OutcomeDrift]
			if n < r.cfg.Threshold {
				continue
			}
			ev.Count, ev.Threshold, ev.Reconciliation = n, r.cfg.Threshold, rep.ID
			ev.Summary = fmt.Sprintf("the reconciliation of target %s found %d orphans or drifted accounts (threshold %d)",
				t.Name, n, r.cfg.Threshold)
		}
		conds[t.Name] = ev
	}
	return conds, nil
}

// sync raises the alerts of r in conds that are not active and resolves
// the active ones not in conds, in one transaction.
func (e *Evaluator) sync(ctx context.Context, r *rule, conds map[string]Event, now time.Time) error {
	active, err := e.opts.Store.Alerts(ctx, store.AlertQuery{Rule: r.name, Active: true})
	if err != nil {
		return err
	}
	var gone []string
	for _, a := range active {
		if _, ok := conds[a.Key]; ok {
			delete(conds, a.Key)
		} else {
			gone = append(gone, a.Key)
		}
	}
	if len(conds) == 0 && len(gone) == 0 {
		return nil
	}
	return e.opts.Store.Write(ctx, func(ctx context.Context, tx store.Tx) error {
		for _, k := range slicesSortedKeys(conds) {
			if err := e.raise(ctx, tx, r, conds[k], now); err != nil {
				return err
			}
		}
		for _, k := range gone {
			if err := e.resolve(ctx, tx, r, k, now); err != nil {
				return err
			}
		}
		return nil
	})
}

func slicesSortedKeys(m map[string]Event) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// raise starts a new episode of ev's alert unless one is active, and
// queues its notifications, in tx.
func (e *Evaluator) raise(ctx context.Context, tx store.Tx, r *rule, ev Event, now time.Time) error {
	cur, err := tx.Alert(ctx, r.name, ev.Key)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return err
	case cur.Active:
		return nil
	}
	ev.Rule, ev.Kind, ev.At, ev.Resolved = r.name, r.cfg.Kind, now, false
	detail, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	a := store.Alert{Rule: r.name, Key: ev.Key, Episode: cur.Episode + 1, Active: true, Raised: now, Detail: detail}
	if err := tx.PutAlert(ctx, a); err != nil {
		return err
	}
	e.log.Warn("alert: raised", "rule", r.name, "key", ev.Key, "summary", ev.Summary)
	return e.enqueue(ctx, tx, r, a, ev, now)
}

// resolve ends the active episode of (r, key), if any, and queues its
// notifications, in tx.
func (e *Evaluator) resolve(ctx context.Context, tx store.Tx, r *rule, key string, now time.Time) error {
	cur, err := tx.Alert(ctx, r.name, key)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return err
	case !cur.Active:
		return nil
	}
	var ev Event
	if err := json.Unmarshal(cur.Detail, &ev); err != nil {
		return fmt.Errorf("alert %s of rule %s: %w", key, r.name, err)
	}
	ev.Resolved, ev.At = true, now
	cur.Active, cur.Resolved = false, now
	if err := tx.PutAlert(ctx, cur); err != nil {
		return err
	}
	e.log.Info("alert: resolved", "rule", r.name, "key", key)
	return e.enqueue(ctx, tx, r, cur, ev, now)
}

// notice is the payload of a queued notification: an email or a webhook
// message.
type notice struct {
	Email   *notify.Email   `json:"email,omitempty"`
	Channel string          `json:"channel,omitempty"`
	Message *notify.Message `json:"message,omitempty"`
}

// enqueue renders ev and queues one notification per destination of r.
func (e *Evaluator) enqueue(ctx context.Context, tx store.Tx, r *rule, a store.Alert, ev Event, now time.Time) error {
	name := notify.TemplateAlertRaised
	if ev.Resolved {
		name = notify.TemplateAlertResolved
	}
	m, err := e.opts.Templates.Render(name, ev.templateData(a.Raised))
	if err != nil {
		return fmt.Errorf("alert: rule %s: %w", r.name, err) // the templates are checked when the gateway starts
	}
	subject := strings.Join(strings.Fields(m.Subject), " ") // one line
	var ns []notice
	if len(r.cfg.Email) > 0 {
		ns = append(ns, notice{Email: &notify.Email{To: slices.Clone(r.cfg.Email), Subject: subject, Text: m.Text, HTML: m.HTML}})
	}
	for _, ch := range r.cfg.Webhooks {
		ns = append(ns, notice{Channel: ch, Message: &notify.Message{Title: subject, Text: ev.Summary, Facts: ev.Facts()}})
	}
	event := store.AlertRaised
	if ev.Resolved {
		event = store.AlertResolved
	}
	for _, n := range ns {
		b, err := json.Marshal(n)
		if err != nil {
			return err
		}
		if _, err := tx.AddAlertNotice(ctx, store.AlertNotice{Rule: a.Rule, Key: a.Key, Episode: a.Episode, Event: event,
			Payload: b, NextAt: now, Created: now}); err != nil {
			return err
		}
	}
	return nil
}

// send sends the notifications due at now, in queue order. A failure is
// retried with backoff, up to MaxAttempts; a notification is removed once
// sent.
func (e *Evaluator) send(ctx context.Context, now time.Time) error {
	due, err := e.opts.Store.AlertNotices(ctx, store.AlertNoticeQuery{Due: now, Limit: 1000})
	if err != nil {
		return err
	}
	var errs []error
	for _, n := range due {
		var p notice
		err := json.Unmarshal(n.Payload, &p)
		switch {
		case err != nil:
		case p.Email != nil:
			err = e.opts.Sender.SendEmail(ctx, *p.Email)
		case p.Message != nil:
			err = e.opts.Sender.Notify(ctx, p.Channel, *p.Message)
		default:
			err = errors.New("empty notification")
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		werr := e.opts.Store.Write(ctx, func(ctx context.Context, tx store.Tx) error {
			if err == nil {
				return tx.DeleteAlertNotice(ctx, n.Seq)
			}
			n.Attempts++
			n.LastError = shorten(err.Error())
			if n.Attempts >= e.opts.MaxAttempts || errors.Is(err, notify.ErrPermanent) {
				n.Failed = true // a refused address or channel: a retry cannot help
			} else {
				n.NextAt = now.Add(e.backoff(n.Attempts))
			}
			return tx.UpdateAlertNotice(ctx, n)
		})
		if werr != nil {
			errs = append(errs, werr)
			continue
		}
		switch {
		case err == nil:
			e.metrics.sent(n.Rule, "sent")
		case n.Failed:
			e.metrics.sent(n.Rule, "failed")
			e.log.Error("alert: a notification failed for good", "rule", n.Rule, "key", n.Key, "event", n.Event,
				"attempts", n.Attempts, "err", err)
		default:
			e.metrics.sent(n.Rule, "retry")
			e.log.Warn("alert: a notification failed; retrying", "rule", n.Rule, "key", n.Key, "event", n.Event,
				"attempts", n.Attempts, "next", n.NextAt, "err", err)
		}
	}
	return errors.Join(errs...)
}

// backoff is the delay after a notification's attempts failures.
func (e *Evaluator) backoff(attempts int) time.Duration {
	d := e.opts.BackoffBase
	for i := 1; i < attempts && d < e.opts.BackoffMax; i++ {
		d *= 2
	}
	return min(d, e.opts.BackoffMax)
}
