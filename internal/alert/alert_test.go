package alert

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/scimgate/scimgate/internal/engine"
	"github.com/scimgate/scimgate/internal/entra"
	"github.com/scimgate/scimgate/internal/graphtest"
	"github.com/scimgate/scimgate/internal/notify"
	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/internal/store/sqlstore"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// The sources the Evaluator reads are satisfied by the real components.
var (
	_ Store  = (*sqlstore.SQL)(nil)
	_ Engine = (*engine.Engine)(nil)
	_ Entra  = (*entra.Client)(nil)
)

// sender records what it sends; fail makes the next calls fail with a
// transient error, refuse with a permanent one. The zero value is ready.
type sender struct {
	mu     sync.Mutex
	sent   []string
	fail   int
	refuse bool
}

func (s *sender) SendEmail(_ context.Context, e notify.Email) error {
	return s.record(fmt.Sprintf("email to %s\nSubject: %s\n%s", strings.Join(e.To, ", "), e.Subject, e.Text))
}

func (s *sender) Notify(_ context.Context, ch string, m notify.Message) error {
	var b strings.Builder
	fmt.Fprintf(&b, "webhook %s\nTitle: %s\nFacts:", ch, m.Title)
	for _, f := range m.Facts {
		fmt.Fprintf(&b, " %s=%s;", f[0], f[1])
	}
	return s.record(b.String())
}

func (s *sender) record(msg string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refuse {
		return fmt.Errorf("%w: 550 no such mailbox", notify.ErrPermanent)
	}
	if s.fail > 0 {
		s.fail--
		return fmt.Errorf("%w: 451 try again later", notify.ErrTransient)
	}
	s.sent = append(s.sent, msg)
	return nil
}

func (s *sender) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.sent
	s.sent = nil
	return out
}

// fakeEngine is the engine's target status and reports, set by tests.
type fakeEngine struct {
	mu      sync.Mutex
	targets []engine.TargetStatus
	reports map[string][]engine.Report
	err     error
}

func (f *fakeEngine) Targets(context.Context) ([]engine.TargetStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]engine.TargetStatus(nil), f.targets...), f.err
}

func (f *fakeEngine) Reconciliations(_ context.Context, target string, limit int) ([]engine.Report, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reports[target], nil
}

func (f *fakeEngine) set(fn func(t *engine.TargetStatus)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(&f.targets[0])
}

// world is a store on disk, a fake clock, a recording sender and the
// sources, with the Evaluator over them (restarted with restart).
type world struct {
	t     *testing.T
	now   time.Time
	st    *sqlstore.SQL
	send  *sender
	eng   *fakeEngine
	entra Entra
	cfg   Config
	reg   *prometheus.Registry
	ev    *Evaluator
}

var epoch = time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)

func newWorld(t *testing.T, cfg Config) *world {
	w := &world{t: t, now: epoch, send: &sender{}, cfg: cfg,
		eng: &fakeEngine{targets: []engine.TargetStatus{{Name: "crm", Health: engine.HealthUp}}, reports: map[string][]engine.Report{}}}
	st, err := sqlstore.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	w.st = st
	return w
}

// restart makes a new Evaluator on the same store (as after a restart).
func (w *world) restart() {
	w.t.Helper()
	w.reg = prometheus.NewRegistry()
	ev, err := New(Options{Config: w.cfg, Store: w.st, Sender: w.send, Engine: w.eng, Entra: w.entra,
		Now: func() time.Time { return w.now }, Registerer: w.reg, BackoffBase: 30 * time.Second, MaxAttempts: 4})
	if err != nil {
		w.t.Fatal(err)
	}
	w.ev = ev
}

// evaluate runs n evaluations a minute apart.
func (w *world) evaluate(n int) {
	w.t.Helper()
	for range n {
		w.now = w.now.Add(time.Minute)
		if err := w.ev.Evaluate(w.t.Context()); err != nil {
			w.t.Fatalf("Evaluate: %v", err)
		}
	}
}

