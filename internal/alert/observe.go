package alert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/scimgate/scimgate/internal/entra"
	"github.com/scimgate/scimgate/internal/store"
)

// The keys of privilegedGroup alerts: "scim:" or "entra:" + group id +
// "/" + member id.
const (
	scimPrefix  = "scim:"
	entraPrefix = "entra:"
)

// ObserveChanges raises the privilegedGroup alerts of the SCIM members
// added to a watched group, and resolves those of the members removed, in
// the engine's planning transaction tx: each change is seen once. Call it
// from engine.Options.OnChanges (see engine.ChainChanges).
func (e *Evaluator) ObserveChanges(ctx context.Context, tx store.Tx, changes []store.Change) error {
	now := e.opts.Now()
	for _, r := range e.rules {
		if r.cfg.Kind != KindPrivilegedGroup || len(r.groups) == 0 {
			continue
		}
		for _, c := range changes {
			if c.Type != "Group" {
				continue
			}
			for _, m := range c.Removed {
				if err := e.resolve(ctx, tx, r, scimPrefix+c.ID+"/"+m, now); err != nil {
					return err
				}
			}
			if len(c.Added) == 0 {
				continue
			}
			name, ok, err := resourceName(ctx, tx, "Group", c.ID)
			if err != nil {
				return err
			}
			if !ok || (!r.groups[strings.ToLower(c.ID)] && !r.groups[strings.ToLower(name)]) {
				continue
			}
			for _, m := range c.Added {
				user, _, err := resourceName(ctx, tx, "User", m)
				if err != nil {
					return err
				}
				ev := Event{Key: scimPrefix + c.ID + "/" + m, Source: "SCIM", Group: name, GroupID: c.ID, User: user, UserID: m,
					Summary: fmt.Sprintf("%s was added to the watched group %s (SCIM)", user, name)}
				if err := e.raise(ctx, tx, r, ev, now); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// resourceName returns a SCIM resource's userName, else displayName, else
// id; ok is false when there is no such resource.
func resourceName(ctx context.Context, tx store.Tx, typ, id string) (string, bool, error) {
	res, err := tx.Get(ctx, typ, id)
	if errors.Is(err, store.ErrNotFound) {
		return id, false, nil
	}
	if err != nil {
		return "", false, err
	}
	var v struct {
		UserName    string `json:"userName"`
		DisplayName string `json:"displayName"`
	}
	if err := json.Unmarshal(res.Data, &v); err != nil {
		return "", false, fmt.Errorf("alert: %s %s: %w", typ, id, err)
	}
	switch {
	case v.UserName != "":
		return v.UserName, true, nil
	case v.DisplayName != "":
		return v.DisplayName, true, nil
	}
	return id, true, nil
}

// ObserveTaskFailed raises the workflowTaskFailed alerts of a task that
// failed for good (the workflow runner calls it with the run and the
// task it saved as failed). The alert is resolved when the task is no
// longer failed (a retry of the run) or the run is gone.
func (e *Evaluator) ObserveTaskFailed(ctx context.Context, run store.WorkflowRun, task store.WorkflowTask) error {
	now := e.opts.Now()
	var rules []*rule
	for _, r := range e.rules {
		if r.cfg.Kind == KindWorkflowTaskFailed && (len(r.cfg.Workflows) == 0 || slices.Contains(r.cfg.Workflows, run.Workflow)) {
			rules = append(rules, r)
		}
	}
	if len(rules) == 0 {
		return nil
	}
	user := run.User
	if res, err := e.opts.Store.Get(ctx, "User", run.User); err == nil {
		var v struct {
			UserName string `json:"userName"`
		}
		if json.Unmarshal(res.Data, &v) == nil && v.UserName != "" {
			user = v.UserName
		}
	}
	ev := Event{Key: taskKey(run.Workflow, run.ID, task.Index), Workflow: run.Workflow, Run: run.ID, TaskIndex: task.Index,
		Task: task.Kind, User: user, UserID: run.User, Error: shorten(task.LastError),
		Summary: fmt.Sprintf("task %d (%s) of workflow %s failed for %s", task.Index, task.Kind, run.Workflow, user)}
	return e.opts.Store.Write(ctx, func(ctx context.Context, tx store.Tx) error {
		for _, r := range rules {
			if err := e.raise(ctx, tx, r, ev, now); err != nil {
				return err
			}
		}
		return nil
	})
}

func taskKey(workflow string, run int64, index int) string {
	return workflow + "/" + strconv.FormatInt(run, 10) + "/" + strconv.Itoa(index)
}

// evaluateTasks resolves the workflowTaskFailed alerts whose task is no
// longer failed.
func (e *Evaluator) evaluateTasks(ctx context.Context, r *rule, now time.Time) error {
	active, err := e.opts.Store.Alerts(ctx, store.AlertQuery{Rule: r.name, Active: true})
	if err != nil {
		return err
	}
	var gone []string
	for _, a := range active {
		var ev Event
		if err := json.Unmarshal(a.Detail, &ev); err != nil {
			return fmt.Errorf("alert %s: %w", a.Key, err)
		}
		_, tasks, err := e.opts.Store.WorkflowRun(ctx, ev.Run)
		switch {
		case errors.Is(err, store.ErrNotFound):
			gone = append(gone, a.Key)
		case err != nil:
			return err
		case ev.TaskIndex >= len(tasks) || tasks[ev.TaskIndex].Status != store.WorkflowFailed:
			gone = append(gone, a.Key)
		}
	}
	if len(gone) == 0 {
		return nil
	}
	return e.opts.Store.Write(ctx, func(ctx context.Context, tx store.Tx) error {
		for _, k := range gone {
			if err := e.resolve(ctx, tx, r, k, now); err != nil {
				return err
			}
		}
		return nil
	})
}

// evaluateEntra compares the members of r's watched Entra groups with
// those seen the last time (kept in the store): the members added raise
// alerts, and the alerts of members no longer there are resolved. The
// first reading of a group only records its members.
func (e *Evaluator) evaluateEntra(ctx context.Context, r *rule, now time.Time) error {
	var errs []error
	for _, gid := range r.cfg.EntraGroups {
		if err := e.evaluateEntraGroup(ctx, r, gid, now); err != nil {
			errs = append(errs, fmt.Errorf("entra group %s: %w", gid, err))
		}
	}
	return errors.Join(errs...)
}

func (e *Evaluator) evaluateEntraGroup(ctx context.Context, r *rule, gid string, now time.Time) error {
	members, err := e.opts.Entra.ListMembers(ctx, gid)
	if err != nil {
		return err
	}
	current := map[string]entra.Object{}
	ids := []string{}
	for _, m := range members {
		current[m.ID] = m
		ids = append(ids, m.ID)
	}
	slices.Sort(ids)
	active, err := e.opts.Store.Alerts(ctx, store.AlertQuery{Rule: r.name, Active: true})
	if err != nil {
		return err
	}
	prefix := entraPrefix + gid + "/"
	var gone []string
	for _, a := range active {
		if m, ok := strings.CutPrefix(a.Key, prefix); ok && current[m].ID == "" {
			gone = append(gone, a.Key)
		}
	}
	state := "privilegedGroup/" + r.name + "/" + gid
	var seen []string
	first := false
	err = e.opts.Store.Write(ctx, func(ctx context.Context, tx store.Tx) error {
		b, err := tx.AlertState(ctx, state)
		if first = errors.Is(err, store.ErrNotFound); first || err != nil {
			return err
		}
		return json.Unmarshal(b, &seen)
	})
	if err != nil && !first {
		return fmt.Errorf("last seen members: %w", err)
	}
	var added []Event
	for _, id := range ids {
		if first || slices.Contains(seen, id) {
			continue
		}
		m := current[id]
		user := m.UserPrincipalName
		if user == "" {
			user = cmpOr(m.DisplayName, id)
		}
		added = append(added, Event{Key: prefix + id, Source: "Entra", GroupID: gid, User: user, UserID: id})
	}
	if len(added) > 0 { // name the group (outside the transaction)
		name := gid
		if g, err := e.opts.Entra.Group(ctx, gid); err == nil && g.DisplayName != "" {
			name = g.DisplayName
		}
		for i := range added {
			added[i].Group = name
			added[i].Summary = fmt.Sprintf("%s was added to the watched Entra group %s", added[i].User, name)
		}
	}
	return e.opts.Store.Write(ctx, func(ctx context.Context, tx store.Tx) error {
		for _, ev := range added {
			if err := e.raise(ctx, tx, r, ev, now); err != nil {
				return err
			}
		}
		for _, k := range gone {
			if err := e.resolve(ctx, tx, r, k, now); err != nil {
				return err
			}
		}
		nb, err := json.Marshal(ids)
		if err != nil {
			return err
		}
		return tx.PutAlertState(ctx, state, nb)
	})
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
