package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/scimgate/scimgate/internal/store"
)

const (
	wfRunCols     = "id, workflow, user_id, occurrence, status, preview, trig, next_at, created, updated"
	wfTaskCols    = "run, idx, kind, status, attempts, next_at, last_error, result, updated"
	wfAddRunSQL   = "INSERT INTO workflow_runs (workflow, user_id, occurrence, status, preview, trig, next_at, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (workflow, user_id, occurrence) DO NOTHING"
	wfRunIDSQL    = "SELECT id FROM workflow_runs WHERE workflow = ? AND user_id = ? AND occurrence = ?"
	wfAddTaskSQL  = "INSERT INTO workflow_tasks (" + wfTaskCols + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
	wfUpdRunSQL   = "UPDATE workflow_runs SET status = ?, next_at = ?, updated = ? WHERE id = ?"
	wfUpdTaskSQL  = "UPDATE workflow_tasks SET status = ?, attempts = ?, next_at = ?, last_error = ?, result = ?, updated = ? WHERE run = ? AND idx = ?"
	wfGetRunSQL   = "SELECT " + wfRunCols + " FROM workflow_runs WHERE id = ?"
	wfTasksSQL    = "SELECT " + wfTaskCols + " FROM workflow_tasks WHERE run = ? ORDER BY idx"
	wfGetSchedSQL = "SELECT workflow, user_id, occurrence, due FROM workflow_schedule WHERE workflow = ? AND user_id = ?"
	wfPutSchedSQL = "INSERT INTO workflow_schedule (workflow, user_id, occurrence, due) VALUES (?, ?, ?, ?)" +
		" ON CONFLICT (workflow, user_id) DO UPDATE SET occurrence = excluded.occurrence, due = excluded.due"
	wfDelSchedSQL = "DELETE FROM workflow_schedule WHERE workflow = ? AND user_id = ?"
	wfGetSnapSQL  = "SELECT data FROM workflow_snapshots WHERE user_id = ?"
	wfPutSnapSQL  = "INSERT INTO workflow_snapshots (user_id, data) VALUES (?, ?) ON CONFLICT (user_id) DO UPDATE SET data = excluded.data"
	wfDelSnapSQL  = "DELETE FROM workflow_snapshots WHERE user_id = ?"
	wfSetStateSQL = "INSERT INTO workflow_state (workflow, enabled) VALUES (?, ?) ON CONFLICT (workflow) DO UPDATE SET enabled = excluded.enabled"
	wfDelStateSQL = "DELETE FROM workflow_state WHERE workflow = ?"
	wfStatesSQL   = "SELECT workflow, enabled FROM workflow_state"
)

// CreateWorkflowRun implements Tx.
func (t *sqlTx) CreateWorkflowRun(ctx context.Context, r *store.WorkflowRun, tasks []store.WorkflowTask) (bool, error) {
	ctx, err := t.begin(ctx)
	if err != nil {
		return false, err
	}
	if r.Workflow == "" || r.User == "" || r.Occurrence == "" || r.Status == "" {
		return false, errors.New("store: workflow run: workflow, user, occurrence and status are required")
	}
	id, inserted, err := t.w.insert(ctx, wfAddRunSQL, "id", r.Workflow, r.User, r.Occurrence, r.Status, boolInt(r.Preview), data(r.Trigger),
		timeText(r.NextAt), r.Created.UTC().Format(store.TimeFormat), r.Updated.UTC().Format(store.TimeFormat))
	if err != nil {
		return false, fmt.Errorf("store: workflow run: %w", err)
	}
	if !inserted {
		if err := t.w.queryRow(ctx, wfRunIDSQL, r.Workflow, r.User, r.Occurrence).Scan(&r.ID); err != nil {
			return false, fmt.Errorf("store: workflow run: %w", err)
		}
		return false, nil
	}
	r.ID = id
	for i := range tasks {
		k := &tasks[i]
		k.Run = r.ID
		if _, err := t.w.exec(ctx, wfAddTaskSQL, k.Run, k.Index, k.Kind, k.Status, k.Attempts, timeText(k.NextAt),
			k.LastError, k.Result, timeText(k.Updated)); err != nil {
			return false, fmt.Errorf("store: workflow task: %w", err)
		}
	}
	return true, nil
}

// UpdateWorkflowRun implements Tx.
func (t *sqlTx) UpdateWorkflowRun(ctx context.Context, r store.WorkflowRun) error {
	return t.execRow(ctx, "workflow run", fmt.Sprintf("workflow run %d", r.ID), wfUpdRunSQL,
		r.Status, timeText(r.NextAt), timeText(r.Updated), r.ID)
}

