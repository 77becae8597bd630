package alert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scimgate/scimgate/internal/engine"
	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/internal/store/sqlstore"
	"github.com/scimgate/scimgate/policy"
	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/memory"
)

// TestRulesOnRealEngine: the target rules against a real engine with a
// memory target on the fake clock (not a fake engine): a target down
// longer than for, dead letters over the threshold and a deletion guard
// holding are each raised once and resolved once when the engine's state
// says so.
func TestRulesOnRealEngine(t *testing.T) {
	now := epoch
	st, err := sqlstore.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	mem := memory.New(memory.Config{})
	threshold := 3
	pol, err := policy.Compile(policy.Config{Targets: []policy.TargetConfig{{Name: "crm",
		Users:     &policy.ObjectConfig{Scope: policy.ScopeConfig{All: true}, Mapping: []policy.MappingConfig{{Target: "userName", Source: "userName"}}},
		Lifecycle: policy.LifecycleConfig{DeleteGracePeriod: 0, DeletionGuard: policy.DeletionGuardConfig{Threshold: &threshold, Window: time.Hour}}}}})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(engine.Options{Store: st, Policy: pol, Connectors: map[string]targets.Connector{"crm": mem},
		Now: func() time.Time { return now }, BackoffBase: time.Second, BackoffMax: time.Minute, MaxAttempts: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eng.Close)
	send := &sender{}
	ev, err := New(Options{Config: Config{Rules: []Rule{
		{Kind: KindTargetDown, For: 5 * time.Minute, Webhooks: []string{"ops"}},
		{Kind: KindDeadLetters, Threshold: 1, Webhooks: []string{"ops"}},
		{Kind: KindDeletionGuard, Webhooks: []string{"ops"}},
	}}, Store: st, Sender: send, Engine: eng, Now: func() time.Time { return now }, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	user := func(i int, del bool) {
		t.Helper()
		err := st.Write(ctx, func(ctx context.Context, tx store.Tx) error {
			id := fmt.Sprintf("u%02d", i)
			if del {
				return tx.Delete(ctx, "User", id)
			}
			b, _ := json.Marshal(map[string]any{"id": id, "userName": id + "@contoso.example", "active": true})
			return tx.Create(ctx, &store.Resource{Type: "User", ID: id, Unique: id + "@contoso.example", Data: b})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// step plans, delivers and evaluates at minute intervals, returning
	// the rules of the messages sent.
	step := func(minutes int) []string {
		t.Helper()
		var out []string
		for range minutes {
			if err := eng.PlanOnce(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := eng.DeliverDue(ctx); err != nil {
				t.Fatal(err)
			}
			if err := ev.Evaluate(ctx); err != nil {
				t.Fatal(err)
			}
			for _, m := range send.take() {
				out = append(out, strings.SplitN(m, "\n", 3)[1])
			}
			now = now.Add(time.Minute)
		}
		return out
	}
	want := func(what string, got []string, titles ...string) {
		t.Helper()
		if len(got) != len(titles) {
			t.Fatalf("%s: messages %q, want %d", what, got, len(titles))
		}
		for i, s := range titles {
			if !strings.Contains(got[i], s) {
				t.Errorf("%s: message %q, want it to say %q", what, got[i], s)
			}
		}
	}

	// The target goes down: three objects fail in a row.
	refused := targets.Transient(errors.New("dial tcp 10.0.0.5:389: connect: connection refused"))
	mem.Inject(memory.Fault{Err: refused})
	for i := range 4 {
		user(i, false)
	}
	want("down for 3 minutes", step(3))
	want("down for more than 5 minutes", step(5), "alert: targetDown")
	want("still down", step(10))
	mem.ClearFaults()
	want("back", step(3), "resolved: targetDown")

	// A user whose create fails for good: a dead letter.
	mem.Inject(memory.Fault{ObjectID: "u10", Err: targets.Permanent(errors.New("column login too long"))})
	user(10, false)
	want("dead letter", step(2), "alert: deadLetters")
	want("still dead", step(3))
	dead, err := st.Outbox(ctx, "crm", true, 10)
	if err != nil || len(dead) != 1 {
		t.Fatalf("dead letters %v, %v", dead, err)
	}
	if err := eng.DiscardDead(ctx, "crm", dead[0].Seq); err != nil {
		t.Fatal(err)
	}
	want("discarded", step(1), "resolved: deadLetters")

	// Four deletes in the guard's window hold them.
	for i := range 4 {
		user(i, true)
	}
	want("guard", step(2), "alert: deletionGuard")
	if _, err := eng.Release(ctx, "crm"); err != nil {
		t.Fatal(err)
	}
	want("released", step(2), "resolved: deletionGuard")
}
