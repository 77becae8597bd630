package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/policy"
	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/memory"
)

// logLines counts the lines logged at Info and above, and keeps them.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) Enabled(_ context.Context, lv slog.Level) bool { return lv >= slog.LevelInfo }
func (l *logLines) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	line := r.Level.String() + " " + r.Message
	r.Attrs(func(a slog.Attr) bool { line += " " + a.String(); return true })
	l.lines = append(l.lines, line)
	return nil
}
func (l *logLines) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logLines) WithGroup(string) slog.Handler      { return l }

func (l *logLines) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.lines
	l.lines = nil
	return out
}

// TestOutageIsBoundedByBackoff: while a target is down for 60 s with
// hundreds of objects pending, the engine's connection attempts and log
// lines follow the backoff schedule, not the number of objects; the
// operations keep their attempts, and when the target is back everything
// is delivered with no dead letter and one log line.
func TestOutageIsBoundedByBackoff(t *testing.T) {
	const users = 200
	for _, tt := range []struct {
		name   string
		health bool // the connector implements targets.HealthChecker
		// bounds over the 60 s outage
		maxCalls, maxProbes int
		// before the engine can tell, the first failures are ordinary
		// retries (an attempt and a line each)
		maxLines, maxAttempts int
	}{
		// 1 s base doubling: probes near 1, 2, 4, 8, 16, 32 s (jitter halves
		// some), so at most 7 in 60 s; with Health, only the first
		// delivery reaches the target's API.
		{name: "connector with health check", health: true, maxCalls: 4, maxProbes: 10, maxLines: 1},
		// Without one, downAfter objects fail first, then one delivery per
		// probe.
		{name: "connector without health check", health: false, maxCalls: downAfter + 8, maxLines: downAfter, maxAttempts: 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, engineScenario{Engine: scenarioEngine{BackoffBase: time.Second, BackoffMax: time.Minute, MaxAttempts: 3}})
			mem := memory.New(memory.Config{})
			hc := &healthConn{Connector: mem}
			var conn targets.Connector = mem
			if tt.health {
				conn = hc
			}
			pol, err := policy.Compile(policy.Config{Targets: []policy.TargetConfig{{Name: "crm",
				Users: &policy.ObjectConfig{Scope: policy.ScopeConfig{All: true}, Mapping: []policy.MappingConfig{{Target: "userName", Source: "userName"}}}}}})
			if err != nil {
				t.Fatal(err)
			}
			logs := &logLines{}
			w.start(pol, map[string]targets.Connector{"crm": conn}, slog.New(logs))
			ctx := t.Context()

			refused := targets.Transient(errors.New("dial tcp 127.0.0.1:3306: connect: connection refused"))
			hc.setDown("dial tcp 127.0.0.1:3306: connect: connection refused")
			mem.Inject(memory.Fault{Err: refused})
			for i := range users {
				w.do("setup", "POST", "/Users", map[string]any{"userName": fmt.Sprintf("user%03d@contoso.com", i)}, 201)
			}
			if err := w.e.PlanOnce(ctx); err != nil {
				t.Fatal(err)
			}
			logs.take()
			for range 60 {
				if _, err := w.e.DeliverDue(ctx); err != nil {
					t.Fatal(err)
				}
				w.now = w.now.Add(time.Second)
			}
			calls, probes := len(mem.Calls()), hc.probes
			if calls > tt.maxCalls || tt.health && probes > tt.maxProbes {
				t.Errorf("during a 60 s outage with %d objects pending: %d calls, %d health probes; want at most %d and %d",
					users, calls, probes, tt.maxCalls, tt.maxProbes)
			}
			if lines := logs.take(); len(lines) == 0 || len(lines) > tt.maxLines {
				t.Errorf("log lines during the outage: %d, want 1 to %d (target down):\n%q", len(lines), tt.maxLines, lines)
			}
			sts, err := w.e.Targets(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if sts[0].Health != HealthDown || sts[0].HealthError == "" || sts[0].Pending != users {
				t.Errorf("admin view during the outage: %+v", sts[0])
			}
			rows, err := w.st.Outbox(ctx, "crm", false, users)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rows {
				if r.Attempts > tt.maxAttempts {
					t.Fatalf("operation %d has %d attempts after the outage; an outage uses none", r.Seq, r.Attempts)
				}
			}

			// Back: delivered at the next probe, with one log line.
			hc.setDown("")
			mem.ClearFaults()
			mem.ResetCalls()
			w.now = w.now.Add(time.Minute)
			if _, err := w.e.DeliverDue(ctx); err != nil {
				t.Fatal(err)
			}
			st, err := w.st.OutboxStats(ctx, "crm", w.now)
			if err != nil {
				t.Fatal(err)
			}
			if st.Pending != 0 || st.Dead != 0 || len(mem.Snapshot()) != users {
				t.Errorf("after the outage: %+v, %d users in the target; want all %d delivered, none dead", st, len(mem.Snapshot()), users)
			}
			if lines := logs.take(); len(lines) != 1 {
				t.Errorf("log lines when the target came back: %q, want 1", lines)
			}
			if sts, _ := w.e.Targets(ctx); sts[0].Health == HealthDown {
				t.Errorf("still down after delivering: %+v", sts[0])
			}
		})
	}
}