func (w *world) write(fn func(ctx context.Context, tx store.Tx) error) {
	w.t.Helper()
	if err := w.st.Write(w.t.Context(), fn); err != nil {
		w.t.Fatal(err)
	}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// channels are every rule's destinations in these tests: one email and
// one webhook, so each raising and each resolution sends two messages.
func withChannels(r Rule) Rule {
	r.Email = []string{"secops@example.com", "oncall@example.com"}
	r.Webhooks = []string{"teams-ops"}
	return r
}

// ruleCase is one rule and how a test turns its condition on and off.
type ruleCase struct {
	name  string
	rule  Rule
	setup func(w *world)
	on    func(w *world, episode int)
	off   func(w *world)
	// also checks what is specific to the rule, after setup.
	also func(w *world)
}

func ruleCases() []ruleCase {
	return []ruleCase{{
		name: "deletionGuard",
		rule: Rule{Kind: KindDeletionGuard},
		on: func(w *world, _ int) {
			w.eng.set(func(t *engine.TargetStatus) { t.GuardHolding, t.Held = true, 12 })
		},
		off: func(w *world) { w.eng.set(func(t *engine.TargetStatus) { t.GuardHolding, t.Held = false, 0 }) },
	}, {
		name: "targetDown",
		rule: Rule{Name: "crm-down", Kind: KindTargetDown, For: time.Hour},
		on: func(w *world, _ int) {
			w.eng.set(func(t *engine.TargetStatus) {
				t.Health, t.HealthError, t.DownSince = engine.HealthDown, "connection refused", w.now.Add(-2*time.Hour)
			})
		},
		off: func(w *world) {
			w.eng.set(func(t *engine.TargetStatus) { t.Health, t.HealthError, t.DownSince = engine.HealthUp, "", time.Time{} })
		},
		also: func(w *world) { // down, but not for an hour yet: nothing
			w.eng.set(func(t *engine.TargetStatus) { t.Health, t.DownSince = engine.HealthDown, w.now.Add(-30*time.Minute) })
			w.evaluate(3)
			if got := w.send.take(); len(got) != 0 {
				w.t.Fatalf("a target down for 33m raised an alert with for: 1h: %q", got)
			}
			w.eng.set(func(t *engine.TargetStatus) { t.Health, t.DownSince = engine.HealthUp, time.Time{} })
		},
	}, {
		name: "deadLetters",
		rule: Rule{Kind: KindDeadLetters, Threshold: 3},
		on:   func(w *world, _ int) { w.eng.set(func(t *engine.TargetStatus) { t.Dead = 5 }) },
		off:  func(w *world) { w.eng.set(func(t *engine.TargetStatus) { t.Dead = 1 }) },
		also: func(w *world) {
			w.eng.set(func(t *engine.TargetStatus) { t.Dead = 2 })
			w.evaluate(2)
			if got := w.send.take(); len(got) != 0 {
				w.t.Fatalf("2 dead letters under a threshold of 3 raised an alert: %q", got)
			}
		},
	}, {
		name: "reconcileDrift",
		rule: Rule{Kind: KindReconcileDrift, Threshold: 3},
		on: func(w *world, ep int) {
			w.eng.mu.Lock()
			defer w.eng.mu.Unlock()
			w.eng.reports["crm"] = append([]engine.Report{
				{ID: "run-dry", Target: "crm", DryRun: true, Status: engine.StatusDone, Counts: map[string]int{engine.OutcomeOrphan: 99}},
				{ID: fmt.Sprintf("run-%d", ep), Target: "crm", Status: engine.StatusDone,
					Counts: map[string]int{engine.OutcomeOrphan: 2, engine.OutcomeDrift: 2, engine.OutcomeOK: 40}}}, w.eng.reports["crm"]...)
		},
		off: func(w *world) {
			w.eng.mu.Lock()
			defer w.eng.mu.Unlock()
			w.eng.reports["crm"] = append([]engine.Report{{ID: "run-running", Target: "crm", Status: engine.StatusRunning,
				Counts: map[string]int{engine.OutcomeDrift: 50}}, {ID: "run-clean", Target: "crm", Status: engine.StatusDone,
				Counts: map[string]int{engine.OutcomeDrift: 1, engine.OutcomeOK: 43}}}, w.eng.reports["crm"]...)
		},
	}, {
		name:  "privilegedGroup SCIM",
		rule:  Rule{Name: "admins", Kind: KindPrivilegedGroup, Groups: []string{"Domain Admins"}},
		setup: scimGroups,
		on: func(w *world, _ int) {
			w.observe(store.Change{Type: "Group", ID: "g-other", Added: []string{"u-alice"}, MembersOnly: true},
				store.Change{Type: "Group", ID: "g-admins", Added: []string{"u-alice"}, MembersOnly: true})
		},
		off: func(w *world) {
			w.observe(store.Change{Type: "Group", ID: "g-admins", Removed: []string{"u-alice"}, MembersOnly: true})
		},
	}, {
		name:  "privilegedGroup Entra",
		rule:  Rule{Name: "entra-admins", Kind: KindPrivilegedGroup, EntraGroups: []string{entraAdmins}},
		setup: entraGroup,
		on: func(w *world, _ int) {
			if _, err := w.entra.(*entra.Client).AddMember(w.t.Context(), entraAdmins, entraBob); err != nil {
				w.t.Fatal(err)
			}
		},
		off: func(w *world) {
			if _, err := w.entra.(*entra.Client).RemoveMember(w.t.Context(), entraAdmins, entraBob); err != nil {
				w.t.Fatal(err)
			}
		},
	}, {
		name:  "workflowTaskFailed",
		rule:  Rule{Kind: KindWorkflowTaskFailed, Workflows: []string{"leaver"}},
		setup: workflowRun,
		on: func(w *world, _ int) {
			w.failTask(store.WorkflowFailed, "smtp: 550 mailbox unavailable")
			run, tasks, err := w.st.WorkflowRun(w.t.Context(), 1)
			if err != nil {
				w.t.Fatal(err)
			}
			if err := w.ev.ObserveTaskFailed(w.t.Context(), run, tasks[1]); err != nil {
				w.t.Fatal(err)
			}
			if err := w.ev.ObserveTaskFailed(w.t.Context(), run, tasks[1]); err != nil { // told twice: one alert
				w.t.Fatal(err)
			}
		},
		off: func(w *world) { w.failTask(store.WorkflowPending, "") }, // the run retried
		also: func(w *world) { // a workflow the rule does not watch
			run, tasks, err := w.st.WorkflowRun(w.t.Context(), 2)
			if err != nil {
				w.t.Fatal(err)
			}
			if err := w.ev.ObserveTaskFailed(w.t.Context(), run, tasks[0]); err != nil {
				w.t.Fatal(err)
			}
			w.evaluate(1)
			if got := w.send.take(); len(got) != 0 {
				w.t.Fatalf("a failed task of an unwatched workflow raised an alert: %q", got)
			}
		},
	}}
}

// TestRules: for each rule, an alert is raised once (one message per
// destination) while its condition holds over several evaluations, also
// across a restart of the Evaluator on the same store; resolved once when
// the condition ends; raised again for a new episode. The messages match
// the golden files, and the metrics count the episodes.
func TestRules(t *testing.T) {
	for _, tc := range ruleCases() {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, Config{Rules: []Rule{withChannels(tc.rule)}})
			if tc.setup != nil {
				tc.setup(w)
			}
			w.restart()
			w.evaluate(2)
			if got := w.send.take(); len(got) != 0 {
				t.Fatalf("before the condition: %q", got)
			}
			if tc.also != nil {
				tc.also(w)
			}

			tc.on(w, 1)
			w.evaluate(3)
			raised := w.send.take()
			if len(raised) != 2 || !strings.Contains(raised[0], "alert") {
				t.Fatalf("while the condition holds: %d messages, want 2 (email, webhook): %q", len(raised), raised)
			}
			w.restart()
			w.evaluate(3)
			if got := w.send.take(); len(got) != 0 {
				t.Fatalf("after a restart, the alert was notified again: %q", got)
			}
			w.checkMetrics(tc.rule.RuleName(), 1, 1, 0)

			tc.off(w)
			w.evaluate(3)
			resolved := w.send.take()
			if len(resolved) != 2 || !strings.Contains(resolved[0], "resolved") {
				t.Fatalf("when the condition ended: %d messages, want 2: %q", len(resolved), resolved)
			}
			w.checkMetrics(tc.rule.RuleName(), 0, 1, 1)
			golden(t, strings.ReplaceAll(tc.name, " ", "-"), strings.Join(append(raised, resolved...), "\n----\n")+"\n")

			tc.on(w, 2)
			w.evaluate(2)
			if again := w.send.take(); len(again) != 2 || !strings.Contains(again[0], "alert") {
				t.Fatalf("a new episode: %d messages, want 2: %q", len(again), again)
			}
			w.checkMetrics(tc.rule.RuleName(), 1, 2, 1)
			as, err := w.st.Alerts(t.Context(), store.AlertQuery{Active: true})
			if err != nil || len(as) != 1 || as[0].Episode != 2 {
				t.Fatalf("active alerts %+v %v; want one, episode 2", as, err)
			}
		})
	}
}

