package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/internal/workflow"
)

// The lifecycle workflows of the admin API (docs/admin-api.md): listing,
// enabling and disabling them, running them on demand, their runs and
// retries, what they would do for a user (test) and who is due
// (upcoming). The runner audits every change with the actor of the
// request.

// AdminWorkflow is a Workflow of docs/admin-api.md.
type AdminWorkflow struct {
	Name     string                 `json:"name"`
	Category string                 `json:"category"`
	Scope    string                 `json:"scope,omitempty"`
	Trigger  workflow.TriggerConfig `json:"trigger"`
	// When describes the trigger: "7 days before employeeHireDate",
	// "on attributeChanged department", "on demand".
	When    string                `json:"when"`
	Enabled bool                  `json:"enabled"`
	Preview bool                  `json:"preview"`
	Runs    map[string]int        `json:"runs"` // by status
	Tasks   []workflow.TaskConfig `json:"tasks"`
}

// AdminWorkflowRun is a WorkflowRun of docs/admin-api.md.
type AdminWorkflowRun struct {
	ID         int64               `json:"id"`
	Workflow   string              `json:"workflow"`
	User       workflow.Person     `json:"user"`
	Occurrence string              `json:"occurrence"`
	Status     string              `json:"status"`
	Preview    bool                `json:"preview"`
	Trigger    workflow.Trigger    `json:"trigger"`
	NextAt     *time.Time          `json:"nextAt,omitempty"`
	Created    time.Time           `json:"created"`
	Updated    time.Time           `json:"updated"`
	Tasks      []AdminWorkflowTask `json:"tasks,omitempty"` // GET /workflow-runs/{id} only
}

// AdminWorkflowTask is a task of an AdminWorkflowRun.
type AdminWorkflowTask struct {
	Index     int        `json:"index"`
	Task      string     `json:"task"`
	Status    string     `json:"status"`
	Attempts  int        `json:"attempts"`
	NextAt    *time.Time `json:"nextAt,omitempty"`
	Updated   time.Time  `json:"updated"`
	Result    string     `json:"result,omitempty"`
	LastError string     `json:"lastError,omitempty"`
}

// errNoWorkflows answers the workflow calls of a gateway without
// workflows.
var errNoWorkflows = &adminError{status: http.StatusNotFound,
	msg: "no workflows are configured (the workflows section; see examples/workflows.yaml)"}

// workflowStatuses are the statuses of runs and tasks.
var workflowStatuses = []string{store.WorkflowPending, store.WorkflowRunning, store.WorkflowDone, store.WorkflowFailed, store.WorkflowSkipped}

func (h *adminHandler) runner() (*workflow.Runner, error) {
	if h.g.runner == nil {
		return nil, errNoWorkflows
	}
	return h.g.runner, nil
}

// describeTrigger says when a workflow runs.
func describeTrigger(t workflow.TriggerConfig) string {
	switch {
	case t.Time != nil:
		d := t.Time.OffsetDays
		switch {
		case d == 0:
			return "on " + t.Time.Attribute
		case d < 0:
			return fmt.Sprintf("%d days before %s", -d, t.Time.Attribute)
		}
		return fmt.Sprintf("%d days after %s", d, t.Time.Attribute)
	case t.Event != nil:
		s := "on " + t.Event.On
		if t.Event.Attribute != "" {
			s += " " + t.Event.Attribute
		}
		if t.Event.From != "" {
			s += fmt.Sprintf(" from %q", t.Event.From)
		}
		if t.Event.To != "" {
			s += fmt.Sprintf(" to %q", t.Event.To)
		}
		if t.Event.Group != "" {
			s += " " + t.Event.Group
		}
		return s
	}
	return "on demand"
}