// TestOneFailingObjectIsNotAnOutage: an object whose deliveries fail
// transiently while the others succeed is retried and dead-lettered on its
// own; the target stays up.
func TestOneFailingObjectIsNotAnOutage(t *testing.T) {
	w := newWorld(t, engineScenario{Engine: scenarioEngine{BackoffBase: time.Second, BackoffMax: time.Second, MaxAttempts: 3}})
	mem := memory.New(memory.Config{})
	pol, err := policy.Compile(policy.Config{Targets: []policy.TargetConfig{{Name: "crm",
		Users: &policy.ObjectConfig{Scope: policy.ScopeConfig{All: true}, Mapping: []policy.MappingConfig{{Target: "userName", Source: "userName"}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	w.start(pol, map[string]targets.Connector{"crm": mem}, slog.New(slog.DiscardHandler))
	ctx := t.Context()
	poison, _ := w.do("setup", "POST", "/Users", map[string]any{"userName": "poison@contoso.com"}, 201)["id"].(string)
	mem.Inject(memory.Fault{ObjectID: poison, Err: targets.Transient(errors.New("lock wait timeout"))})
	for round := range 5 {
		w.do("setup", "POST", "/Users", map[string]any{"userName": fmt.Sprintf("ok%d@contoso.com", round)}, 201)
		if err := w.e.PlanOnce(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := w.e.DeliverDue(ctx); err != nil {
			t.Fatal(err)
		}
		w.now = w.now.Add(2 * time.Second)
	}
	st, err := w.st.OutboxStats(ctx, "crm", w.now)
	if err != nil {
		t.Fatal(err)
	}
	if st.Dead != 1 || st.Pending != 0 || len(mem.Snapshot()) != 5 {
		t.Errorf("outbox %+v with %d objects in the target; want the poison object dead and the 5 others delivered", st, len(mem.Snapshot()))
	}
	if sts, _ := w.e.Targets(ctx); sts[0].Health == HealthDown {
		t.Errorf("one failing object took the target down: %+v", sts[0])
	}
}

// diskFull is a store whose writes fail while full is set, as on a full
// data disk.
type diskFull struct {
	store.Store
	mu   sync.Mutex
	full bool
}

func (d *diskFull) Write(ctx context.Context, fn func(ctx context.Context, tx store.Tx) error) error {
	d.mu.Lock()
	full := d.full
	d.mu.Unlock()
	if full {
		return errors.New("database or disk is full")
	}
	return d.Store.Write(ctx, fn)
}

func (d *diskFull) set(full bool) {
	d.mu.Lock()
	d.full = full
	d.mu.Unlock()
}

// TestStoreFailurePausesDeliveries: when the gateway's own store cannot
// record what a delivery did (a full disk), the target's deliveries pause
// with backoff instead of repeating at once, with one log line; when the
// store works again every object is delivered once more and recorded.
func TestStoreFailurePausesDeliveries(t *testing.T) {
	w := newWorld(t, engineScenario{Engine: scenarioEngine{BackoffBase: time.Second, BackoffMax: time.Minute}})
	disk := &diskFull{Store: w.st}
	w.st = disk
	mem := memory.New(memory.Config{})
	pol, err := policy.Compile(policy.Config{Targets: []policy.TargetConfig{{Name: "crm",
		Users: &policy.ObjectConfig{Scope: policy.ScopeConfig{All: true}, Mapping: []policy.MappingConfig{{Target: "userName", Source: "userName"}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	logs := &logLines{}
	w.start(pol, map[string]targets.Connector{"crm": mem}, slog.New(logs))
	ctx := t.Context()
	for i := range 4 {
		w.do("setup", "POST", "/Users", map[string]any{"userName": fmt.Sprintf("user%d@contoso.com", i)}, 201)
	}
	if err := w.e.PlanOnce(ctx); err != nil {
		t.Fatal(err)
	}
	logs.take()
	disk.set(true)
	for range 60 {
		if _, err := w.e.DeliverDue(ctx); err != nil {
			t.Fatal(err)
		}
		w.now = w.now.Add(time.Second)
	}
	// Backoff from 1 s doubling: at most 7 attempts in 60 s (each a create,
	// and from the second on the update of the object the first created).
	creates := 0
	for _, c := range mem.Calls() {
		if c.Method == memory.Create {
			creates++
		}
	}
	if creates > 8 {
		t.Errorf("%d attempts in 60 s while the store could not record them; want them paced by backoff", creates)
	}
	if lines := logs.take(); len(lines) != 1 {
		t.Errorf("log lines while the store failed: %q, want 1", lines)
	}
	disk.set(false)
	w.now = w.now.Add(2 * time.Minute)
	if _, err := w.e.DeliverDue(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := w.st.OutboxStats(ctx, "crm", w.now)
	if err != nil {
		t.Fatal(err)
	}
	if st.Pending != 0 || st.Dead != 0 || len(mem.Snapshot()) != 4 {
		t.Errorf("after the store recovered: %+v, %d objects in the target; want 4 delivered once each", st, len(mem.Snapshot()))
	}
	if lines := logs.take(); len(lines) != 1 {
		t.Errorf("log lines when the store recovered: %q, want 1", lines)
	}
}

// TestCloseForgetsTargetHealth: an engine that stops (a replica that no
// longer runs the background work) while a target is down does not go on
// reporting the outage it no longer probes: once the target is back, the
// admin view asks the connector and shows it up.
func TestCloseForgetsTargetHealth(t *testing.T) {
	w := newWorld(t, engineScenario{Engine: scenarioEngine{BackoffBase: time.Second, BackoffMax: time.Minute, MaxAttempts: 3}})
	mem := memory.New(memory.Config{})
	hc := &healthConn{Connector: mem}
	pol, err := policy.Compile(policy.Config{Targets: []policy.TargetConfig{{Name: "crm",
		Users: &policy.ObjectConfig{Scope: policy.ScopeConfig{All: true}, Mapping: []policy.MappingConfig{{Target: "userName", Source: "userName"}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	w.start(pol, map[string]targets.Connector{"crm": hc}, slog.New(slog.DiscardHandler))
	ctx := t.Context()
	hc.setDown("connection refused")
	mem.Inject(memory.Fault{Err: targets.Transient(errors.New("connection refused"))})
	w.do("setup", "POST", "/Users", map[string]any{"userName": "alice@contoso.com"}, 201)
	if err := w.e.PlanOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := w.e.DeliverDue(ctx); err != nil {
		t.Fatal(err)
	}
	if sts, err := w.e.Targets(ctx); err != nil || sts[0].Health != HealthDown {
		t.Fatalf("during the outage: %+v, %v; want down", sts, err)
	}

	w.e.Close()
	hc.setDown("")
	mem.ClearFaults()
	if sts, err := w.e.Targets(ctx); err != nil || sts[0].Health != HealthUp {
		t.Errorf("closed engine, target back: %+v, %v; want up", sts, err)
	}
}