func (w *world) checkMetrics(rule string, active, raised, resolved float64) {
	w.t.Helper()
	want := fmt.Sprintf(`# HELP scimgate_alerts_active Alerts raised and not resolved, by rule.
# TYPE scimgate_alerts_active gauge
scimgate_alerts_active{rule=%q} %g
# HELP scimgate_alerts_total Alert episodes by rule and state (raised, resolved), as recorded in the store.
# TYPE scimgate_alerts_total counter
scimgate_alerts_total{rule=%q,state="raised"} %g
scimgate_alerts_total{rule=%q,state="resolved"} %g
`, rule, active, rule, raised, rule, resolved)
	if err := testutil.GatherAndCompare(w.reg, strings.NewReader(want), "scimgate_alerts_active", "scimgate_alerts_total"); err != nil {
		w.t.Error(err)
	}
}

// observe hands changes to ObserveChanges in a store transaction, as the
// engine's planner does.
func (w *world) observe(cs ...store.Change) {
	w.t.Helper()
	w.write(func(ctx context.Context, tx store.Tx) error { return w.ev.ObserveChanges(ctx, tx, cs) })
}

func scimGroups(w *world) {
	w.write(func(ctx context.Context, tx store.Tx) error {
		for _, r := range []store.Resource{
			{Type: "User", ID: "u-alice", Unique: "alice@example.com", Data: []byte(`{"userName":"alice@example.com","password":"hunter2"}`)},
			{Type: "Group", ID: "g-admins", Unique: "domain admins", Data: []byte(`{"displayName":"Domain Admins"}`)},
			{Type: "Group", ID: "g-other", Unique: "staff", Data: []byte(`{"displayName":"Staff"}`)},
		} {
			if err := tx.Create(ctx, &r); err != nil {
				return err
			}
		}
		return nil
	})
}

