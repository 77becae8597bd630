package workflow

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/store"
)

// TestRetriesPreviewRestart: a failing task is retried with backoff and
// then fails the run (the rest skipped), unless continueOnError; preview
// records without acting; a restart between tasks does not repeat the
// done ones; Retry runs a failed run again.
func TestRetriesPreviewRestart(t *testing.T) {
	w := newWorld(t, `
- name: welcome
  category: joiner
  trigger: {onDemand: true}
  tasks:
    - {task: sendEmail, to: user, template: welcome}
    - {task: entraRevokeSessions}
    - {task: sendEmail, to: manager, template: mover}
- name: tolerant
  category: custom
  trigger: {onDemand: true}
  tasks:
    - {task: entraDisable, continueOnError: true}
    - {task: sendEmail, to: user, template: welcome}
- name: trial
  category: leaver
  preview: true
  trigger: {onDemand: true}
  tasks:
    - {task: entraDelete}
    - {task: sendEmail, to: user, template: leaver}
`)
	ctx := store.WithActor(t.Context(), "admin: test")
	w.put("u-carol", "carol@contoso.example", nil, nil) // not in Entra: Entra tasks fail (not found: permanent)
	w.step()

	t.Run("transient failures are retried with backoff, then fail the run", func(t *testing.T) {
		w.sender.fail = errors.New("smtp down")
		ids, err := w.r.RunNow(ctx, "welcome", []string{"u-carol"})
		if err != nil || len(ids) != 1 {
			t.Fatal(ids, err)
		}
		start := w.now
		for i, wait := range []time.Duration{0, time.Minute, 2 * time.Minute} {
			w.now = w.now.Add(wait)
			if n, err := w.r.RunDue(ctx); err != nil || n != 1 {
				t.Fatalf("attempt %d: %d tasks, %v", i+1, n, err)
			}
			if n, _ := w.r.RunDue(ctx); n != 0 {
				t.Fatalf("attempt %d: retried before its backoff", i+1)
			}
		}
		run, _ := w.r.Run(ctx, ids[0])
		if run.Status != store.WorkflowFailed || run.Tasks[0].Attempts != 3 || !strings.Contains(run.Tasks[0].LastError, "smtp down") ||
			run.Tasks[1].Status != store.WorkflowSkipped || run.Tasks[2].Status != store.WorkflowSkipped {
			t.Fatalf("run %+v", run)
		}
		if w.now.Sub(start) != 3*time.Minute {
			t.Fatal(w.now.Sub(start))
		}
		if err := w.r.Retry(ctx, ids[0]); err != nil {
			t.Fatal(err)
		}
		if err := w.r.Retry(ctx, ids[0]); !errors.Is(err, ErrNotRetryable) {
			t.Fatalf("retry of a pending run: %v", err)
		}
		w.sender.fail = nil
		if _, err := w.r.RunDue(ctx); err != nil {
			t.Fatal(err)
		}
		run, _ = w.r.Run(ctx, ids[0])
		// The email is sent now; the Entra task fails at once (carol is
		// not in Entra: a permanent failure).
		if run.Status != store.WorkflowFailed || run.Tasks[0].Status != store.WorkflowDone || run.Tasks[1].Status != store.WorkflowFailed ||
			run.Tasks[1].Attempts != 1 || len(w.sender.take()) != 1 {
			t.Fatalf("after retry: %+v", run)
		}
	})
	t.Run("continueOnError", func(t *testing.T) {
		ids, err := w.r.RunNow(ctx, "tolerant", []string{"u-carol"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.r.RunDue(ctx); err != nil {
			t.Fatal(err)
		}
		run, _ := w.r.Run(ctx, ids[0])
		if run.Tasks[0].Status != store.WorkflowFailed || run.Tasks[1].Status != store.WorkflowDone || len(w.sender.take()) != 1 {
			t.Fatalf("run %+v", run)
		}
	})
	t.Run("preview records without acting", func(t *testing.T) {
		bob := w.graph.AddUser(graphUser("bob@contoso.example"))
		w.put("u-bob", "bob@contoso.example", nil, nil)
		w.step()
		ids, err := w.r.RunNow(ctx, "trial", []string{"u-bob"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.r.RunDue(ctx); err != nil {
			t.Fatal(err)
		}
		run, _ := w.r.Run(ctx, ids[0])
		if run.Status != store.WorkflowDone || !run.Preview || !strings.HasPrefix(run.Tasks[0].Result, "preview: would delete bob@") ||
			!strings.Contains(run.Tasks[1].Result, "preview: would send") || w.graph.Deleted(bob.ID) || len(w.sender.take()) != 0 {
			t.Fatalf("preview run %+v", run)
		}
	})
	t.Run("a restart between tasks does not repeat done tasks", func(t *testing.T) {
		w.sender.fail = nil
		w.graph.AddUser(graphUser("dave@contoso.example"))
		w.put("u-dave", "dave@contoso.example", nil, map[string]any{})
		w.step()
		ids, err := w.r.RunNow(ctx, "welcome", []string{"u-dave"})
		if err != nil {
			t.Fatal(err)
		}
		// The Entra task fails once (throttled), the runner "dies" and a
		// new one opens on the same store.
		w.graph.Fail(1, 503)
		if _, err := w.r.RunDue(ctx); err != nil {
			t.Fatal(err)
		}
		if len(w.sender.take()) != 1 {
			t.Fatal("the first task did not run")
		}
		w.r.Close()
		w.e.Close()
		w.open()
		w.now = w.now.Add(time.Hour)
		if _, err := w.r.RunDue(ctx); err != nil {
			t.Fatal(err)
		}
		run, _ := w.r.Run(ctx, ids[0])
		mails := w.sender.take()
		if run.Status != store.WorkflowFailed && run.Status != store.WorkflowDone || run.Tasks[0].Attempts != 1 || run.Tasks[1].Status != store.WorkflowDone {
			t.Fatalf("after restart: %+v", run)
		}
		// Only the third task's email: the welcome was not sent again.
		if len(mails) > 1 || len(mails) == 1 && strings.Contains(mails[0].Subject, "Welcome") {
			t.Fatalf("emails after restart %+v", mails)
		}
	})
}