// UpdateWorkflowTask implements Tx.
func (t *sqlTx) UpdateWorkflowTask(ctx context.Context, k store.WorkflowTask) error {
	return t.execRow(ctx, "workflow task", fmt.Sprintf("task %d of workflow run %d", k.Index, k.Run), wfUpdTaskSQL,
		k.Status, k.Attempts, timeText(k.NextAt), k.LastError, k.Result, timeText(k.Updated), k.Run, k.Index)
}

// execRow runs one statement that must change a row, else ErrNotFound.
func (t *sqlTx) execRow(ctx context.Context, what, row, q string, args ...any) error {
	ctx, err := t.begin(ctx)
	if err != nil {
		return err
	}
	res, err := t.w.exec(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	} else if n == 0 {
		return fmt.Errorf("%w: %s", store.ErrNotFound, row)
	}
	return nil
}

// WorkflowRun implements Tx.
func (t *sqlTx) WorkflowRun(ctx context.Context, id int64) (store.WorkflowRun, []store.WorkflowTask, error) {
	ctx, err := t.begin(ctx)
	if err != nil {
		return store.WorkflowRun{}, nil, err
	}
	return workflowRun(ctx, t.w, id)
}

// WorkflowRun implements Store.
func (s *SQL) WorkflowRun(ctx context.Context, id int64) (r store.WorkflowRun, ts []store.WorkflowTask, err error) {
	err = s.read(ctx, func(ctx context.Context, c *conn) error {
		r, ts, err = workflowRun(ctx, c, id)
		return err
	})
	return r, ts, err
}

