package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"github.com/scimgate/scimgate/internal/entra"
	"github.com/scimgate/scimgate/internal/notify"
	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/targets"
	"strings"
)

// Errors of the Runner's calls.
var (
	// ErrUnknownWorkflow: no workflow of that name.
	ErrUnknownWorkflow = errors.New("workflow: no such workflow")
	// ErrNotRetryable: only a failed run can be retried.
	ErrNotRetryable = errors.New("workflow: only a failed run can be retried")
	// ErrPermanent marks a task failure that a retry cannot mend.
	ErrPermanent = errors.New("permanent failure")
)

// Entra is what Entra tasks call (an *entra.Client).
type Entra interface {
	LookupUser(ctx context.Context, key string) (*entra.User, error)
	MemberOf(ctx context.Context, user string) ([]string, error)
	AddMember(ctx context.Context, groupID, memberID string) (bool, error)
	RemoveMember(ctx context.Context, groupID, memberID string) (bool, error)
	Enable(ctx context.Context, user string) error
	Disable(ctx context.Context, user string) error
	DeleteUser(ctx context.Context, user string) error
	RevokeSessions(ctx context.Context, user string) error
	CreateTemporaryAccessPass(ctx context.Context, user string, lifetimeMinutes int, usableOnce bool) (*entra.TemporaryAccessPass, error)
}

// Engine is what target tasks call (an *engine.Engine).
type Engine interface {
	// Hold sets a lifecycle hold over the policy (engine.Engine.Hold):
	// target tasks set holds that lapse when SCIM changes what they
	// override.
	Hold(ctx context.Context, h store.Hold, sticky bool) (bool, error)
	ResyncObject(ctx context.Context, target string, kind targets.Kind, id string) (int, error)
}

// Store is the part of the store the workflow runner uses.
type Store interface {
	store.Resources
	store.Writer
	store.ProvisionedState
	store.Workflows
}

// Options configure a Runner. Zero durations and counts take the defaults.
type Options struct {
	Store     Store
	Workflows []*Workflow
	// Sender sends emails (sendEmail, entraTemporaryAccessPass), rendered
	// from Templates (default: notify's built-in templates).
	Sender    notify.Sender
	Templates *notify.Templates
	// Entra is the Entra client of Entra tasks; Engine the engine of
	// target tasks (set with UseEngine when the engine is created after
	// the Runner, whose OnChanges it calls).
	Entra  Entra
	Engine Engine
	// HTTPClient posts webhooks (default: a client with no redirects).
	HTTPClient *http.Client
	Logger     *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Poll is how often the background loop runs due work (default 30s).
	Poll time.Duration
	// BackoffBase and BackoffMax bound the delay before retrying a failed
	// task: BackoffBase doubled per attempt, at most BackoffMax (defaults
	// 1m and 1h). MaxAttempts fails the task after that many (default 5).
	BackoffBase, BackoffMax time.Duration
	MaxAttempts             int
	// Registerer, when set, receives the metrics.
	Registerer prometheus.Registerer
	// CallbackURL returns the URL of a webhook task's callback with its
	// token (the gateway's /workflow-callbacks/TOKEN); nil: webhook tasks
	// with callback fail.
	CallbackURL func(token string) string
	// OnTaskFailed, when set, is told of every task that failed for good
	// (after it is saved): the alert rule workflowTaskFailed.
	OnTaskFailed func(ctx context.Context, run store.WorkflowRun, task store.WorkflowTask)
}