// workflowList returns the workflows, named one only when name is not "".
func (h *adminHandler) workflowList(r *http.Request, name string) ([]AdminWorkflow, error) {
	rn, err := h.runner()
	if err != nil {
		return nil, err
	}
	infos, err := rn.Workflows(r.Context())
	if err != nil {
		return nil, err
	}
	counts, err := rn.RunCounts(r.Context())
	if err != nil {
		return nil, err
	}
	out := []AdminWorkflow{}
	for _, in := range infos {
		if name != "" && in.Name != name {
			continue
		}
		runs := map[string]int{}
		for _, s := range workflowStatuses {
			runs[s] = counts[in.Name][s]
		}
		out = append(out, AdminWorkflow{Name: in.Name, Category: in.Category, Scope: in.Scope, Trigger: in.Trigger,
			When: describeTrigger(in.Trigger), Enabled: in.Enabled, Preview: in.Preview, Runs: runs, Tasks: in.Tasks})
	}
	if name != "" && len(out) == 0 {
		return nil, fmt.Errorf("%w: %q", workflow.ErrUnknownWorkflow, name)
	}
	return out, nil
}

func (h *adminHandler) workflows(r *http.Request) (any, error) {
	ws, err := h.workflowList(r, "")
	if err != nil {
		return nil, err
	}
	return map[string]any{"workflows": ws}, nil
}

func (h *adminHandler) workflow(r *http.Request) (any, error) {
	ws, err := h.workflowList(r, r.PathValue("name"))
	if err != nil {
		return nil, err
	}
	return ws[0], nil
}

func (h *adminHandler) workflowEnable(r *http.Request) (any, error)  { return h.setWorkflow(r, true) }
func (h *adminHandler) workflowDisable(r *http.Request) (any, error) { return h.setWorkflow(r, false) }

func (h *adminHandler) setWorkflow(r *http.Request, on bool) (any, error) {
	rn, err := h.runner()
	if err != nil {
		return nil, err
	}
	if err := rn.SetEnabled(r.Context(), r.PathValue("name"), on); err != nil {
		return nil, err
	}
	return h.workflow(r)
}

// workflowUser resolves a user given by id or userName to its id.
func (h *adminHandler) workflowUser(r *http.Request, key string) (string, error) {
	if key == "" {
		return "", badRequest("user: required (an id or userName)")
	}
	ids, err := h.types["User"].Lookup(r.Context(), h.g.store, key)
	if err != nil {
		return "", err
	}
	switch {
	case slices.Contains(ids, key):
		return key, nil
	case len(ids) == 1:
		return ids[0], nil
	case len(ids) == 0:
		return "", &adminError{status: http.StatusNotFound, msg: fmt.Sprintf("no user has the id or userName %q", key)}
	}
	return "", badRequest("%q is ambiguous: it is the userName of users %s; give the id", key, strings.Join(ids, ", "))
}