func workflowRun(ctx context.Context, c *conn, id int64) (store.WorkflowRun, []store.WorkflowTask, error) {
	r, err := scanWorkflowRun(c.queryRow(ctx, wfGetRunSQL, id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.WorkflowRun{}, nil, fmt.Errorf("%w: workflow run %d", store.ErrNotFound, id)
	}
	if err != nil {
		return store.WorkflowRun{}, nil, fmt.Errorf("store: workflow run: %w", err)
	}
	rows, err := c.query(ctx, wfTasksSQL, id)
	if err != nil {
		return store.WorkflowRun{}, nil, fmt.Errorf("store: workflow tasks: %w", err)
	}
	defer rows.Close()
	ts := []store.WorkflowTask{}
	for rows.Next() {
		var k store.WorkflowTask
		var next, updated string
		if err := rows.Scan(&k.Run, &k.Index, &k.Kind, &k.Status, &k.Attempts, &next, &k.LastError, &k.Result, &updated); err != nil {
			return store.WorkflowRun{}, nil, fmt.Errorf("store: workflow tasks: %w", err)
		}
		if k.NextAt, err = parseTimeText(next); err == nil {
			k.Updated, err = parseTimeText(updated)
		}
		if err != nil {
			return store.WorkflowRun{}, nil, fmt.Errorf("store: workflow tasks: %w", err)
		}
		ts = append(ts, k)
	}
	if err := rows.Err(); err != nil {
		return store.WorkflowRun{}, nil, fmt.Errorf("store: workflow tasks: %w", err)
	}
	return r, ts, nil
}

func scanWorkflowRun(row scanner) (store.WorkflowRun, error) {
	var r store.WorkflowRun
	var preview int
	var next, created, updated string
	if err := row.Scan(&r.ID, &r.Workflow, &r.User, &r.Occurrence, &r.Status, &preview, &r.Trigger, &next, &created, &updated); err != nil {
		return store.WorkflowRun{}, err
	}
	r.Preview = preview != 0
	var err error
	if r.NextAt, err = parseTimeText(next); err == nil {
		if r.Created, err = parseTimeText(created); err == nil {
			r.Updated, err = parseTimeText(updated)
		}
	}
	return r, err
}

// parseTimeText parses a time column written by timeText.
func parseTimeText(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(store.TimeFormat, s)
}

// WorkflowRuns implements Store.
func (s *SQL) WorkflowRuns(ctx context.Context, q store.WorkflowRunQuery) (out []store.WorkflowRun, err error) {
	stmt := "SELECT " + wfRunCols + " FROM workflow_runs WHERE 1 = 1"
	var args []any
	if q.Workflow != "" {
		stmt += " AND workflow = ?"
		args = append(args, q.Workflow)
	}
	if q.User != "" {
		stmt += " AND user_id = ?"
		args = append(args, q.User)
	}
	if q.Status != "" {
		stmt += " AND status = ?"
		args = append(args, q.Status)
	}
	if !q.Due.IsZero() {
		stmt += " AND status IN ('" + store.WorkflowPending + "', '" + store.WorkflowRunning + "') AND next_at <= ? ORDER BY next_at, id"
		args = append(args, q.Due.UTC().Format(store.TimeFormat))
	} else {
		stmt += " ORDER BY id DESC"
	}
	stmt += " LIMIT " + limitArg
	args = append(args, max(q.Limit, 1))
	err = s.read(ctx, func(ctx context.Context, c *conn) error {
		rows, err := c.query(ctx, stmt, args...)
		if err != nil {
			return fmt.Errorf("store: workflow runs: %w", err)
		}
		defer rows.Close()
		out = []store.WorkflowRun{}
		for rows.Next() {
			r, err := scanWorkflowRun(rows)
			if err != nil {
				return fmt.Errorf("store: workflow runs: %w", err)
			}
			out = append(out, r)
		}
		return rows.Err()
	})
	return out, err
}

// WorkflowRunCounts implements Store.
func (s *SQL) WorkflowRunCounts(ctx context.Context) (out map[string]map[string]int, err error) {
	err = s.read(ctx, func(ctx context.Context, c *conn) error {
		rows, err := c.query(ctx, "SELECT workflow, status, COUNT(*) FROM workflow_runs GROUP BY workflow, status")
		if err != nil {
			return fmt.Errorf("store: workflow run counts: %w", err)
		}
		defer rows.Close()
		out = map[string]map[string]int{}
		for rows.Next() {
			var wf, status string
			var n int
			if err := rows.Scan(&wf, &status, &n); err != nil {
				return fmt.Errorf("store: workflow run counts: %w", err)
			}
			if out[wf] == nil {
				out[wf] = map[string]int{}
			}
			out[wf][status] = n
		}
		return rows.Err()
	})
	return out, err
}

// WorkflowSchedule implements Tx.
func (t *sqlTx) WorkflowSchedule(ctx context.Context, workflow, user string) (store.WorkflowSchedule, error) {
	ctx, err := t.begin(ctx)
	if err != nil {
		return store.WorkflowSchedule{}, err
	}
	sc, err := scanSchedule(t.w.queryRow(ctx, wfGetSchedSQL, workflow, user))
	if errors.Is(err, sql.ErrNoRows) {
		return store.WorkflowSchedule{}, fmt.Errorf("%w: schedule of workflow %q for %q", store.ErrNotFound, workflow, user)
	}
	if err != nil {
		return store.WorkflowSchedule{}, fmt.Errorf("store: workflow schedule: %w", err)
	}
	return sc, nil
}

func scanSchedule(row scanner) (store.WorkflowSchedule, error) {
	var sc store.WorkflowSchedule
	var due string
	if err := row.Scan(&sc.Workflow, &sc.User, &sc.Occurrence, &due); err != nil {
		return store.WorkflowSchedule{}, err
	}
	var err error
	sc.Due, err = time.Parse(store.TimeFormat, due)
	return sc, err
}

// PutWorkflowSchedule implements Tx.
func (t *sqlTx) PutWorkflowSchedule(ctx context.Context, sc store.WorkflowSchedule) error {
	if sc.Workflow == "" || sc.User == "" || sc.Occurrence == "" {
		return errors.New("store: workflow schedule: workflow, user and occurrence are required")
	}
	return t.execTx(ctx, "workflow schedule", wfPutSchedSQL, sc.Workflow, sc.User, sc.Occurrence, sc.Due.UTC().Format(store.TimeFormat))
}

// DeleteWorkflowSchedule implements Tx.
func (t *sqlTx) DeleteWorkflowSchedule(ctx context.Context, workflow, user string) error {
	return t.execTx(ctx, "workflow schedule", wfDelSchedSQL, workflow, user)
}

// WorkflowSchedules implements Store.
func (s *SQL) WorkflowSchedules(ctx context.Context, q store.WorkflowScheduleQuery) (out []store.WorkflowSchedule, err error) {
	stmt := "SELECT workflow, user_id, occurrence, due FROM workflow_schedule WHERE 1 = 1"
	var args []any
	if q.Workflow != "" {
		stmt += " AND workflow = ?"
		args = append(args, q.Workflow)
	}
	if q.User != "" {
		stmt += " AND user_id = ?"
		args = append(args, q.User)
	}
	if !q.Before.IsZero() {
		stmt += " AND due < ?"
		args = append(args, q.Before.UTC().Format(store.TimeFormat))
	}
	stmt += " ORDER BY due, workflow, user_id LIMIT " + limitArg
	args = append(args, max(q.Limit, 1))
	err = s.read(ctx, func(ctx context.Context, c *conn) error {
		rows, err := c.query(ctx, stmt, args...)
		if err != nil {
			return fmt.Errorf("store: workflow schedules: %w", err)
		}
		defer rows.Close()
		out = []store.WorkflowSchedule{}
		for rows.Next() {
			sc, err := scanSchedule(rows)
			if err != nil {
				return fmt.Errorf("store: workflow schedules: %w", err)
			}
			out = append(out, sc)
		}
		return rows.Err()
	})
	return out, err
}

// WorkflowSnapshot implements Tx.
func (t *sqlTx) WorkflowSnapshot(ctx context.Context, user string) ([]byte, error) {
	ctx, err := t.begin(ctx)
	if err != nil {
		return nil, err
	}
	var b []byte
	err = t.w.queryRow(ctx, wfGetSnapSQL, user).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: workflow snapshot of %q", store.ErrNotFound, user)
	}
	if err != nil {
		return nil, fmt.Errorf("store: workflow snapshot: %w", err)
	}
	return b, nil
}