const (
	entraAdmins = "0b7c4a8e-2f3d-4e5a-9b6c-7d8e9f0a1b2c"
	entraBob    = "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b"
	entraCarol  = "6f7a8b9c-0d1e-4f2a-9b3c-4d5e6f7a8b9c"
)

// entraGroup starts the Entra fake with a watched group that has a member
// from the start (recorded by the first evaluation, not alerted).
func entraGroup(w *world) {
	g := graphtest.Start(w.t)
	g.AddApp(graphtest.App{ClientID: "alerts", Secret: "s", Roles: []string{entra.PermGroupRead, entra.PermGroupMemberWrite, entra.PermUserRead}})
	g.AddUser(graphtest.User{ID: entraBob, UserPrincipalName: "bob@contoso.example", DisplayName: "Bob", AccountEnabled: true})
	g.AddUser(graphtest.User{ID: entraCarol, UserPrincipalName: "carol@contoso.example", DisplayName: "Carol", AccountEnabled: true})
	g.AddGroup(graphtest.Group{ID: entraAdmins, DisplayName: "Global Admins (PIM)", SecurityEnabled: true, Members: []string{entraCarol}})
	w.t.Setenv("ALERT_TEST_SECRET", "s")
	var clock graphtest.Clock
	c, err := entra.New(entra.Config{Credential: entra.CredentialClientSecret, TenantID: graphtest.TenantID, ClientID: "alerts",
		ClientSecretEnv: "ALERT_TEST_SECRET", AuthorityHost: g.AuthorityHost, GraphURL: g.GraphURL,
		Features: entra.Features{Membership: true}}, entra.Options{Transport: g.Transport(), Now: clock.Now, After: clock.After})
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { _ = c.Close() })
	w.entra = c
}

// workflowRun stores a run of leaver for alice (run 1) and one of
// welcome (run 2, not watched), whose tasks the tests fail.
func workflowRun(w *world) {
	scimGroups(w)
	w.write(func(ctx context.Context, tx store.Tx) error {
		for _, wf := range []string{"leaver", "welcome"} {
			r := store.WorkflowRun{Workflow: wf, User: "u-alice", Occurrence: "2026-05-04", Status: store.WorkflowRunning,
				Trigger: []byte(`{}`), Created: epoch, Updated: epoch}
			if _, err := tx.CreateWorkflowRun(ctx, &r, []store.WorkflowTask{
				{Index: 0, Kind: "entraDisable", Status: store.WorkflowFailed, LastError: "x"},
				{Index: 1, Kind: "sendEmail", Status: store.WorkflowPending}}); err != nil {
				return err
			}
		}
		return nil
	})
}

// failTask sets the status of task 1 of run 1.
func (w *world) failTask(status, lastError string) {
	w.write(func(ctx context.Context, tx store.Tx) error {
		return tx.UpdateWorkflowTask(ctx, store.WorkflowTask{Run: 1, Index: 1, Status: status, Attempts: 5, LastError: lastError, Updated: w.now})
	})
}

