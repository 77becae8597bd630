package workflow

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scimgate/scimgate/internal/engine"
	"github.com/scimgate/scimgate/internal/notify"
	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/targets"
)

// env is what a run's tasks act on.
type env struct {
	w       *Workflow
	runID   int64
	userID  string
	data    Data
	trigger Trigger
}

// env builds the environment of a run: the user as it is now, or as the
// run recorded it when the user was deleted since.
func (r *Runner) env(ctx context.Context, w *Workflow, run store.WorkflowRun, tr Trigger) (*env, error) {
	e := &env{w: w, runID: run.ID, userID: run.User, trigger: tr,
		data: Data{Workflow: w.Name(), Category: w.cfg.Category, User: tr.User, Trigger: tr}}
	s, err := loadSubject(ctx, r.opts.Store.Get, r.opts.Store.MemberOf, run.User)
	if err != nil {
		return nil, err
	}
	manager := tr.Manager
	if s != nil {
		e.data.User, manager = s.person, s.manager
	}
	if manager != "" {
		m, err := loadSubject(ctx, r.opts.Store.Get, r.opts.Store.MemberOf, manager)
		if err != nil {
			return nil, err
		}
		if m != nil {
			e.data.Manager = m.person
		}
	}
	return e, nil
}

// recipients returns the addresses of an email to user, manager or the
// task's addresses.
func recipients(e *env, to string, t *task) ([]string, error) {
	switch to {
	case "user":
		if e.data.User.Email == "" {
			return nil, fmt.Errorf("%w: user %s has no email address", ErrPermanent, e.data.User.UserName)
		}
		return []string{e.data.User.Email}, nil
	case "manager", "":
		if e.data.Manager.Email == "" {
			return nil, fmt.Errorf("%w: user %s has no manager with an email address", ErrPermanent, e.data.User.UserName)
		}
		return []string{e.data.Manager.Email}, nil
	}
	return t.cfg.Addresses, nil
}

// webhookPayload is the JSON a webhook task posts.
type webhookPayload struct {
	Workflow string  `json:"workflow"`
	Category string  `json:"category"`
	Run      int64   `json:"run"`
	Task     int     `json:"task"`
	User     Person  `json:"user"`
	Trigger  Trigger `json:"trigger"`
	// CallbackURL, for a task with callback, is where the receiver
	// completes the task: POST {"status": "completed" or "failed",
	// "message": "..."}. It holds a one-time token.
	CallbackURL string `json:"callbackUrl,omitempty"`
}

func (e *env) payload(index int, callbackURL string) ([]byte, error) {
	tr := e.trigger
	tr.User = Person{}
	return json.Marshal(webhookPayload{Workflow: e.w.Name(), Category: e.w.cfg.Category, Run: e.runID, Task: index,
		User: e.data.User, Trigger: tr, CallbackURL: callbackURL})
}

// TaskPlan is what a task does (or would do).
type TaskPlan struct {
	Index  int    `json:"index"`
	Task   string `json:"task"`
	Action string `json:"action"`
	// Email is the rendered email of sendEmail and entraTemporaryAccessPass
	// (the pass shown as a placeholder).
	Email *notify.Email `json:"email,omitempty"`
	// Webhook is the payload a webhook task posts.
	Webhook json.RawMessage `json:"webhook,omitempty"`
}

// passPlaceholder stands for the Temporary Access Pass in previews.
const passPlaceholder = "[the Temporary Access Pass, created when the task runs]"