// PutWorkflowSnapshot implements Tx.
func (t *sqlTx) PutWorkflowSnapshot(ctx context.Context, user string, b []byte) error {
	return t.execTx(ctx, "workflow snapshot", wfPutSnapSQL, user, data(b))
}

// DeleteWorkflowSnapshot implements Tx.
func (t *sqlTx) DeleteWorkflowSnapshot(ctx context.Context, user string) error {
	return t.execTx(ctx, "workflow snapshot", wfDelSnapSQL, user)
}

// SetWorkflowEnabled implements Tx.
func (t *sqlTx) SetWorkflowEnabled(ctx context.Context, workflow string, enabled *bool) error {
	if enabled == nil {
		return t.execTx(ctx, "workflow state", wfDelStateSQL, workflow)
	}
	return t.execTx(ctx, "workflow state", wfSetStateSQL, workflow, boolInt(*enabled))
}

// WorkflowStates implements Tx.
func (t *sqlTx) WorkflowStates(ctx context.Context) (map[string]bool, error) {
	ctx, err := t.begin(ctx)
	if err != nil {
		return nil, err
	}
	return workflowStates(ctx, t.w)
}

// WorkflowStates implements Store.
func (s *SQL) WorkflowStates(ctx context.Context) (out map[string]bool, err error) {
	err = s.read(ctx, func(ctx context.Context, c *conn) error {
		out, err = workflowStates(ctx, c)
		return err
	})
	return out, err
}

func workflowStates(ctx context.Context, c *conn) (map[string]bool, error) {
	rows, err := c.query(ctx, wfStatesSQL)
	if err != nil {
		return nil, fmt.Errorf("store: workflow states: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var name string
		var on int
		if err := rows.Scan(&name, &on); err != nil {
			return nil, fmt.Errorf("store: workflow states: %w", err)
		}
		out[name] = on != 0
	}
	return out, rows.Err()
}

// AddWorkflowCallback implements Tx.
func (t *sqlTx) AddWorkflowCallback(ctx context.Context, tokenHash string, run int64, idx int) error {
	return t.execTx(ctx, "workflow callback", "INSERT INTO workflow_callbacks (token_hash, run, idx) VALUES (?, ?, ?)", tokenHash, run, idx)
}

// WorkflowCallback implements Tx.
func (t *sqlTx) WorkflowCallback(ctx context.Context, tokenHash string) (run int64, idx int, err error) {
	ctx, err = t.begin(ctx)
	if err != nil {
		return 0, 0, err
	}
	err = t.w.queryRow(ctx, "SELECT run, idx FROM workflow_callbacks WHERE token_hash = ?", tokenHash).Scan(&run, &idx)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, store.ErrNotFound
	}
	if err != nil {
		return 0, 0, fmt.Errorf("store: workflow callback: %w", err)
	}
	return run, idx, nil
}

// DeleteWorkflowCallbacks implements Tx.
func (t *sqlTx) DeleteWorkflowCallbacks(ctx context.Context, run int64, idx int) error {
	return t.execTx(ctx, "workflow callback", "DELETE FROM workflow_callbacks WHERE run = ? AND idx = ?", run, idx)
}
