package storetest

import (
	"context"
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/store"
)

// testWorkflowRuns: a run is created once per (workflow, user,
// occurrence) with its tasks; updates are saved; the due query returns
// pending and running runs whose next task is due, oldest first.
func testWorkflowRuns(t *testing.T, open Opener) {
	s := fresh(t, open)
	ctx := context.Background()
	at := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	create := func(wf, user, occ string, next time.Time) (store.WorkflowRun, bool) {
		t.Helper()
		r := store.WorkflowRun{Workflow: wf, User: user, Occurrence: occ, Status: store.WorkflowPending, Trigger: []byte(`{"on":"x"}`),
			NextAt: next, Created: at, Updated: at}
		var created bool
		err := s.Write(ctx, func(ctx context.Context, tx store.Tx) (err error) {
			created, err = tx.CreateWorkflowRun(ctx, &r, []store.WorkflowTask{
				{Index: 0, Kind: "sendEmail", Status: store.WorkflowPending, NextAt: next},
				{Index: 1, Kind: "webhook", Status: store.WorkflowPending}})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return r, created
	}
	r1, ok := create("pre-hire", "u1", "employeeHireDate=2026-01-12", at)
	if !ok || r1.ID == 0 {
		t.Fatalf("first create: %v %+v", ok, r1)
	}
	again, ok := create("pre-hire", "u1", "employeeHireDate=2026-01-12", at)
	if ok || again.ID != r1.ID {
		t.Fatalf("second create of the same occurrence: created %v, id %d (want false, %d)", ok, again.ID, r1.ID)
	}
	r2, ok := create("pre-hire", "u1", "employeeHireDate=2026-02-01", at.Add(time.Hour))
	if !ok || r2.ID == r1.ID {
		t.Fatalf("another occurrence: %v %+v", ok, r2)
	}
	create("mover", "u2", "v3", at.Add(-time.Hour))

	got, tasks, err := s.WorkflowRun(ctx, r1.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Workflow != "pre-hire" || got.User != "u1" || got.Status != store.WorkflowPending || string(got.Trigger) != `{"on":"x"}` ||
		!got.NextAt.Equal(at) || !got.Created.Equal(at) || len(tasks) != 2 || tasks[1].Kind != "webhook" || tasks[1].Run != r1.ID {
		t.Fatalf("run %+v tasks %+v", got, tasks)
	}
	if _, _, err := s.WorkflowRun(ctx, 999); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing run: %v", err)
	}

	err = s.Write(ctx, func(ctx context.Context, tx store.Tx) error {
		k := tasks[0]
		k.Status, k.Attempts, k.LastError, k.Result, k.Updated = store.WorkflowDone, 2, "was down", "sent", at.Add(time.Minute)
		if err := tx.UpdateWorkflowTask(ctx, k); err != nil {
			return err
		}
		got.Status, got.NextAt, got.Updated = store.WorkflowDone, time.Time{}, at.Add(time.Minute)
		if err := tx.UpdateWorkflowRun(ctx, got); err != nil {
			return err
		}
		if err := tx.UpdateWorkflowRun(ctx, store.WorkflowRun{ID: 999, Status: store.WorkflowDone}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("update of a missing run: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, tasks, err = s.WorkflowRun(ctx, r1.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != store.WorkflowDone || !got.NextAt.IsZero() || tasks[0].Status != store.WorkflowDone || tasks[0].Attempts != 2 ||
		tasks[0].LastError != "was down" || tasks[0].Result != "sent" {
		t.Fatalf("after update: %+v %+v", got, tasks)
	}

	for _, tc := range []struct {
		name string
		q    store.WorkflowRunQuery
		want []int64
	}{
		{"all, newest first", store.WorkflowRunQuery{Limit: 10}, []int64{r1.ID + 3, r2.ID, r1.ID}},
		{"by workflow", store.WorkflowRunQuery{Workflow: "pre-hire", Limit: 10}, []int64{r2.ID, r1.ID}},
		{"by user", store.WorkflowRunQuery{User: "u2", Limit: 10}, []int64{r1.ID + 3}},
		{"due now: the done run is left out", store.WorkflowRunQuery{Due: at, Limit: 10}, []int64{r1.ID + 3}},
		{"due later, oldest due first", store.WorkflowRunQuery{Due: at.Add(time.Hour), Limit: 10}, []int64{r1.ID + 3, r2.ID}},
		{"limit", store.WorkflowRunQuery{Limit: 1}, []int64{r1.ID + 3}},
		{"by status", store.WorkflowRunQuery{Status: store.WorkflowPending, Limit: 10}, []int64{r1.ID + 3, r2.ID}},
		{"by workflow and status", store.WorkflowRunQuery{Workflow: "pre-hire", Status: store.WorkflowDone, Limit: 10}, []int64{r1.ID}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs, err := s.WorkflowRuns(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			var ids []int64
			for _, r := range rs {
				ids = append(ids, r.ID)
			}
			if len(ids) != len(tc.want) {
				t.Fatalf("got %v, want %v", ids, tc.want)
			}
			for i := range ids {
				if ids[i] != tc.want[i] {
					t.Fatalf("got %v, want %v", ids, tc.want)
				}
			}
		})
	}
	counts, err := s.WorkflowRunCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]map[string]int{"pre-hire": {store.WorkflowDone: 1, store.WorkflowPending: 1}, "mover": {store.WorkflowPending: 1}}; !maps.EqualFunc(counts, want, maps.Equal) {
		t.Errorf("WorkflowRunCounts = %v, want %v", counts, want)
	}
}

// testWorkflowSchedulesSnapshotsStates: a schedule is one per (workflow,
// user), replaced and deleted; snapshots and enable overrides likewise.
func testWorkflowSchedulesSnapshotsStates(t *testing.T, open Opener) {
	s := fresh(t, open)
	ctx := context.Background()
	day := time.Date(2026, 1, 12, 0, 0, 0, 0, time.UTC)
	write := func(fn func(ctx context.Context, tx store.Tx) error) {
		t.Helper()
		if err := s.Write(ctx, fn); err != nil {
			t.Fatal(err)
		}
	}
	write(func(ctx context.Context, tx store.Tx) error {
		for _, sc := range []store.WorkflowSchedule{
			{Workflow: "pre-hire", User: "u1", Occurrence: "d=2026-01-12", Due: day.AddDate(0, 0, -7)},
			{Workflow: "pre-hire", User: "u2", Occurrence: "d=2026-01-20", Due: day},
			{Workflow: "first-day", User: "u1", Occurrence: "d=2026-01-12", Due: day},
			{Workflow: "pre-hire", User: "u1", Occurrence: "d=2026-01-19", Due: day}, // replaces the first
		} {
			if err := tx.PutWorkflowSchedule(ctx, sc); err != nil {
				return err
			}
		}
		if err := tx.PutWorkflowSchedule(ctx, store.WorkflowSchedule{Workflow: "x"}); err == nil {
			t.Error("a schedule without user and occurrence was accepted")
		}
		return tx.DeleteWorkflowSchedule(ctx, "first-day", "u1")
	})
	scheds, err := s.WorkflowSchedules(ctx, store.WorkflowScheduleQuery{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(scheds) != 2 || scheds[0] != (store.WorkflowSchedule{Workflow: "pre-hire", User: "u1", Occurrence: "d=2026-01-19", Due: day}) || scheds[1].User != "u2" {
		t.Fatalf("schedules %+v", scheds)
	}
	if got, err := s.WorkflowSchedules(ctx, store.WorkflowScheduleQuery{Before: day, Limit: 10}); err != nil || len(got) != 0 {
		t.Fatalf("due before %s: %+v %v", day, got, err)
	}
	if got, err := s.WorkflowSchedules(ctx, store.WorkflowScheduleQuery{User: "u2", Workflow: "pre-hire", Limit: 10}); err != nil || len(got) != 1 {
		t.Fatalf("by user: %+v %v", got, err)
	}

	write(func(ctx context.Context, tx store.Tx) error {
		if _, err := tx.WorkflowSchedule(ctx, "first-day", "u1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("deleted schedule: %v", err)
		}
		if _, err := tx.WorkflowSnapshot(ctx, "u1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("missing snapshot: %v", err)
		}
		for _, b := range []string{`{"a":1}`, `{"a":2}`} {
			if err := tx.PutWorkflowSnapshot(ctx, "u1", []byte(b)); err != nil {
				return err
			}
		}
		if b, err := tx.WorkflowSnapshot(ctx, "u1"); err != nil || string(b) != `{"a":2}` {
			t.Errorf("snapshot %s %v", b, err)
		}
		if err := tx.DeleteWorkflowSnapshot(ctx, "u1"); err != nil {
			return err
		}
		if _, err := tx.WorkflowSnapshot(ctx, "u1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("deleted snapshot: %v", err)
		}
		off, on := false, true
		if err := tx.SetWorkflowEnabled(ctx, "pre-hire", &off); err != nil {
			return err
		}
		if err := tx.SetWorkflowEnabled(ctx, "mover", &on); err != nil {
			return err
		}
		if err := tx.SetWorkflowEnabled(ctx, "mover", nil); err != nil {
			return err
		}
		return nil
	})
	states, err := s.WorkflowStates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(states) != 1 || states["pre-hire"] {
		t.Fatalf("states %v", states)
	}
}