// plan describes task t of e without doing it.
func (r *Runner) plan(_ context.Context, e *env, i int, t *task) (TaskPlan, error) {
	c := t.cfg
	p := TaskPlan{Index: i, Task: c.Task}
	user := e.data.User.UserName
	switch c.Task {
	case "sendEmail", "entraTemporaryAccessPass":
		to := c.To
		d := templateData(e.data)
		if c.Task == "entraTemporaryAccessPass" {
			to = c.EmailTo
			d["tap"], d["tapExpires"], d["tapOnce"] = notify.NewTAP(passPlaceholder), fmt.Sprintf("[%d minutes after it is created]", lifetime(c)), c.OneTimeUse
		}
		rcpt, err := recipients(e, to, t)
		if err != nil {
			return p, err
		}
		m, err := r.render(t, rcpt, d)
		if err != nil {
			return p, err
		}
		p.Email = &m
		p.Action = fmt.Sprintf("send %q to %s", m.Subject, strings.Join(rcpt, ", "))
		if c.Task == "entraTemporaryAccessPass" {
			p.Action = fmt.Sprintf("create a Temporary Access Pass for %s in Entra (%d minutes, usable once: %t) and %s",
				user, lifetime(c), c.OneTimeUse, p.Action)
		}
	case "webhook":
		cb := ""
		if c.Callback {
			cb = "[the callback URL, with a one-time token made when the task runs]"
		}
		b, err := e.payload(i, cb)
		if err != nil {
			return p, err
		}
		p.Webhook = b
		p.Action = "post the payload to " + c.URL
		if c.Callback {
			p.Action += fmt.Sprintf(" and wait up to %s for its callback", callbackTimeout(c))
		}
	case "entraAddToGroups":
		p.Action = fmt.Sprintf("add %s to Entra groups %s", user, strings.Join(c.Groups, ", "))
	case "entraRemoveFromGroups":
		p.Action = fmt.Sprintf("remove %s from Entra groups %s", user, strings.Join(c.Groups, ", "))
	case "entraRemoveFromAllGroups":
		p.Action = fmt.Sprintf("remove %s from all their Entra groups", user)
	case "entraEnable":
		p.Action = fmt.Sprintf("enable %s in Entra", user)
	case "entraDisable":
		p.Action = fmt.Sprintf("disable %s in Entra", user)
	case "entraDelete":
		p.Action = fmt.Sprintf("delete %s in Entra", user)
	case "entraRevokeSessions":
		p.Action = fmt.Sprintf("revoke the sessions of %s in Entra", user)
	case "targetDisable":
		p.Action = fmt.Sprintf("disable %s in target %s", user, c.Target)
	case "targetEnable":
		p.Action = fmt.Sprintf("enable %s in target %s", user, c.Target)
	case "targetAddToGroups":
		p.Action = fmt.Sprintf("add %s to groups %s in target %s", user, strings.Join(c.Groups, ", "), c.Target)
	case "targetRemoveFromGroups":
		p.Action = fmt.Sprintf("remove %s from groups %s in target %s", user, strings.Join(c.Groups, ", "), c.Target)
	case "targetRemoveFromAllGroups":
		p.Action = fmt.Sprintf("remove %s from all their groups in target %s", user, c.Target)
	case "reprovision":
		p.Action = fmt.Sprintf("re-provision %s to target %s", user, c.Target)
	}
	return p, nil
}

func lifetime(c TaskConfig) int {
	if c.LifetimeMinutes == 0 {
		return 60
	}
	return c.LifetimeMinutes
}