// Runner runs the workflows: it turns changes into runs (OnChanges),
// fires due schedules and executes due tasks (RunDue, or the loop of
// Start).
type Runner struct {
	opts    Options
	log     *slog.Logger
	wfs     []*Workflow
	byName  map[string]*Workflow
	metrics *metrics

	// mu serialises RunDue, the admin calls that change runs and the
	// reading of engine.
	mu     sync.Mutex
	engine Engine

	wake   chan struct{} // capacity 1: run due work now (Wake)
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New returns a Runner of opts that is not running yet.
func New(opts Options) (*Runner, error) {
	if opts.Store == nil {
		return nil, errors.New("workflow: a store is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Poll <= 0 {
		opts.Poll = 30 * time.Second
	}
	if opts.Templates == nil {
		opts.Templates = notify.DefaultTemplates()
	}
	if opts.BackoffBase <= 0 {
		opts.BackoffBase = time.Minute
	}
	if opts.BackoffMax <= 0 {
		opts.BackoffMax = time.Hour
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 5
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	r := &Runner{opts: opts, log: opts.Logger, wfs: opts.Workflows, byName: map[string]*Workflow{}, engine: opts.Engine,
		wake: make(chan struct{}, 1)}
	for _, w := range opts.Workflows {
		r.byName[w.Name()] = w
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	r.metrics = m
	return r, nil
}

// UseEngine sets the engine of target tasks.
func (r *Runner) UseEngine(e Engine) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.engine = e
}

// Start runs RunDue every Poll until Close or until ctx ends.
func (r *Runner) Start(ctx context.Context) {
	ctx, r.cancel = context.WithCancel(ctx)
	r.wg.Go(func() {
		t := time.NewTicker(r.opts.Poll)
		defer t.Stop()
		for {
			if _, err := r.RunDue(ctx); err != nil && ctx.Err() == nil {
				r.log.Error("workflow: running due workflows", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			case <-r.wake:
			}
		}
	})
}

// Wake makes the loop of Start run due work now rather than at its next
// poll (after RunNow or Retry); it never blocks.
func (r *Runner) Wake() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Close stops the loop and waits for it; a task in flight is cut short
// and runs again after the next start.
func (r *Runner) Close() {
	if r.cancel != nil {
		r.cancel()
	}
	r.wg.Wait()
}

// enabled reports whether w is enabled: the administrator's override in
// states, else its configuration.
func (r *Runner) enabled(w *Workflow, states map[string]bool) bool {
	if on, ok := states[w.Name()]; ok {
		return on
	}
	return w.cfg.Enabled == nil || *w.cfg.Enabled
}

// createRun creates, in tx, the run of w for user for an occurrence, unless
// that occurrence already has one.
func (r *Runner) createRun(ctx context.Context, tx store.Tx, w *Workflow, user, occ string, tr Trigger, now time.Time) error {
	_, err := r.createRunStatus(ctx, tx, w, user, occ, tr, now, store.WorkflowPending, "")
	return err
}

func (r *Runner) createRunStatus(ctx context.Context, tx store.Tx, w *Workflow, user, occ string, tr Trigger, now time.Time,
	status, why string) (int64, error) {
	b, err := json.Marshal(tr)
	if err != nil {
		return 0, err
	}
	run := store.WorkflowRun{Workflow: w.Name(), User: user, Occurrence: occ, Status: status, Preview: w.cfg.Preview,
		Trigger: b, Created: now, Updated: now}
	if status == store.WorkflowPending {
		run.NextAt = now
	}
	tasks := make([]store.WorkflowTask, len(w.tasks))
	for i, t := range w.tasks {
		tasks[i] = store.WorkflowTask{Index: i, Kind: t.cfg.Task, Status: status, NextAt: run.NextAt, Result: why, Updated: now}
	}
	created, err := tx.CreateWorkflowRun(ctx, &run, tasks)
	if err != nil || !created {
		return run.ID, err
	}
	r.metrics.runs.WithLabelValues(w.Name(), "created").Inc()
	if status == store.WorkflowSkipped {
		r.metrics.runs.WithLabelValues(w.Name(), store.WorkflowSkipped).Inc()
	}
	detail := fmt.Sprintf("workflow %s: %s", w.Name(), occ)
	if why != "" {
		detail += ": " + why
	}
	return run.ID, tx.Audit(ctx, store.AuditEntry{Actor: actorOr(ctx, "workflow"), Action: "workflow run", Type: "User", ID: user,
		Result: auditResult(status), Detail: detail})
}

func actorOr(ctx context.Context, def string) string {
	if a := store.ActorOf(ctx); a != "" && a != "unknown" {
		return a
	}
	return def
}

func auditResult(status string) string {
	switch status {
	case store.WorkflowFailed:
		return store.AuditFailed
	case store.WorkflowSkipped:
		return store.WorkflowSkipped
	}
	return store.AuditOK
}

// scanLimit bounds the schedules and runs one pass of RunDue reads.
const scanLimit = 100

// RunDue fires the schedules due at Options.Now (a run for each; one
// later than its window is recorded as skipped) and executes the due
// tasks of every run, each run's tasks in order, and returns how many
// tasks it attempted. Tests drive the runner with it on a fake clock.
func (r *Runner) RunDue(ctx context.Context) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.opts.Now()
	if err := r.fireSchedules(ctx, now); err != nil {
		return 0, err
	}
	n := 0
	for {
		runs, err := r.opts.Store.WorkflowRuns(ctx, store.WorkflowRunQuery{Due: now, Limit: scanLimit})
		if err != nil {
			return n, err
		}
		progress := false
		for _, run := range runs {
			k, err := r.execute(ctx, run, now)
			n += k
			if err != nil {
				return n, err
			}
			progress = progress || k > 0
		}
		if !progress || len(runs) < scanLimit {
			return n, nil
		}
	}
}

// fireSchedules creates the runs of the schedules due at now.
func (r *Runner) fireSchedules(ctx context.Context, now time.Time) error {
	states, err := r.opts.Store.WorkflowStates(ctx)
	if err != nil {
		return err
	}
	due, err := r.opts.Store.WorkflowSchedules(ctx, store.WorkflowScheduleQuery{Before: now.Add(time.Nanosecond), Limit: 10 * scanLimit})
	if err != nil {
		return err
	}
	for _, sc := range due {
		w := r.byName[sc.Workflow]
		if w == nil || w.cfg.Trigger.Time == nil || !r.enabled(w, states) {
			continue // a disabled workflow's schedules wait (their window still applies)
		}
		err := r.opts.Store.Write(ctx, func(ctx context.Context, tx store.Tx) error {
			cur, err := tx.WorkflowSchedule(ctx, sc.Workflow, sc.User)
			if errors.Is(err, store.ErrNotFound) || err == nil && (cur.Occurrence != sc.Occurrence || cur.Due.After(now)) {
				return nil // changed meanwhile
			}
			if err != nil {
				return err
			}
			if err := tx.DeleteWorkflowSchedule(ctx, sc.Workflow, sc.User); err != nil {
				return err
			}
			s, err := loadSubject(ctx, tx.Get, tx.MemberOf, sc.User)
			if err != nil {
				return err
			}
			tr := Trigger{Kind: "time", Attribute: w.cfg.Trigger.Time.Attribute,
				Date: sc.Due.AddDate(0, 0, -w.cfg.Trigger.Time.OffsetDays).Format(time.DateOnly)}
			if s != nil {
				tr.User, tr.Manager = s.person, s.manager
			}
			status, why := store.WorkflowPending, ""
			if late := now.Sub(cur.Due); late > w.window() {
				status, why = store.WorkflowSkipped, fmt.Sprintf("due %s, %s late: beyond the window of %s",
					cur.Due.Format(time.RFC3339), late.Round(time.Minute), w.window())
			}
			_, err = r.createRunStatus(ctx, tx, w, sc.User, sc.Occurrence, tr, now, status, why)
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// execute runs the due tasks of run in order and returns how many it
// attempted. Each step is committed before the next: a task is marked
// running (its attempt counted) before it starts, and done, retried or
// failed after; a crash in between runs it again.
func (r *Runner) execute(ctx context.Context, run store.WorkflowRun, now time.Time) (int, error) {
	run, tasks, err := r.opts.Store.WorkflowRun(ctx, run.ID)
	if err != nil {
		return 0, err
	}
	w := r.byName[run.Workflow]
	if w == nil || len(w.tasks) != len(tasks) {
		run.Status, run.NextAt, run.Updated = store.WorkflowFailed, time.Time{}, now
		return 0, r.save(ctx, run, nil, "the workflow is no longer configured as it was when the run was created")
	}
	var tr Trigger
	if err := json.Unmarshal(run.Trigger, &tr); err != nil {
		return 0, fmt.Errorf("workflow: run %d: %w", run.ID, err)
	}
	env, err := r.env(ctx, w, run, tr)
	if err != nil {
		return 0, err
	}
	n, failed := 0, false
	for i := range tasks {
		k := tasks[i]
		switch k.Status {
		case store.WorkflowDone, store.WorkflowSkipped:
			continue
		case store.WorkflowFailed:
			failed = true
			continue
		}
		if k.NextAt.After(now) {
			run.Status, run.NextAt, run.Updated = store.WorkflowRunning, k.NextAt, now
			return n, r.save(ctx, run, nil, "")
		}
		t := w.tasks[i]
		var result, token string
		if k.Status == store.WorkflowWaiting { // its callback reported a failure, or did not come in time
			if err = fmt.Errorf("%w: no callback within %s", ErrPermanent, callbackTimeout(t.cfg)); k.LastError != "" {
				err = fmt.Errorf("%w: %s", ErrPermanent, k.LastError)
			}
		} else {
			k.Status, k.Attempts, k.Updated = store.WorkflowRunning, k.Attempts+1, now
			run.Status, run.Updated = store.WorkflowRunning, now
			if err := r.save(ctx, run, &k, ""); err != nil {
				return n, err
			}
			n++
			result, token, err = r.run(ctx, env, i, t, run.Preview)
		}
		k.Updated = r.opts.Now()
		if err == nil && token != "" { // posted: wait for the callback
			k.Status, k.Result, k.LastError = store.WorkflowWaiting, result, ""
			k.NextAt = k.Updated.Add(callbackTimeout(t.cfg))
			run.NextAt = k.NextAt
			return n, r.opts.Store.Write(ctx, func(ctx context.Context, tx store.Tx) error {
				_, tasks, err := tx.WorkflowRun(ctx, run.ID)
				if err != nil {
					return err
				}
				if k.Index < len(tasks) && tasks[k.Index].Status != store.WorkflowRunning {
					return nil // its callback came while the POST was in flight: Complete recorded it
				}
				if err := tx.UpdateWorkflowTask(ctx, k); err != nil {
					return err
				}
				return tx.UpdateWorkflowRun(ctx, run)
			})
		}
		switch {
		case err == nil:
			k.Status, k.Result, k.LastError, k.NextAt = store.WorkflowDone, result, "", time.Time{}
			r.metrics.tasks.WithLabelValues(w.Name(), t.cfg.Task, outcomeOf(run.Preview)).Inc()
			if err := r.save(ctx, run, &k, ""); err != nil {
				return n, err
			}
		case k.Attempts < r.opts.MaxAttempts && !errors.Is(err, ErrPermanent) && !permanent(err):
			k.Status, k.LastError, k.NextAt = store.WorkflowPending, err.Error(), now.Add(r.backoff(k.Attempts))
			run.NextAt = k.NextAt
			r.metrics.tasks.WithLabelValues(w.Name(), t.cfg.Task, "retry").Inc()
			r.log.Warn("workflow: task failed; retrying", "workflow", w.Name(), "run", run.ID, "task", t.cfg.Task, "attempt", k.Attempts, "err", err)
			return n, r.save(ctx, run, &k, "")
		default:
			k.Status, k.LastError, k.NextAt = store.WorkflowFailed, err.Error(), time.Time{}
			r.metrics.tasks.WithLabelValues(w.Name(), t.cfg.Task, "failed").Inc()
			r.log.Warn("workflow: task failed", "workflow", w.Name(), "run", run.ID, "task", t.cfg.Task, "err", err)
			if err := r.save(ctx, run, &k, ""); err != nil {
				return n, err
			}
			if r.opts.OnTaskFailed != nil {
				r.opts.OnTaskFailed(ctx, run, k)
			}
			failed = true
			if !t.cfg.ContinueOnError {
				return n, r.finish(ctx, w, run, tasks[i+1:], store.WorkflowFailed)
			}
		}
	}
	status := store.WorkflowDone
	if failed {
		status = store.WorkflowFailed
	}
	return n, r.finish(ctx, w, run, nil, status)
}

func outcomeOf(preview bool) string {
	if preview {
		return "preview"
	}
	return "done"
}

// finish ends a run with status, the tasks rest skipped.
func (r *Runner) finish(ctx context.Context, w *Workflow, run store.WorkflowRun, rest []store.WorkflowTask, status string) error {
	now := r.opts.Now()
	run.Status, run.NextAt, run.Updated = status, time.Time{}, now
	err := r.opts.Store.Write(ctx, func(ctx context.Context, tx store.Tx) error {
		for _, k := range rest {
			k.Status, k.Result, k.NextAt, k.Updated = store.WorkflowSkipped, "skipped: an earlier task failed", time.Time{}, now
			if err := tx.UpdateWorkflowTask(ctx, k); err != nil {
				return err
			}
		}
		if err := tx.UpdateWorkflowRun(ctx, run); err != nil {
			return err
		}
		return tx.Audit(ctx, store.AuditEntry{Actor: "workflow", Action: "workflow " + status, Type: "User", ID: run.User,
			Result: auditResult(status), Detail: fmt.Sprintf("workflow %s: run %d: %s", run.Workflow, run.ID, run.Occurrence)})
	})
	if err == nil {
		r.metrics.runs.WithLabelValues(w.Name(), status).Inc()
	}
	return err
}

// save saves run and, when set, task k, with an audit entry for a
// failed run.
func (r *Runner) save(ctx context.Context, run store.WorkflowRun, k *store.WorkflowTask, failure string) error {
	return r.opts.Store.Write(ctx, func(ctx context.Context, tx store.Tx) error {
		if k != nil {
			if err := tx.UpdateWorkflowTask(ctx, *k); err != nil {
				return err
			}
		}
		if err := tx.UpdateWorkflowRun(ctx, run); err != nil {
			return err
		}
		if failure == "" {
			return nil
		}
		return tx.Audit(ctx, store.AuditEntry{Actor: "workflow", Action: "workflow failed", Type: "User", ID: run.User,
			Result: store.AuditFailed, Detail: fmt.Sprintf("workflow %s: run %d: %s", run.Workflow, run.ID, failure)})
	})
}

// backoff is the delay before the next attempt of a task that failed
// attempts times.
func (r *Runner) backoff(attempts int) time.Duration {
	d := r.opts.BackoffBase
	for i := 1; i < attempts && d < r.opts.BackoffMax; i++ {
		d *= 2
	}
	return min(d, r.opts.BackoffMax)
}

// permanent reports the Entra and engine failures a retry cannot mend.
func permanent(err error) bool {
	if errors.Is(err, notify.ErrPermanent) { // a refused address or channel
		return true
	}
	for _, e := range []error{entra.ErrInvalid, entra.ErrNotEnabled, entra.ErrForbidden, entra.ErrDynamicGroup, entra.ErrNotFound} {
		if errors.Is(err, e) {
			return !errors.Is(err, entra.ErrTransient)
		}
	}
	return false
}

// run does task t of env, or in preview records what it would do. A
// webhook with callback posts a callback URL with a new one-time token,
// returned, and its task then waits for the call.
func (r *Runner) run(ctx context.Context, env *env, i int, t *task, preview bool) (result, token string, err error) {
	switch {
	case preview:
		plan, err := r.plan(ctx, env, i, t)
		if err != nil {
			return "", "", err
		}
		return "preview: would " + plan.Action, "", nil
	case t.cfg.Task == "webhook" && t.cfg.Callback:
		if r.opts.CallbackURL == nil {
			return "", "", fmt.Errorf("%w: the gateway gives no callback URL", ErrPermanent)
		}
		token = rand.Text() + rand.Text() // 52 base32 characters: 260 bits
		// The token is recorded before the POST: a receiver may call back
		// before the POST returns (Complete accepts the call then too).
		if err := r.opts.Store.Write(ctx, func(ctx context.Context, tx store.Tx) error {
			if err := tx.DeleteWorkflowCallbacks(ctx, env.runID, i); err != nil { // an attempt's before a crash
				return err
			}
			return tx.AddWorkflowCallback(ctx, tokenHash(token), env.runID, i)
		}); err != nil {
			return "", "", err
		}
		result, err = r.webhook(ctx, env, t, r.opts.CallbackURL(token))
		if err != nil {
			if derr := r.opts.Store.Write(ctx, func(ctx context.Context, tx store.Tx) error {
				return tx.DeleteWorkflowCallbacks(ctx, env.runID, i)
			}); derr != nil {
				err = errors.Join(err, derr)
			}
			return "", "", err
		}
		return result + fmt.Sprintf("; waiting up to %s for its callback", callbackTimeout(t.cfg)), token, nil
	}
	result, err = r.do(ctx, env, t)
	return result, "", err
}

// callbackTimeout is how long a webhook task waits for its callback.
func callbackTimeout(c TaskConfig) time.Duration {
	if c.CallbackTimeout > 0 {
		return c.CallbackTimeout
	}
	return 24 * time.Hour
}

// tokenHash is what the store keeps of a callback token.
func tokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// ErrUnknownCallback: no task waits for this callback (an unknown or used
// token, or a task that timed out).
var ErrUnknownCallback = errors.New("workflow: no task waits for this callback")

// Complete completes the webhook task waiting for the callback of token:
// done when ok, otherwise failed with message (the runner then goes on as
// continueOnError says). The token is used once.
func (r *Runner) Complete(ctx context.Context, token string, ok bool, message string) error {
	if token == "" {
		return ErrUnknownCallback
	}
	now := r.opts.Now()
	err := r.opts.Store.Write(ctx, func(ctx context.Context, tx store.Tx) error {
		id, idx, err := tx.WorkflowCallback(ctx, tokenHash(token))
		if errors.Is(err, store.ErrNotFound) {
			return ErrUnknownCallback
		}
		if err != nil {
			return err
		}
		run, tasks, err := tx.WorkflowRun(ctx, id)
		if err != nil {
			return err
		}
		if err := tx.DeleteWorkflowCallbacks(ctx, id, idx); err != nil {
			return err
		}
		// Waiting, or still running: the receiver called back before the
		// POST returned.
		if idx >= len(tasks) || (tasks[idx].Status != store.WorkflowWaiting && tasks[idx].Status != store.WorkflowRunning) {
			return ErrUnknownCallback
		}
		k := tasks[idx]
		message = strings.Join(strings.Fields(message), " ")
		if len(message) > 500 {
			message = message[:500] + "…"
		}
		k.Updated = now
		if ok {
			k.Status, k.NextAt = store.WorkflowDone, time.Time{}
			k.Result += "; completed by its callback"
			if message != "" {
				k.Result += ": " + message
			}
		} else { // the runner fails it now, as any failed task
			k.Status, k.NextAt, k.LastError = store.WorkflowWaiting, now, "the callback reported a failure"
			if message != "" {
				k.LastError += ": " + message
			}
		}
		run.Status, run.NextAt, run.Updated = store.WorkflowRunning, now, now // the next tasks are due
		if err := tx.UpdateWorkflowTask(ctx, k); err != nil {
			return err
		}
		return tx.UpdateWorkflowRun(ctx, run)
	})
	if err != nil {
		return err
	}
	r.Wake()
	return nil
}