// TestTransientSendFailure: a notification that fails is retried with
// backoff (not before it is due), is sent once when the channel is back,
// and the alert is not raised again; after MaxAttempts it is kept as
// failed and not retried.
func TestTransientSendFailure(t *testing.T) {
	w := newWorld(t, Config{Rules: []Rule{{Kind: KindDeadLetters, Threshold: 1, Webhooks: []string{"teams-ops"}}}})
	w.restart()
	w.eng.set(func(t *engine.TargetStatus) { t.Dead = 3 })
	w.send.fail = 2
	step := func(d time.Duration, want int) {
		t.Helper()
		w.now = w.now.Add(d)
		if err := w.ev.Evaluate(t.Context()); err != nil {
			t.Fatal(err)
		}
		if got := w.send.take(); len(got) != want {
			t.Fatalf("at +%s: %d messages sent, want %d: %q", w.now.Sub(epoch), len(got), want, got)
		}
	}
	step(0, 0)              // raised; the first attempt fails
	step(10*time.Second, 0) // not due before 30 s
	step(20*time.Second, 0) // second attempt at 30 s fails; next after 60 s
	step(30*time.Second, 0) // not due yet
	step(30*time.Second, 1) // third attempt succeeds
	step(time.Hour, 0)      // sent once, never again
	ns, err := w.st.AlertNotices(t.Context(), store.AlertNoticeQuery{})
	if err != nil || len(ns) != 0 {
		t.Fatalf("notices left %+v %v", ns, err)
	}
	as, err := w.st.Alerts(t.Context(), store.AlertQuery{})
	if err != nil || len(as) != 1 || as[0].Episode != 1 || !as[0].Active {
		t.Fatalf("alerts %+v %v; want one active, episode 1", as, err)
	}
	if got := testutil.ToFloat64(w.ev.metrics.notifications.WithLabelValues("deadLetters", "retry")); got != 2 {
		t.Errorf("retries counted %g, want 2", got)
	}

	// The channel fails for good: MaxAttempts (4) attempts, then kept as failed.
	w.eng.set(func(t *engine.TargetStatus) { t.Dead = 0 })
	w.send.fail = 100
	for range 10 {
		step(time.Hour, 0)
	}
	ns, err = w.st.AlertNotices(t.Context(), store.AlertNoticeQuery{})
	if err != nil || len(ns) != 1 || !ns[0].Failed || ns[0].Attempts != 4 || ns[0].Event != store.AlertResolved ||
		!strings.Contains(ns[0].LastError, "451") {
		t.Fatalf("notices %+v %v; want the resolution failed after 4 attempts", ns, err)
	}
	if w.send.fail != 96 {
		t.Fatalf("%d attempts, want 4", 100-w.send.fail)
	}
}

// TestPermanentSendFailure: a notification the channel refuses for good
// (a mailbox that does not exist) is not retried.
func TestPermanentSendFailure(t *testing.T) {
	w := newWorld(t, Config{Rules: []Rule{{Kind: KindDeadLetters, Threshold: 1, Webhooks: []string{"teams-ops"}}}})
	w.restart()
	w.eng.set(func(t *engine.TargetStatus) { t.Dead = 3 })
	w.send.refuse = true
	for range 3 {
		if err := w.ev.Evaluate(t.Context()); err != nil {
			t.Fatal(err)
		}
		w.now = w.now.Add(time.Hour)
	}
	ns, err := w.st.AlertNotices(t.Context(), store.AlertNoticeQuery{})
	if err != nil || len(ns) != 1 || !ns[0].Failed || ns[0].Attempts != 1 || !strings.Contains(ns[0].LastError, "550") {
		t.Fatalf("notices %+v %v; want one, failed after 1 attempt", ns, err)
	}
}

// TestSourceErrorResolvesNothing: when the engine cannot be read, the
// active alerts stay as they are.
func TestSourceErrorResolvesNothing(t *testing.T) {
	w := newWorld(t, Config{Rules: []Rule{withChannels(Rule{Kind: KindDeletionGuard})}})
	w.restart()
	w.eng.set(func(t *engine.TargetStatus) { t.GuardHolding = true })
	w.evaluate(1)
	if got := w.send.take(); len(got) != 2 {
		t.Fatalf("raised: %q", got)
	}
	w.eng.mu.Lock()
	w.eng.err, w.eng.targets = errors.New("store closed"), nil
	w.eng.mu.Unlock()
	w.now = w.now.Add(time.Minute)
	if err := w.ev.Evaluate(t.Context()); err == nil || !strings.Contains(err.Error(), "store closed") {
		t.Fatalf("Evaluate: %v; want the source's error", err)
	}
	if got := w.send.take(); len(got) != 0 {
		t.Fatalf("a source error resolved the alert: %q", got)
	}
}
