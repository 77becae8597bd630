package engine

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/policy"
	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/memory"
)

// stallConn is a connector whose creates stall, after the call reached it,
// until release says how they end (nil: the create is made) or their
// context ends (nothing is made).
type stallConn struct {
	targets.Connector
	entered chan string   // the object id of each create that stalls
	release chan struct{} // one create goes on per value
}

func newStallConn(c targets.Connector) *stallConn {
	return &stallConn{Connector: c, entered: make(chan string, 8), release: make(chan struct{})}
}

func (s *stallConn) Create(ctx context.Context, op targets.Op) (string, error) {
	s.entered <- op.ObjectID
	select {
	case <-s.release:
		return s.Connector.Create(ctx, op)
	case <-ctx.Done():
		return "", targets.Transient(ctx.Err())
	}
}

// syncClock is a fake clock that goroutines may read.
type syncClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *syncClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *syncClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// TestReplicasClaimDeliveries: two engines on one store, as replicas
// sharing a database deliver. An operation one replica delivers is
// claimed: the other delivers neither it nor the object's later
// operations, the planner does not merge a later change into it, and a
// replica that dies in the middle of a delivery has its operation
// delivered by the other once its claim ends. A replica whose claim was
// taken over does not record the outcome of its late delivery over the
// other's.
func TestReplicasClaimDeliveries(t *testing.T) {
	const ttl = time.Minute
	w := newWorld(t, engineScenario{})
	clock := &syncClock{now: time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)}
	pol, err := policy.Compile(policy.Config{Targets: []policy.TargetConfig{{Name: "crm",
		Users: &policy.ObjectConfig{Scope: policy.ScopeConfig{All: true}, Mapping: []policy.MappingConfig{
			{Target: "userName", Source: "userName"}, {Target: "title", Source: "title"}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	mem := memory.New(memory.Config{})
	connA, connB := newStallConn(mem), newStallConn(mem)
	replica := func(name string, c targets.Connector) *Engine {
		e, err := New(Options{Store: w.st, Policy: pol, Connectors: map[string]targets.Connector{"crm": c},
			Now: clock.Now, Replica: name, ClaimTTL: ttl})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(e.Close)
		return e
	}
	a, b := replica("a", connA), replica("b", connB)
	ctx := t.Context()
	deliver := func(e *Engine, ctx context.Context) chan int {
		done := make(chan int, 1)
		go func() {
			n, _ := e.DeliverDue(ctx)
			done <- n
		}()
		return done
	}
	queue := func(id string) []store.Outbox {
		t.Helper()
		rows, err := w.st.ObjectOutbox(ctx, "crm", string(targets.User), id)
		if err != nil {
			t.Fatal(err)
		}
		return rows
	}

	t.Run("replica dies mid-delivery", func(t *testing.T) {
		alice := w.do("setup", "POST", "/Users", map[string]any{"userName": "alice@contoso.com"}, 201)["id"].(string)
		if err := a.PlanOnce(ctx); err != nil {
			t.Fatal(err)
		}
		actx, kill := context.WithCancel(ctx)
		doneA := deliver(a, actx)
		if got := recv(t, connA.entered); got != alice {
			t.Fatalf("replica a creates %q, want alice %q", got, alice)
		}
		// A change while the create is in flight is queued behind it,
		// not merged into the operation being delivered.
		w.do("change", "PATCH", "/Users/"+alice, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
			"Operations": []map[string]any{{"op": "replace", "path": "title", "value": "Engineer"}}}, 200)
		if err := a.PlanOnce(ctx); err != nil {
			t.Fatal(err)
		}
		if rows := queue(alice); len(rows) != 2 || rows[0].ClaimedBy != "a" || rows[1].ClaimedBy != "" {
			t.Fatalf("alice's queue while a delivers: %+v, want the create claimed by a and the update behind it", rows)
		}
		if n := recv(t, deliver(b, ctx)); n != 0 {
			t.Fatalf("replica b delivered %d operations of an object a is delivering, want 0", n)
		}
		kill() // replica a dies: its claim stays until it ends
		recv(t, doneA)
		if n := recv(t, deliver(b, ctx)); n != 0 {
			t.Fatalf("replica b delivered %d operations before a's claim ended, want 0", n)
		}
		clock.Add(ttl)
		doneB := deliver(b, ctx)
		recv(t, connB.entered)
		send(t, connB.release)
		if n := recv(t, doneB); n != 2 {
			t.Fatalf("replica b delivered %d operations after a's claim ended, want the create and the update", n)
		}
		objs := mem.Snapshot()
		if len(objs) != 1 || objs[0].Attrs["title"] != "Engineer" {
			t.Fatalf("target after the takeover: %+v, want alice with her title", objs)
		}
		if rows := queue(alice); len(rows) != 0 {
			t.Fatalf("alice's queue after the takeover: %+v, want it empty", rows)
		}
	})

	t.Run("late delivery of a claim taken over", func(t *testing.T) {
		bob := w.do("setup", "POST", "/Users", map[string]any{"userName": "bob@contoso.com"}, 201)["id"].(string)
		if err := a.PlanOnce(ctx); err != nil {
			t.Fatal(err)
		}
		doneA := deliver(a, ctx) // a stalls (a long pause, a network partition)
		recv(t, connA.entered)
		clock.Add(ttl)
		doneB := deliver(b, ctx) // b takes the operation over, and stalls too
		recv(t, connB.entered)
		send(t, connA.release) // a's late create is made, but b holds the claim now
		recv(t, doneA)
		rows := queue(bob)
		if len(rows) != 1 || rows[0].ClaimedBy != "b" {
			t.Fatalf("bob's queue after a's late delivery: %+v, want the create still claimed by b", rows)
		}
		send(t, connB.release) // b's create finds the account a made: it is matched
		recv(t, doneB)
		if rows := queue(bob); len(rows) != 0 {
			t.Fatalf("bob's queue after b's delivery: %+v, want it empty", rows)
		}
		pr, err := w.st.Provisioned(ctx, "crm", string(targets.User), bob)
		if err != nil || pr.Anchor == "" {
			t.Fatalf("bob's record: %+v, %v; want his anchor", pr, err)
		}
		dead, err := w.st.Outbox(ctx, "crm", true, 10)
		if err != nil || len(dead) != 0 {
			t.Fatalf("dead letters: %+v, %v; want none", dead, err)
		}
	})
}

// recv receives from c, failing the test when nothing comes in a minute (a
// delivery that never starts or never ends) instead of hanging it.
func recv[T any](t *testing.T, c <-chan T) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(time.Minute):
		t.Fatal("nothing came in a minute")
		panic("unreachable")
	}
}

// send lets one stalled create go on, failing the test when none is
// waiting within a minute.
func send(t *testing.T, c chan<- struct{}) {
	t.Helper()
	select {
	case c <- struct{}{}:
	case <-time.After(time.Minute):
		t.Fatal("no create waited in a minute")
	}
}
