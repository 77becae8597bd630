package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/engine"
	"github.com/scimgate/scimgate/internal/entra"
	"github.com/scimgate/scimgate/internal/graphtest"
	"github.com/scimgate/scimgate/internal/notify"
	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/internal/store/sqlstore"
	"github.com/scimgate/scimgate/policy"
	"github.com/scimgate/scimgate/scim"
	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/memory"
	"gopkg.in/yaml.v3"
)

// fakeSender records what it is asked to send; fail makes it fail.
type fakeSender struct {
	mu     sync.Mutex
	emails []notify.Email
	fail   error
}

func (f *fakeSender) SendEmail(_ context.Context, e notify.Email) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.emails = append(f.emails, e)
	return nil
}

func (f *fakeSender) Notify(context.Context, string, notify.Message) error { return nil }

func (f *fakeSender) take() []notify.Email {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.emails
	f.emails = nil
	return out
}

const clientID = "11111111-2222-4333-8444-555555555555"

// world is a store, an engine with a memory target crm, a fake Entra
// tenant, a fake sender and a runner, on a fake clock.
type world struct {
	t     *testing.T
	now   time.Time
	st    *sqlstore.SQL
	mem   *memory.Connector
	graph *graphtest.Server
	// graphClock is the Entra client's clock: its Retry-After waits end
	// at once.
	graphClock graphtest.Clock
	ec         *entra.Client
	sender     *fakeSender
	e          *engine.Engine
	r          *Runner
	wfs        []*Workflow
	// httpClient and callbackURL are the webhook tasks' (nil: defaults).
	httpClient  *http.Client
	callbackURL func(token string) string
}

func newWorld(t *testing.T, yml string) *world { return newWorldWith(t, yml, nil) }

// newWorldWith is newWorld; setup adjusts the world before its runner
// opens.
func newWorldWith(t *testing.T, yml string, setup func(*world)) *world {
	t.Helper()
	w := &world{t: t, now: time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC), sender: &fakeSender{}, mem: memory.New(memory.Config{})}
	st, err := sqlstore.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	w.st = st
	w.graph = graphtest.Start(t)
	w.graph.AddApp(graphtest.App{ClientID: clientID, Secret: "s", Roles: []string{"User.ReadWrite.All", "GroupMember.ReadWrite.All",
		"UserAuthenticationMethod.ReadWrite.All", "User.EnableDisableAccount.All", "User.RevokeSessions.All"}})
	t.Setenv("WF_TEST_SECRET", "s")
	w.ec, err = entra.New(entra.Config{Credential: entra.CredentialClientSecret, TenantID: graphtest.TenantID, ClientID: clientID,
		ClientSecretEnv: "WF_TEST_SECRET", AuthorityHost: w.graph.AuthorityHost, GraphURL: w.graph.GraphURL,
		Features: entra.Features{Membership: true, EnableDisable: true, DeleteUsers: true, RevokeSessions: true, TemporaryAccessPass: true}},
		entra.Options{Transport: w.graph.Transport(), Now: w.graphClock.Now, After: w.graphClock.After})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.ec.Close() })
	var cfgs []Config
	if err := yaml.Unmarshal([]byte(yml), &cfgs); err != nil {
		t.Fatal(err)
	}
	w.wfs, err = Compile(cfgs, CompileOptions{Targets: []string{"crm"}, Entra: true, Email: true})
	if err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		setup(w)
	}
	w.open()
	return w
}