// workflowRunNow creates a run of the workflow for each user of the body
// {"users": [id or userName, ...]} and answers them; the runner starts
// them at once.
func (h *adminHandler) workflowRunNow(r *http.Request) (any, error) {
	rn, err := h.runner()
	if err != nil {
		return nil, err
	}
	var body struct {
		Users []string `json:"users"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		return nil, badRequest("the body must be {\"users\": [id or userName, ...]}: %v", err)
	}
	if len(body.Users) == 0 || len(body.Users) > adminMaxLimit {
		return nil, badRequest("users: give 1 to %d users (ids or userNames)", adminMaxLimit)
	}
	ids := make([]string, len(body.Users))
	for i, u := range body.Users {
		if ids[i], err = h.workflowUser(r, u); err != nil {
			return nil, err
		}
	}
	runs, err := rn.RunNow(r.Context(), r.PathValue("name"), ids)
	if err != nil {
		return nil, err
	}
	rn.Wake()
	out := make([]AdminWorkflowRun, 0, len(runs))
	for _, id := range runs {
		run, err := rn.Run(r.Context(), id)
		if err != nil {
			return nil, err
		}
		out = append(out, adminRun(run.WorkflowRun, run.Trigger, nil))
	}
	return map[string]any{"runs": out}, nil
}

// adminRun is the admin API's form of a run.
func adminRun(run store.WorkflowRun, tr workflow.Trigger, tasks []store.WorkflowTask) AdminWorkflowRun {
	u := tr.User
	if u.ID == "" {
		u.ID = run.User
	}
	out := AdminWorkflowRun{ID: run.ID, Workflow: run.Workflow, User: u, Occurrence: run.Occurrence, Status: run.Status,
		Preview: run.Preview, Trigger: tr, NextAt: timeOpt(run.NextAt), Created: run.Created.UTC(), Updated: run.Updated.UTC()}
	out.Trigger.User = workflow.Person{} // in User
	for _, k := range tasks {
		out.Tasks = append(out.Tasks, AdminWorkflowTask{Index: k.Index, Task: k.Kind, Status: k.Status, Attempts: k.Attempts,
			NextAt: timeOpt(k.NextAt), Updated: k.Updated.UTC(), Result: k.Result, LastError: k.LastError})
	}
	return out
}

func (h *adminHandler) workflowRuns(r *http.Request) (any, error) {
	rn, err := h.runner()
	if err != nil {
		return nil, err
	}
	n, err := limit(r)
	if err != nil {
		return nil, err
	}
	status := r.URL.Query().Get("status")
	if status != "" && !slices.Contains(workflowStatuses, status) {
		return nil, badRequest("status: %q: want one of %s", status, strings.Join(workflowStatuses, ", "))
	}
	user := ""
	if u := r.URL.Query().Get("user"); u != "" {
		if user, err = h.workflowUser(r, u); err != nil {
			return nil, err
		}
	}
	runs, err := rn.Runs(r.Context(), r.PathValue("name"), user, status, n)
	if err != nil {
		return nil, err
	}
	out := make([]AdminWorkflowRun, 0, len(runs))
	for _, run := range runs {
		var tr workflow.Trigger
		if err := json.Unmarshal(run.Trigger, &tr); err != nil {
			return nil, fmt.Errorf("run %d: %w", run.ID, err)
		}
		out = append(out, adminRun(run, tr, nil))
	}
	return map[string]any{"runs": out}, nil
}

// runID reads the {id} of a run.
func runID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		return 0, badRequest("%q is not a run id (a positive integer)", r.PathValue("id"))
	}
	return id, nil
}

func (h *adminHandler) workflowRun(r *http.Request) (any, error) {
	rn, err := h.runner()
	if err != nil {
		return nil, err
	}
	id, err := runID(r)
	if err != nil {
		return nil, err
	}
	run, err := rn.Run(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, &adminError{status: http.StatusNotFound, msg: fmt.Sprintf("no workflow run %d", id)}
	}
	if err != nil {
		return nil, err
	}
	return adminRun(run.WorkflowRun, run.Trigger, run.Tasks), nil
}

func (h *adminHandler) workflowRetry(r *http.Request) (any, error) {
	rn, err := h.runner()
	if err != nil {
		return nil, err
	}
	id, err := runID(r)
	if err != nil {
		return nil, err
	}
	if err := rn.Retry(r.Context(), id); errors.Is(err, store.ErrNotFound) {
		return nil, &adminError{status: http.StatusNotFound, msg: fmt.Sprintf("no workflow run %d", id)}
	} else if err != nil {
		return nil, err
	}
	rn.Wake()
	return h.workflowRun(r)
}

// workflowTest answers what the workflow would do for ?user= at ?at= (a
// date, 2026-01-01, or an RFC 3339 time; default now), touching nothing.
func (h *adminHandler) workflowTest(r *http.Request) (any, error) {
	rn, err := h.runner()
	if err != nil {
		return nil, err
	}
	user, err := h.workflowUser(r, r.URL.Query().Get("user"))
	if err != nil {
		return nil, err
	}
	at := time.Now()
	if s := r.URL.Query().Get("at"); s != "" {
		if at, err = time.Parse(time.DateOnly, s); err != nil {
			if at, err = time.Parse(time.RFC3339, s); err != nil {
				return nil, badRequest("at: %q: want a date (2026-01-01) or an RFC 3339 time", s)
			}
		}
	}
	return rn.Test(r.Context(), r.PathValue("name"), user, at)
}

// workflowsUpcoming answers the time-triggered workflows due in the next
// ?days= (default 14, at most 3660) days.
func (h *adminHandler) workflowsUpcoming(r *http.Request) (any, error) {
	rn, err := h.runner()
	if err != nil {
		return nil, err
	}
	days := 14
	if s := r.URL.Query().Get("days"); s != "" {
		if days, err = strconv.Atoi(s); err != nil || days < 0 || days > 3660 {
			return nil, badRequest("days: must be an integer from 0 to 3660")
		}
	}
	up, err := rn.Upcoming(r.Context(), days)
	if err != nil {
		return nil, err
	}
	return map[string]any{"days": days, "upcoming": up}, nil
}
