package engine

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/memory"
)

// TestOnChanges: OnChanges sees each journalled change once, in the
// planner's transaction (what it writes commits with the batch; its error
// fails the batch, planned again); Committed is called once the batch it
// saw has committed, not for a failed one.
func TestOnChanges(t *testing.T) {
	st, pol := storeAndPolicy(t)
	mem := memory.New(memory.Config{})
	now := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	var seen []string
	fail := errors.New("hook fails")
	var hookErr error
	committed := 0
	e, err := New(Options{Store: st, Policy: pol, Connectors: map[string]targets.Connector{"crm": mem}, Now: func() time.Time { return now },
		Committed: func() { committed++ },
		OnChanges: func(ctx context.Context, tx store.Tx, changes []store.Change) error {
			if hookErr != nil {
				return hookErr
			}
			for _, c := range changes {
				seen = append(seen, c.Type+"/"+c.ID)
			}
			return tx.PutWorkflowSnapshot(ctx, "hook", []byte("ran"))
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := store.WithActor(t.Context(), "workflow test")
	if err := st.Write(ctx, func(ctx context.Context, tx store.Tx) error {
		return tx.Create(ctx, &store.Resource{Type: "User", ID: "u1", Unique: "alice", Data: []byte(`{"id":"u1","userName":"alice","active":true}`)})
	}); err != nil {
		t.Fatal(err)
	}
	hookErr = fail
	if err := e.PlanOnce(ctx); !errors.Is(err, fail) {
		t.Fatalf("PlanOnce with a failing hook: %v", err)
	}
	if rows, _ := st.Outbox(ctx, "crm", false, 10); len(rows) != 0 || committed != 0 {
		t.Fatalf("the failed batch queued %d operations, Committed called %d times", len(rows), committed)
	}
	hookErr = nil
	if err := e.PlanOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.PlanOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 || seen[0] != "User/u1" || committed != 1 {
		t.Fatalf("the hook saw %v, want [User/u1] once; Committed called %d times, want 1", seen, committed)
	}
	if rows, _ := st.Outbox(ctx, "crm", false, 10); len(rows) != 1 {
		t.Fatalf("the batch queued %d operations, want the create", len(rows))
	}
	err = st.Write(ctx, func(ctx context.Context, tx store.Tx) error {
		b, err := tx.WorkflowSnapshot(ctx, "hook")
		if err == nil && string(b) != "ran" {
			t.Errorf("the hook's write: %q", b)
		}
		return err
	})
	if err != nil {
		t.Fatalf("the hook's write did not commit with the batch: %v", err)
	}
}
