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

// TestOnChangesAndSetUserEnabled: OnChanges sees each journalled change
// once, in the planner's transaction (what it writes commits with the
// batch; its error fails the batch, planned again); SetUserEnabled
// disables and enables a provisioned user through the outbox.
func TestOnChangesAndSetUserEnabled(t *testing.T) {
	st, pol := storeAndPolicy(t)
	mem := memory.New(memory.Config{})
	now := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	var seen []string
	fail := errors.New("hook fails")
	var hookErr error
	e, err := New(Options{Store: st, Policy: pol, Connectors: map[string]targets.Connector{"crm": mem}, Now: func() time.Time { return now },
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
	if _, err := e.SetUserEnabled(ctx, "crm", "u1", false); !errors.Is(err, ErrNotProvisioned) {
		t.Fatalf("disable before the user is provisioned: %v", err)
	}
	hookErr = fail
	if err := e.PlanOnce(ctx); !errors.Is(err, fail) {
		t.Fatalf("PlanOnce with a failing hook: %v", err)
	}
	if rows, _ := st.Outbox(ctx, "crm", false, 10); len(rows) != 0 {
		t.Fatalf("the failed batch queued %d operations", len(rows))
	}
	hookErr = nil
	if err := e.PlanOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.PlanOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 || seen[0] != "User/u1" {
		t.Fatalf("the hook saw %v, want [User/u1] once", seen)
	}
	if _, err := e.DeliverDue(ctx); err != nil {
		t.Fatal(err)
	}
	account := func() targets.Object {
		t.Helper()
		pr, err := st.Provisioned(ctx, "crm", "User", "u1")
		if err != nil {
			t.Fatal(err)
		}
		o, err := mem.Get(ctx, targets.User, pr.Anchor)
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	if account().Disabled {
		t.Fatal("created disabled")
	}
	for i, step := range []struct {
		enabled, changed, disabled bool
	}{{false, true, true}, {false, false, true}, {true, true, false}} {
		changed, err := e.SetUserEnabled(ctx, "crm", "u1", step.enabled)
		if err != nil || changed != step.changed {
			t.Fatalf("step %d: SetUserEnabled = %v, %v; want %v", i, changed, err, step.changed)
		}
		if _, err := e.DeliverDue(ctx); err != nil {
			t.Fatal(err)
		}
		if account().Disabled != step.disabled {
			t.Fatalf("step %d: disabled %v, want %v", i, account().Disabled, step.disabled)
		}
	}
	if _, err := e.SetUserEnabled(ctx, "nope", "u1", false); !errors.Is(err, ErrUnknownTarget) {
		t.Fatalf("unknown target: %v", err)
	}
	audit, err := st.Audit(ctx, store.AuditQuery{ID: "u1", Limit: 20})
	if err != nil {
		t.Fatal(err)
	}
	var queued int
	for _, a := range audit {
		if a.Actor == "workflow test" && (a.Action == "disable" || a.Action == "enable") {
			queued++
		}
	}
	if queued != 2 {
		t.Fatalf("%d audit entries of the workflow's disable and enable, want 2: %+v", queued, audit)
	}
}
