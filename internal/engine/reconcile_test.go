package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/policy"
	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/memory"
)

// blockingList is a memory target whose List, while armed, tells entered
// and waits for release (or its context).
type blockingList struct {
	*memory.Connector
	entered chan struct{}
	release chan struct{}
}

func (c *blockingList) List(ctx context.Context, kind targets.Kind, cursor string, limit int) (targets.Page, error) {
	if c.entered != nil {
		c.entered <- struct{}{}
		select {
		case <-c.release:
		case <-ctx.Done():
			return targets.Page{}, targets.Transient(ctx.Err())
		}
	}
	return c.Connector.List(ctx, kind, cursor, limit)
}

// finished signals done when the engine logs that a reconciliation
// finished.
type finished struct{ done chan string }

func (f finished) Enabled(context.Context, slog.Level) bool { return true }
func (f finished) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "engine: reconciliation finished" {
		var id string
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "id" {
				id = a.Value.String()
			}
			return true
		})
		f.done <- id
	}
	return nil
}
func (f finished) WithAttrs([]slog.Attr) slog.Handler { return f }
func (f finished) WithGroup(string) slog.Handler      { return f }

// reconcileWorld is a scenario world with one target, app, on conn, and
// users u0..u(n-1) delivered to it.
func reconcileWorld(t *testing.T, conn targets.Connector, mem *memory.Connector, log *slog.Logger, users int, tc policy.TargetConfig) *scenarioWorld {
	t.Helper()
	w := newWorld(t, engineScenario{})
	tc.Name = "app"
	if tc.Users == nil {
		tc.Users = &policy.ObjectConfig{Scope: policy.ScopeConfig{All: true}, Mapping: []policy.MappingConfig{{Target: "userName", Source: "userName"}},
			Matching: []string{"userName"}}
	}
	pol, err := policy.Compile(policy.Config{Targets: []policy.TargetConfig{tc}})
	if err != nil {
		t.Fatal(err)
	}
	w.conns["app"] = &healthConn{Connector: mem}
	w.start(pol, map[string]targets.Connector{"app": conn}, log)
	step := engineStep{}
	for i := range users {
		step.Put.Users = append(step.Put.Users, map[string]any{"key": fmt.Sprintf("u%d", i), "userName": fmt.Sprintf("u%d@contoso.com", i)})
	}
	w.scimChanges("setup", step)
	if err := w.e.PlanOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := w.e.DeliverDue(t.Context()); err != nil {
		t.Fatal(err)
	}
	return w
}

