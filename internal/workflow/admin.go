package workflow

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/scimgate/scimgate/internal/store"
)

// TestResult is what a workflow would do for a user at a time.
type TestResult struct {
	Workflow string `json:"workflow"`
	User     Person `json:"user"`
	InScope  bool   `json:"inScope"`
	Enabled  bool   `json:"enabled"`
	// Due is when a time trigger is due for the user (zero: no date, or
	// not a time trigger); WouldRun says whether it runs at the time
	// tested, Reason why not.
	Due      time.Time  `json:"due,omitzero"`
	WouldRun bool       `json:"wouldRun"`
	Reason   string     `json:"reason,omitempty"`
	Tasks    []TaskPlan `json:"tasks"`
}

// Test returns what workflow name would do for user (an id) at time at:
// its tasks with the rendered emails and webhook payloads. It changes
// nothing, sends nothing and calls nothing.
func (r *Runner) Test(ctx context.Context, name, user string, at time.Time) (TestResult, error) {
	w := r.byName[name]
	if w == nil {
		return TestResult{}, fmt.Errorf("%w: %q", ErrUnknownWorkflow, name)
	}
	s, err := loadSubject(ctx, r.opts.Store.Get, r.opts.Store.MemberOf, user)
	if err != nil {
		return TestResult{}, err
	}
	if s == nil {
		return TestResult{}, fmt.Errorf("%w: user %q", store.ErrNotFound, user)
	}
	states, err := r.opts.Store.WorkflowStates(ctx)
	if err != nil {
		return TestResult{}, err
	}
	res := TestResult{Workflow: name, User: s.person, Enabled: r.enabled(w, states), Tasks: []TaskPlan{}}
	if res.InScope, err = w.inScope(s); err != nil {
		return TestResult{}, err
	}
	tr := Trigger{Kind: "onDemand", User: s.person, Manager: s.manager}
	switch tt := w.cfg.Trigger.Time; {
	case !res.InScope:
		res.Reason = "the user is not in the workflow's scope"
	case tt != nil:
		d, ok := dateOf(s, tt.Attribute)
		if !ok {
			res.Reason = "the user has no " + tt.Attribute
			break
		}
		res.Due = d.AddDate(0, 0, tt.OffsetDays)
		tr = Trigger{Kind: "time", Attribute: tt.Attribute, Date: d.Format(time.DateOnly), User: s.person, Manager: s.manager}
		switch late := at.Sub(res.Due); {
		case late < 0:
			res.Reason = fmt.Sprintf("due %s, in %s", res.Due.Format(time.RFC3339), (-late).Round(time.Minute))
		case late > w.window():
			res.Reason = fmt.Sprintf("due %s: beyond the window of %s, it would be skipped", res.Due.Format(time.RFC3339), w.window())
		default:
			res.WouldRun = true
		}
	case w.cfg.Trigger.Event != nil:
		ev := w.cfg.Trigger.Event
		tr = Trigger{Kind: "event", On: ev.On, Attribute: ev.Attribute, From: ev.From, To: ev.To, Group: ev.Group, User: s.person, Manager: s.manager}
		res.WouldRun = true
		res.Reason = "runs on the event " + ev.On
	default:
		res.WouldRun = true
	}
	if !res.Enabled {
		res.WouldRun = false
		res.Reason = "the workflow is disabled"
	}
	e, err := r.env(ctx, w, store.WorkflowRun{User: user}, tr)
	if err != nil {
		return TestResult{}, err
	}
	for i, t := range w.tasks {
		p, err := r.plan(ctx, e, i, t)
		if err != nil {
			p.Action = "fails: " + err.Error()
		}
		res.Tasks = append(res.Tasks, p)
	}
	return res, nil
}

// Upcoming is a workflow due for a user.
type Upcoming struct {
	Workflow string    `json:"workflow"`
	User     Person    `json:"user"`
	Due      time.Time `json:"due"`
	Tasks    []string  `json:"tasks"`
	Enabled  bool      `json:"enabled"`
}

// Upcoming returns the time-triggered workflows due in the coming days
// (and those already due), earliest first.
func (r *Runner) Upcoming(ctx context.Context, days int) ([]Upcoming, error) {
	scheds, err := r.opts.Store.WorkflowSchedules(ctx, store.WorkflowScheduleQuery{Before: r.opts.Now().AddDate(0, 0, days), Limit: 1000})
	if err != nil {
		return nil, err
	}
	states, err := r.opts.Store.WorkflowStates(ctx)
	if err != nil {
		return nil, err
	}
	out := []Upcoming{}
	for _, sc := range scheds {
		w := r.byName[sc.Workflow]
		if w == nil {
			continue
		}
		s, err := loadSubject(ctx, r.opts.Store.Get, r.opts.Store.MemberOf, sc.User)
		if err != nil {
			return nil, err
		}
		u := Upcoming{Workflow: sc.Workflow, User: Person{ID: sc.User}, Due: sc.Due, Enabled: r.enabled(w, states)}
		if s != nil {
			u.User = s.person
		}
		for _, t := range w.tasks {
			u.Tasks = append(u.Tasks, t.cfg.Task)
		}
		out = append(out, u)
	}
	return out, nil
}