// do executes task t of e and returns what it did, never a secret.
func (r *Runner) do(ctx context.Context, e *env, t *task) (string, error) {
	c := t.cfg
	upn := e.data.User.UserName
	if strings.HasPrefix(c.Task, "entra") && r.opts.Entra == nil {
		return "", fmt.Errorf("%w: no Entra client", ErrPermanent)
	}
	switch c.Task {
	case "sendEmail":
		if r.opts.Sender == nil {
			return "", fmt.Errorf("%w: no email sender", ErrPermanent)
		}
		rcpt, err := recipients(e, c.To, t)
		if err != nil {
			return "", err
		}
		m, err := r.render(t, rcpt, templateData(e.data))
		if err != nil {
			return "", fmt.Errorf("%w: %v", ErrPermanent, err)
		}
		if err := r.opts.Sender.SendEmail(ctx, m); err != nil {
			return "", err
		}
		return fmt.Sprintf("sent %q to %s", m.Subject, strings.Join(rcpt, ", ")), nil
	case "webhook":
		return r.webhook(ctx, e, t, "")
	case "entraAddToGroups", "entraRemoveFromGroups":
		u, err := r.opts.Entra.LookupUser(ctx, upn)
		if err != nil {
			return "", err
		}
		var changed []string
		for _, g := range c.Groups {
			var ok bool
			if c.Task == "entraAddToGroups" {
				ok, err = r.opts.Entra.AddMember(ctx, g, u.ID)
			} else {
				ok, err = r.opts.Entra.RemoveMember(ctx, g, u.ID)
			}
			if err != nil {
				return "", err
			}
			if ok {
				changed = append(changed, g)
			}
		}
		return fmt.Sprintf("%s: changed in %d of %d groups %s", c.Task, len(changed), len(c.Groups), strings.Join(changed, ", ")), nil
	case "entraRemoveFromAllGroups":
		u, err := r.opts.Entra.LookupUser(ctx, upn)
		if err != nil {
			return "", err
		}
		groups, err := r.opts.Entra.MemberOf(ctx, u.ID)
		if err != nil {
			return "", err
		}
		var removed, dynamic []string
		for _, g := range groups {
			ok, err := r.opts.Entra.RemoveMember(ctx, g, u.ID)
			switch {
			case err != nil && isDynamic(err):
				dynamic = append(dynamic, g) // its rule decides
			case err != nil:
				return "", err
			case ok:
				removed = append(removed, g)
			}
		}
		out := fmt.Sprintf("removed from %d groups %s", len(removed), strings.Join(removed, ", "))
		if len(dynamic) > 0 {
			out += fmt.Sprintf("; left in %d dynamic groups %s (their rules decide)", len(dynamic), strings.Join(dynamic, ", "))
		}
		return out, nil
	case "entraEnable":
		return "enabled in Entra", r.opts.Entra.Enable(ctx, upn)
	case "entraDisable":
		return "disabled in Entra", r.opts.Entra.Disable(ctx, upn)
	case "entraDelete":
		return "deleted in Entra (restorable for 30 days)", r.opts.Entra.DeleteUser(ctx, upn)
	case "entraRevokeSessions":
		return "sessions revoked in Entra", r.opts.Entra.RevokeSessions(ctx, upn)
	case "entraTemporaryAccessPass":
		if r.opts.Sender == nil {
			return "", fmt.Errorf("%w: no email sender", ErrPermanent)
		}
		rcpt, err := recipients(e, c.EmailTo, t)
		if err != nil {
			return "", err
		}
		tap, err := r.opts.Entra.CreateTemporaryAccessPass(ctx, upn, lifetime(c), c.OneTimeUse)
		if err != nil {
			return "", err
		}
		d := templateData(e.data)
		d["tap"], d["tapOnce"] = notify.NewTAP(tap.Pass), tap.IsUsableOnce
		d["tapExpires"] = tap.StartDateTime.Add(time.Duration(tap.LifetimeInMinutes) * time.Minute).UTC().Format(time.RFC3339)
		m, err := r.render(t, rcpt, d)
		if err != nil {
			return "", fmt.Errorf("%w: %v", ErrPermanent, err)
		}
		if err := r.opts.Sender.SendEmail(ctx, m); err != nil {
			return "", fmt.Errorf("sending the Temporary Access Pass (a retry creates a new one): %w", err)
		}
		return fmt.Sprintf("created %s; sent to %s", tap, strings.Join(rcpt, ", ")), nil
	case "targetDisable", "targetEnable":
		action := map[bool]string{true: store.HoldEnable, false: store.HoldDisable}[c.Task == "targetEnable"]
		changed, err := r.hold(ctx, e, store.Hold{Target: c.Target, Action: action})
		if err != nil {
			return "", err
		}
		if !changed {
			return fmt.Sprintf("already %sd in %s", action, c.Target), nil
		}
		return fmt.Sprintf("%s held in %s until SCIM changes the user's active state", action, c.Target), nil
	case "targetAddToGroups", "targetRemoveFromGroups", "targetRemoveFromAllGroups":
		return r.groupTask(ctx, e, c)
	case "reprovision":
		eng := r.engineOf()
		if eng == nil {
			return "", fmt.Errorf("%w: no engine", ErrPermanent)
		}
		if _, err := eng.ResyncObject(ctx, c.Target, targets.User, e.userID); err != nil {
			return "", fmt.Errorf("%w: %v", ErrPermanent, err)
		}
		return "re-provisioning queued in " + c.Target, nil
	}
	return "", fmt.Errorf("%w: unknown task %q", ErrPermanent, c.Task)
}

// hold sets h (its user, source and reason filled in) through the engine.
func (r *Runner) hold(ctx context.Context, e *env, h store.Hold) (bool, error) {
	eng := r.engineOf()
	if eng == nil {
		return false, fmt.Errorf("%w: no engine", ErrPermanent)
	}
	h.User, h.Source, h.Reason = e.userID, holdSource, "workflow "+e.w.Name()
	changed, err := eng.Hold(store.WithActor(ctx, "workflow "+e.w.Name()), h, false)
	if errors.Is(err, engine.ErrBadHold) || errors.Is(err, engine.ErrNotProvisioned) || errors.Is(err, engine.ErrUnknownTarget) ||
		errors.Is(err, store.ErrNotFound) {
		return false, fmt.Errorf("%w: %v", ErrPermanent, err)
	}
	return changed, err
}