// TestReconcileOneAtATime: while a reconciliation of a target runs (its
// List blocked), a second one is refused with ErrReconcileRunning, a due
// scheduled one is not started, and the admin view shows the running one
// with its progress; once it ends, the next one runs.
func TestReconcileOneAtATime(t *testing.T) {
	mem := memory.New(memory.Config{})
	conn := &blockingList{Connector: mem}
	w := reconcileWorld(t, conn, mem, nil, 2, policy.TargetConfig{Reconcile: &policy.ReconcileConfig{Schedule: time.Minute}})
	ctx := store.WithActor(t.Context(), "admin: test")
	// The schedule's first run is due a minute after the engine started;
	// this one starts half-way.
	w.now = w.now.Add(30 * time.Second)
	conn.entered, conn.release = make(chan struct{}), make(chan struct{})
	type result struct {
		rep Report
		err error
	}
	started := make(chan Progress, 1)
	done := make(chan result, 1)
	go func() {
		rep, err := w.e.Reconcile(ctx, "app", false, func(p Progress) {
			select {
			case started <- p:
			default:
			}
		})
		done <- result{rep, err}
	}()
	first := <-started
	<-conn.entered // the run is listing
	if _, err := w.e.Reconcile(ctx, "app", true, nil); !errors.Is(err, ErrReconcileRunning) {
		t.Errorf("a second reconciliation: %v, want ErrReconcileRunning", err)
	}
	w.now = w.now.Add(30 * time.Second) // the scheduled run is due
	if reps, err := w.e.ReconcileDue(ctx); err != nil || len(reps) != 0 {
		t.Errorf("ReconcileDue while one runs: %d reports, %v; want none", len(reps), err)
	}
	reps, err := w.e.Reconciliations(ctx, "app", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(reps) != 1 || reps[0].ID != first.ID || reps[0].Status != StatusRunning || reps[0].Actor != "admin: test" || reps[0].Expected != 2 {
		t.Errorf("reports while running: %+v; want the running one, %s", reps, first.ID)
	}
	if rep, err := w.e.Reconciliation(ctx, "app", first.ID); err != nil || rep.Status != StatusRunning {
		t.Errorf("the running report: %+v, %v", rep, err)
	}
	close(conn.release)
	conn.entered = nil
	res := <-done
	if res.err != nil || res.rep.Status != StatusDone || res.rep.Read != 2 || res.rep.Counts[OutcomeOK] != 2 {
		t.Fatalf("the run: %+v, %v", res.rep, res.err)
	}
	// It moved the schedule to a minute after its start: not due now.
	if reps, err := w.e.ReconcileDue(ctx); err != nil || len(reps) != 0 {
		t.Errorf("ReconcileDue after the run: %d reports, %v; want none", len(reps), err)
	}
	if _, err := w.e.Reconcile(ctx, "app", true, nil); err != nil {
		t.Errorf("the next reconciliation: %v", err)
	}
	reps, err = w.e.Reconciliations(ctx, "app", 10)
	if err != nil || len(reps) != 2 || reps[1].ID != first.ID || !reps[0].DryRun || reps[0].Items != nil {
		t.Errorf("reports: %+v, %v; want the dry run, then the first, without items", reps, err)
	}
	if _, err := w.e.Reconciliation(ctx, "app", "no-such-id"); !errors.Is(err, ErrUnknownReconciliation) {
		t.Errorf("an unknown report: %v", err)
	}
	if _, err := w.e.Reconcile(ctx, "nope", false, nil); !errors.Is(err, ErrUnknownTarget) {
		t.Errorf("an unknown target: %v", err)
	}
}

// TestStartReconcile: StartReconcile needs a started engine, hands the run
// to the target's goroutine and returns its id at once; the run is
// visible while it lists, refuses a second start, and is kept when done.
func TestStartReconcile(t *testing.T) {
	mem := memory.New(memory.Config{})
	conn := &blockingList{Connector: mem}
	fin := finished{done: make(chan string, 1)}
	w := reconcileWorld(t, conn, mem, slog.New(fin), 1, policy.TargetConfig{})
	ctx := store.WithActor(t.Context(), "admin: test")
	if _, err := w.e.StartReconcile(ctx, "app", false); !errors.Is(err, ErrNotStarted) {
		t.Fatalf("before Start: %v, want ErrNotStarted", err)
	}
	conn.entered, conn.release = make(chan struct{}), make(chan struct{})
	w.e.Start(t.Context())
	id, err := w.e.StartReconcile(ctx, "app", false)
	if err != nil {
		t.Fatal(err)
	}
	<-conn.entered
	if _, err := w.e.StartReconcile(ctx, "app", true); !errors.Is(err, ErrReconcileRunning) {
		t.Errorf("a second start: %v, want ErrReconcileRunning", err)
	}
	if rep, err := w.e.Reconciliation(ctx, "app", id); err != nil || rep.Status != StatusRunning {
		t.Errorf("while it runs: %+v, %v", rep, err)
	}
	conn.entered = nil
	close(conn.release)
	if got := <-fin.done; got != id {
		t.Fatalf("finished %s, want %s", got, id)
	}
	rep, err := w.e.Reconciliation(ctx, "app", id)
	if err != nil || rep.Status != StatusDone || rep.Read != 1 || rep.Actor != "admin: test" {
		t.Errorf("the kept report: %+v, %v", rep, err)
	}
}

// TestReconcileInterrupted: a run whose context ends (the gateway shuts
// down) is kept as failed, saying so.
func TestReconcileInterrupted(t *testing.T) {
	mem := memory.New(memory.Config{})
	conn := &blockingList{Connector: mem, entered: make(chan struct{}), release: make(chan struct{})}
	w := reconcileWorld(t, conn, mem, nil, 1, policy.TargetConfig{})
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-conn.entered
		cancel()
	}()
	rep, err := w.e.Reconcile(ctx, "app", false, nil)
	if err == nil || rep.Status != StatusFailed || !strings.HasPrefix(rep.Error, "interrupted (the gateway is shutting down): ") {
		t.Fatalf("report %+v, error %v", rep, err)
	}
	kept, err := w.e.Reconciliation(t.Context(), "app", rep.ID)
	if err != nil || kept.Status != StatusFailed || kept.Error != rep.Error {
		t.Errorf("kept: %+v, %v", kept, err)
	}
}