// Info describes a configured workflow.
type Info struct {
	Config
	Enabled bool `json:"enabled"`
}

// Workflows lists the configured workflows with their effective state.
func (r *Runner) Workflows(ctx context.Context) ([]Info, error) {
	states, err := r.opts.Store.WorkflowStates(ctx)
	if err != nil {
		return nil, err
	}
	out := []Info{}
	for _, w := range r.wfs {
		out = append(out, Info{Config: w.cfg, Enabled: r.enabled(w, states)})
	}
	return out, nil
}

// SetEnabled enables or disables a workflow (audited with the actor of ctx).
func (r *Runner) SetEnabled(ctx context.Context, name string, on bool) error {
	if r.byName[name] == nil {
		return fmt.Errorf("%w: %q", ErrUnknownWorkflow, name)
	}
	return r.opts.Store.Write(ctx, func(ctx context.Context, tx store.Tx) error {
		if err := tx.SetWorkflowEnabled(ctx, name, &on); err != nil {
			return err
		}
		action := map[bool]string{true: "workflow enable", false: "workflow disable"}[on]
		return tx.Audit(ctx, store.AuditEntry{Actor: store.ActorOf(ctx), Action: action, ID: name, Result: store.AuditOK})
	})
}

// RunNow creates a run of workflow name for each user (ids), on demand,
// and returns their ids; RunDue executes them.
func (r *Runner) RunNow(ctx context.Context, name string, users []string) ([]int64, error) {
	w := r.byName[name]
	if w == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknownWorkflow, name)
	}
	now := r.opts.Now()
	var ids []int64
	err := r.opts.Store.Write(ctx, func(ctx context.Context, tx store.Tx) error {
		ids = ids[:0]
		for _, u := range users {
			s, err := loadSubject(ctx, tx.Get, tx.MemberOf, u)
			if err != nil {
				return err
			}
			if s == nil {
				return fmt.Errorf("%w: user %q", store.ErrNotFound, u)
			}
			tr := Trigger{Kind: "onDemand", By: store.ActorOf(ctx), User: s.person, Manager: s.manager}
			id, err := r.createRunStatus(ctx, tx, w, u, fmt.Sprintf("onDemand@%s", now.UTC().Format(time.RFC3339Nano)), tr, now, store.WorkflowPending, "")
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return nil
	})
	return ids, err
}

// Run is a run with its tasks.
type Run struct {
	store.WorkflowRun
	Trigger Trigger              `json:"trigger"`
	Tasks   []store.WorkflowTask `json:"tasks"`
}

// Run returns one run.
func (r *Runner) Run(ctx context.Context, id int64) (Run, error) {
	run, tasks, err := r.opts.Store.WorkflowRun(ctx, id)
	if err != nil {
		return Run{}, err
	}
	out := Run{WorkflowRun: run, Tasks: tasks}
	if err := json.Unmarshal(run.Trigger, &out.Trigger); err != nil {
		return Run{}, err
	}
	return out, nil
}

// Runs returns the runs of a workflow ("" any) for a user ("" any) with
// a status ("" any), newest first.
func (r *Runner) Runs(ctx context.Context, name, user, status string, limit int) ([]store.WorkflowRun, error) {
	if name != "" && r.byName[name] == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknownWorkflow, name)
	}
	return r.opts.Store.WorkflowRuns(ctx, store.WorkflowRunQuery{Workflow: name, User: user, Status: status, Limit: limit})
}

// RunCounts returns how many runs each workflow has, by status.
func (r *Runner) RunCounts(ctx context.Context) (map[string]map[string]int, error) {
	return r.opts.Store.WorkflowRunCounts(ctx)
}

// Retry makes a failed run pending again: its failed and skipped tasks
// run again from the first, with fresh attempts; done tasks are not
// repeated.
func (r *Runner) Retry(ctx context.Context, id int64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.opts.Now()
	return r.opts.Store.Write(ctx, func(ctx context.Context, tx store.Tx) error {
		run, tasks, err := tx.WorkflowRun(ctx, id)
		if err != nil {
			return err
		}
		if run.Status != store.WorkflowFailed {
			return fmt.Errorf("%w: run %d is %s", ErrNotRetryable, id, run.Status)
		}
		for _, k := range tasks {
			if k.Status == store.WorkflowFailed || k.Status == store.WorkflowSkipped {
				k.Status, k.Attempts, k.NextAt, k.Updated = store.WorkflowPending, 0, now, now
				if err := tx.UpdateWorkflowTask(ctx, k); err != nil {
					return err
				}
			}
		}
		run.Status, run.NextAt, run.Updated = store.WorkflowPending, now, now
		if err := tx.UpdateWorkflowRun(ctx, run); err != nil {
			return err
		}
		return tx.Audit(ctx, store.AuditEntry{Actor: store.ActorOf(ctx), Action: "workflow retry", Type: "User", ID: run.User,
			Result: store.AuditOK, Detail: fmt.Sprintf("workflow %s: run %d", run.Workflow, id)})
	})
}