// holdSource is the source of the holds of workflows.
const holdSource = "workflow"

// groupTask adds the user to, or removes it from, groups in a target: the
// groups named by the task (SCIM groups, by id or displayName), or every
// group the user is a member of in the target. Each membership is a hold
// that lapses when SCIM changes the user's membership of the group.
func (r *Runner) groupTask(ctx context.Context, e *env, c TaskConfig) (string, error) {
	action, verb := store.HoldAdd, "added to"
	if c.Task != "targetAddToGroups" {
		action, verb = store.HoldRemove, "removed from"
	}
	var gids []string
	if c.Task == "targetRemoveFromAllGroups" {
		var err error
		if gids, err = r.opts.Store.ProvisionedGroupsOf(ctx, c.Target, e.userID); err != nil {
			return "", err
		}
	}
	for _, g := range c.Groups {
		id, err := r.groupID(ctx, g)
		if err != nil {
			return "", err
		}
		gids = append(gids, id)
	}
	var changed []string
	for _, gid := range gids {
		ok, err := r.hold(ctx, e, store.Hold{Target: c.Target, Group: gid, Action: action})
		if err != nil {
			return "", fmt.Errorf("group %s: %w", gid, err)
		}
		if ok {
			changed = append(changed, gid)
		}
	}
	return fmt.Sprintf("%s %d of %d groups in %s %s", verb, len(changed), len(gids), c.Target, strings.Join(changed, ", ")), nil
}

// groupID returns the id of the SCIM group with id or displayName g.
func (r *Runner) groupID(ctx context.Context, g string) (string, error) {
	if _, err := r.opts.Store.Get(ctx, "Group", g); err == nil {
		return g, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return "", err
	}
	// Index paths and the values of case-insensitive attributes are
	// lower-case.
	ids, err := r.opts.Store.Find(ctx, "Group", store.Compare{Paths: []string{"displayname"}, Op: store.Eq, Str: strings.ToLower(g)})
	if err != nil {
		return "", err
	}
	switch len(ids) {
	case 0:
		return "", fmt.Errorf("%w: no SCIM group has the id or displayName %q", ErrPermanent, g)
	case 1:
		return ids[0], nil
	}
	return "", fmt.Errorf("%w: %d SCIM groups have the displayName %q: name it by id", ErrPermanent, len(ids), g)
}

// engineOf returns the engine of target tasks. RunDue holds r.mu.
func (r *Runner) engineOf() Engine { return r.engine }

func isDynamic(err error) bool {
	return strings.Contains(err.Error(), "dynamic group")
}

// webhook posts the signed payload of task t.
func (r *Runner) webhook(ctx context.Context, e *env, t *task, callbackURL string) (string, error) {
	idx := 0
	for i, x := range e.w.tasks {
		if x == t {
			idx = i
		}
	}
	body, err := e.payload(idx, callbackURL)
	if err != nil {
		return "", err
	}
	timeout := t.cfg.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrPermanent, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if t.secret != "" { // signed as every webhook of the gateway (notify.Sign)
		now := r.opts.Now()
		req.Header.Set(notify.TimestampHeader, strconv.FormatInt(now.Unix(), 10))
		req.Header.Set(notify.SignatureHeader, notify.Sign(t.secret, now, body))
	}
	resp, err := r.opts.HTTPClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("webhook: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	switch {
	case resp.StatusCode/100 == 2:
		return fmt.Sprintf("posted to %s: %s", t.cfg.URL, resp.Status), nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return "", fmt.Errorf("webhook: %s", resp.Status)
	}
	return "", fmt.Errorf("%w: webhook: %s", ErrPermanent, resp.Status)
}

type metrics struct {
	runs, tasks *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scimgate_workflow_runs_total",
			Help: "Workflow runs by workflow and outcome (created, done, failed, skipped).",
		}, []string{"workflow", "outcome"}),
		tasks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scimgate_workflow_tasks_total",
			Help: "Workflow task attempts by workflow, task and outcome (done, preview, retry, failed).",
		}, []string{"workflow", "task", "outcome"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.runs, m.tasks} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("workflow: metrics: %w", err)
			}
		}
	}
	return m, nil
}