// open starts a runner and an engine on the world's store (again after
// close: a restart).
func (w *world) open() {
	t := w.t
	r, err := New(Options{Store: w.st, Workflows: w.wfs, Sender: w.sender, Entra: w.ec, Now: func() time.Time { return w.now },
		BackoffBase: time.Minute, BackoffMax: 10 * time.Minute, MaxAttempts: 3, HTTPClient: w.httpClient, CallbackURL: w.callbackURL})
	if err != nil {
		t.Fatal(err)
	}
	pol, err := policy.Compile(policy.Config{Targets: []policy.TargetConfig{{Name: "crm",
		Users: &policy.ObjectConfig{Scope: policy.ScopeConfig{All: true}, Mapping: []policy.MappingConfig{{Target: "login", Source: "userName"}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.New(engine.Options{Store: w.st, Policy: pol, Connectors: map[string]targets.Connector{"crm": w.mem},
		Now: func() time.Time { return w.now }, OnChanges: r.OnChanges})
	if err != nil {
		t.Fatal(err)
	}
	r.UseEngine(e)
	w.e, w.r = e, r
}

// put creates or replaces a user (id) with its enterprise extension.
func (w *world) put(id, userName string, ent map[string]any, extra map[string]any) {
	w.t.Helper()
	u := map[string]any{"id": id, "userName": userName, "displayName": strings.Split(userName, "@")[0], "active": true,
		"emails": []any{map[string]any{"value": userName, "primary": true}}}
	if ent != nil {
		u[scim.URNEnterpriseUser] = ent
	}
	for k, v := range extra {
		u[k] = v
	}
	b, err := json.Marshal(u)
	if err != nil {
		w.t.Fatal(err)
	}
	err = w.st.Write(w.t.Context(), func(ctx context.Context, tx store.Tx) error {
		r, err := tx.Get(ctx, "User", id)
		if errors.Is(err, store.ErrNotFound) {
			return tx.Create(ctx, &store.Resource{Type: "User", ID: id, Unique: userName, Data: b})
		}
		if err != nil {
			return err
		}
		r.Data = b
		return tx.Update(ctx, &r)
	})
	if err != nil {
		w.t.Fatal(err)
	}
}

// step plans the journal, runs what is due and delivers the engine's
// operations.
func (w *world) step() {
	w.t.Helper()
	ctx := w.t.Context()
	if err := w.e.PlanOnce(ctx); err != nil {
		w.t.Fatal(err)
	}
	if _, err := w.r.RunDue(ctx); err != nil {
		w.t.Fatal(err)
	}
	if err := w.e.PlanOnce(ctx); err != nil {
		w.t.Fatal(err)
	}
	if _, err := w.e.DeliverDue(ctx); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) schedule(wf, user string) (store.WorkflowSchedule, bool) {
	w.t.Helper()
	s, err := w.st.WorkflowSchedules(w.t.Context(), store.WorkflowScheduleQuery{Workflow: wf, User: user, Limit: 2})
	if err != nil {
		w.t.Fatal(err)
	}
	if len(s) == 0 {
		return store.WorkflowSchedule{}, false
	}
	return s[0], true
}

func (w *world) runs(wf, user string) []Run {
	w.t.Helper()
	rs, err := w.r.Runs(w.t.Context(), wf, user, "", 100)
	if err != nil {
		w.t.Fatal(err)
	}
	var out []Run
	for _, r := range rs {
		run, err := w.r.Run(w.t.Context(), r.ID)
		if err != nil {
			w.t.Fatal(err)
		}
		out = append(out, run)
	}
	return out
}

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

const lifecycleYAML = `
- name: pre-hire
  category: joiner
  scope: user.enterprise.department == "Sales"
  trigger: {time: {attribute: employeeHireDate, offsetDays: -7, window: 72h}}
  tasks:
    - {task: entraTemporaryAccessPass, lifetimeMinutes: 120, oneTimeUse: true, emailTo: manager}
- name: mover
  category: mover
  trigger: {event: {on: attributeChanged, attribute: department, from: Sales}}
  tasks:
    - {task: entraRemoveFromGroups, groups: [GROUP_SALES]}
    - {task: sendEmail, to: manager, template: mover}
- name: last-day
  category: leaver
  trigger: {time: {attribute: employeeLeaveDateTime, offsetDays: 0}}
  tasks:
    - {task: entraDisable}
    - {task: targetDisable, target: crm}
    - {task: entraRemoveFromAllGroups}
- name: post-offboarding
  category: leaver
  trigger: {time: {attribute: employeeLeaveDateTime, offsetDays: 30}}
  tasks:
    - {task: entraDelete}
`

// TestLifecycle: the joiner, mover and leaver workflows end to end on a
// fake clock against the Entra fake, a memory target and a fake sender.
func TestLifecycle(t *testing.T) {
	sales := "0b3f5a8e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
	w := newWorld(t, strings.ReplaceAll(lifecycleYAML, "GROUP_SALES", sales))
	ctx := store.WithActor(t.Context(), "test")
	alice := w.graph.AddUser(graphtest.User{UserPrincipalName: "alice@contoso.example", DisplayName: "alice", AccountEnabled: true})
	other := w.graph.AddGroup(graphtest.Group{DisplayName: "All staff", SecurityEnabled: true, Members: []string{alice.ID}})
	w.graph.AddGroup(graphtest.Group{ID: sales, DisplayName: "Sales", SecurityEnabled: true, Members: []string{alice.ID}})

	w.put("u-mgr", "mgr@contoso.example", nil, nil)
	w.put("u-alice", "alice@contoso.example", map[string]any{"department": "Sales", "employeeHireDate": "2026-01-12",
		"manager": map[string]any{"value": "u-mgr"}}, nil)
	w.put("u-bob", "bob@contoso.example", map[string]any{"department": "Sales", "employeeHireDate": "2026-01-20"}, nil)
	w.step()
	if s, ok := w.schedule("pre-hire", "u-alice"); !ok || !s.Due.Equal(day("2026-01-05")) {
		t.Fatalf("pre-hire of alice: %+v %v, want due 2026-01-05", s, ok)
	}
	up, err := w.r.Upcoming(ctx, 14)
	if err != nil || len(up) != 2 || up[0].User.UserName != "alice@contoso.example" || up[0].Tasks[0] != "entraTemporaryAccessPass" {
		t.Fatalf("upcoming: %+v %v", up, err)
	}

	t.Run("moving the hire date reschedules", func(t *testing.T) {
		w.put("u-alice", "alice@contoso.example", map[string]any{"department": "Sales", "employeeHireDate": "2026-01-14",
			"manager": map[string]any{"value": "u-mgr"}}, nil)
		w.step()
		if s, ok := w.schedule("pre-hire", "u-alice"); !ok || !s.Due.Equal(day("2026-01-07")) {
			t.Fatalf("pre-hire of alice: %+v %v, want due 2026-01-07", s, ok)
		}
	})
	t.Run("leaving the scope unschedules", func(t *testing.T) {
		w.put("u-bob", "bob@contoso.example", map[string]any{"department": "Support", "employeeHireDate": "2026-01-20"}, nil)
		w.step()
		if s, ok := w.schedule("pre-hire", "u-bob"); ok {
			t.Fatalf("bob left the scope and is still scheduled: %+v", s)
		}
	})
	t.Run("test before going live", func(t *testing.T) {
		res, err := w.r.Test(ctx, "pre-hire", "u-alice", day("2026-01-07").Add(time.Hour))
		if err != nil || !res.WouldRun || len(res.Tasks) != 1 || res.Tasks[0].Email == nil ||
			!strings.Contains(res.Tasks[0].Email.Text, passPlaceholder) || res.Tasks[0].Email.To[0] != "mgr@contoso.example" {
			t.Fatalf("test: %+v %v", res, err)
		}
		if u, _ := w.graph.User(alice.ID); u.TemporaryAccessPass != nil || len(w.sender.take()) != 0 {
			t.Fatal("Test acted")
		}
	})
	t.Run("on the day the TAP goes to the manager", func(t *testing.T) {
		w.now = day("2026-01-07").Add(time.Hour)
		w.step()
		u, _ := w.graph.User(alice.ID)
		if u.TemporaryAccessPass == nil || u.TemporaryAccessPass.LifetimeInMinutes != 120 || !u.TemporaryAccessPass.IsUsableOnce {
			t.Fatalf("TAP in Entra: %+v", u.TemporaryAccessPass)
		}
		mails := w.sender.take()
		if len(mails) != 1 || mails[0].To[0] != "mgr@contoso.example" || !strings.Contains(mails[0].Text, u.TemporaryAccessPass.Pass) {
			t.Fatalf("emails %+v", mails)
		}
		runs := w.runs("pre-hire", "u-alice")
		if len(runs) != 1 || runs[0].Status != store.WorkflowDone || strings.Contains(runs[0].Tasks[0].Result, u.TemporaryAccessPass.Pass) {
			t.Fatalf("runs %+v", runs)
		}
	})
	t.Run("each occurrence runs once", func(t *testing.T) {
		w.put("u-alice", "alice@contoso.example", map[string]any{"department": "Sales", "employeeHireDate": "2026-01-14",
			"title": "again", "manager": map[string]any{"value": "u-mgr"}}, nil)
		w.step()
		w.step()
		if runs := w.runs("pre-hire", "u-alice"); len(runs) != 1 || len(w.sender.take()) != 0 {
			t.Fatalf("the repeated date ran again: %d runs", len(runs))
		}
	})
	t.Run("mover", func(t *testing.T) {
		w.put("u-alice", "alice@contoso.example", map[string]any{"department": "Marketing", "employeeHireDate": "2026-01-14",
			"manager": map[string]any{"value": "u-mgr"}}, nil)
		w.step()
		g, _ := w.graph.Group(sales)
		if len(g.Members) != 0 {
			t.Fatalf("alice is still in Sales: %v", g.Members)
		}
		mails := w.sender.take()
		if len(mails) != 1 || !strings.Contains(mails[0].Text, "department: Sales -> Marketing") {
			t.Fatalf("mover emails %+v", mails)
		}
		runs := w.runs("mover", "u-alice")
		if len(runs) != 1 || runs[0].Status != store.WorkflowDone || runs[0].Trigger.From != "Sales" {
			t.Fatalf("mover runs %+v", runs)
		}
	})
	t.Run("leaver", func(t *testing.T) {
		w.put("u-alice", "alice@contoso.example", map[string]any{"department": "Marketing", "employeeHireDate": "2026-01-14",
			"employeeLeaveDateTime": "2026-02-01T00:00:00Z", "manager": map[string]any{"value": "u-mgr"}}, nil)
		w.step()
		w.now = day("2026-02-01").Add(30 * time.Minute)
		w.step()
		u, _ := w.graph.User(alice.ID)
		g, _ := w.graph.Group(other.ID)
		if u.AccountEnabled || len(g.Members) != 0 {
			t.Fatalf("Entra: enabled %v, All staff members %v", u.AccountEnabled, g.Members)
		}
		pr, err := w.st.Provisioned(ctx, "crm", "User", "u-alice")
		if err != nil {
			t.Fatal(err)
		}
		acct, err := w.mem.Get(ctx, targets.User, pr.Anchor)
		if err != nil || !acct.Disabled {
			t.Fatalf("crm account %+v %v", acct, err)
		}
		if w.graph.Deleted(alice.ID) {
			t.Fatal("deleted on the last day")
		}
		w.now = day("2026-03-03").Add(time.Hour)
		w.step()
		if !w.graph.Deleted(alice.ID) {
			t.Fatal("not deleted 30 days later")
		}
	})
}

func graphUser(upn string) graphtest.User {
	return graphtest.User{UserPrincipalName: upn, DisplayName: strings.Split(upn, "@")[0], AccountEnabled: true}
}

// TestGroupChangeReadsEveryMember: a change of a group itself (no member
// delta: a replace, a re-sync) makes the runner compare every member of
// the group, the first included: both members of a new Contractors group
// get the addedToGroup run.
func TestGroupChangeReadsEveryMember(t *testing.T) {
	w := newWorld(t, `
- name: contractors
  category: custom
  trigger: {event: {on: addedToGroup, group: Contractors}}
  tasks:
    - {task: sendEmail, to: user, template: welcome}
`)
	w.put("ann", "ann@contoso.com", nil, nil)
	w.put("ben", "ben@contoso.com", nil, nil)
	w.step()
	ctx := t.Context()
	if err := w.st.Write(ctx, func(ctx context.Context, tx store.Tx) error {
		if err := tx.Create(ctx, &store.Resource{Type: "Group", ID: "g", Unique: "contractors", Data: []byte(`{"id":"g","displayName":"Contractors"}`)}); err != nil {
			return err
		}
		var ms []store.Member
		for _, u := range []string{"ann", "ben"} {
			ms = append(ms, store.Member{Value: u, Data: []byte(`{"value":"` + u + `"}`), Index: []store.IndexEntry{{Path: "members.value", Str: u}}})
		}
		if _, err := tx.AddMembers(ctx, "Group", "g", ms); err != nil {
			return err
		}
		// The runner sees the group's change alone, as after a replace.
		return w.r.OnChanges(ctx, tx, []store.Change{{Type: "Group", ID: "g"}})
	}); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"ann", "ben"} {
		if runs := w.runs("contractors", u); len(runs) != 1 {
			t.Errorf("%s: %d runs, want 1", u, len(runs))
		}
	}
}