// TestReconcileDryRunWritesNothing: a dry run of a target with every kind
// of difference leaves the engine's records, outbox, journal and cursors
// as they were, calls no connector method but List and Get, and reports
// what the real run then does.
func TestReconcileDryRunWritesNothing(t *testing.T) {
	mem := memory.New(memory.Config{})
	w := reconcileWorld(t, mem, mem, nil, 4, policy.TargetConfig{Orphans: policy.OrphansDelete})
	ctx := t.Context()
	w.outside("setup", map[string][]outsideChange{"app": {
		{Update: "u0", Attrs: map[string]any{"userName": "hacked"}},
		{Delete: "u1"},
		{Update: "u2", Disabled: new(true)},
		{Create: true, Attrs: map[string]any{"userName": "orphan@contoso.com"}},
	}})
	mem.ResetCalls()
	type snapshot struct {
		recs    []store.Provisioned
		pending []store.Outbox
		changes []store.Change
		cursor  int64
	}
	snap := func() snapshot {
		var s snapshot
		var err error
		if s.recs, err = w.st.ProvisionedOf(ctx, "app"); err != nil {
			t.Fatal(err)
		}
		if s.pending, err = w.st.Outbox(ctx, "app", false, 100); err != nil {
			t.Fatal(err)
		}
		if s.changes, err = w.st.Changes(ctx, 0, 100); err != nil {
			t.Fatal(err)
		}
		if s.cursor, err = w.st.Cursor(ctx, cursorName); err != nil {
			t.Fatal(err)
		}
		return s
	}
	before := snap()
	dry, err := w.e.Reconcile(ctx, "app", true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if after := snap(); !reflect.DeepEqual(before, after) {
		t.Errorf("the dry run changed the engine's state:\nbefore %+v\n after %+v", before, after)
	}
	if calls := mem.Calls(); len(calls) != 0 {
		t.Errorf("the dry run called the target: %+v", calls)
	}
	if dry.Changes != 4 || len(dry.Items) != 4 {
		t.Errorf("dry run: %+v, want 4 changes", dry)
	}
	real, err := w.e.Reconcile(ctx, "app", false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(dry.Items, real.Items) || !reflect.DeepEqual(dry.Counts, real.Counts) {
		t.Errorf("the dry run and the run differ:\n dry %+v\nreal %+v", dry, real)
	}
}

// TestReconcilePages: accounts are read page by page; the report counts
// every one, and keeps at most reportItemsMax items per outcome.
func TestReconcilePages(t *testing.T) {
	mem := memory.New(memory.Config{})
	w := reconcileWorld(t, mem, mem, nil, 3, policy.TargetConfig{})
	const orphans = reportItemsMax + reconcilePage + 7
	for i := range orphans {
		if _, err := mem.Seed(targets.Object{Kind: targets.User, Attrs: map[string]any{"userName": fmt.Sprintf("o%d@contoso.com", i)}}); err != nil {
			t.Fatal(err)
		}
	}
	var progress []int
	rep, err := w.e.Reconcile(t.Context(), "app", true, func(p Progress) { progress = append(progress, p.Read) })
	if err != nil {
		t.Fatal(err)
	}
	if rep.Read != orphans+3 || rep.Counts[OutcomeOrphan] != orphans || rep.Counts[OutcomeOK] != 3 || len(rep.Items) != reportItemsMax {
		t.Errorf("read %d, counts %v, %d items; want %d read, %d orphans, %d items", rep.Read, rep.Counts, len(rep.Items), orphans+3, orphans, reportItemsMax)
	}
	// Once at the start, after the index, then after each page.
	want := []int{0, 0, reconcilePage, 2 * reconcilePage, 2*reconcilePage + reconcilePage, orphans + 3}
	if !reflect.DeepEqual(progress, want) {
		t.Errorf("progress %v, want %v", progress, want)
	}
}
