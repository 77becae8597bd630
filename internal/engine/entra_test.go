package engine

import (
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/entra"
	"github.com/scimgate/scimgate/internal/graphtest"
	"github.com/scimgate/scimgate/policy"
	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/entratarget"
)

// The engine with an entra target (targets/entratarget) against the fake
// tenant of internal/graphtest, on the fake clock: the client's
// Retry-After waits move a clock of their own (graphtest.Clock).

const entraClientID = "11111111-2222-4333-8444-555555555555"

// entraWorld is a scenario world whose target "entra" is an entra target
// with rules for the groups Sales and Marketing by department.
type entraWorld struct {
	*scenarioWorld
	s                *graphtest.Server
	clock            *graphtest.Clock
	sales, marketing graphtest.Group
}

func newEntraWorld(t *testing.T, users int, eng scenarioEngine) *entraWorld {
	t.Helper()
	w := &entraWorld{scenarioWorld: newWorld(t, engineScenario{Engine: eng}), s: graphtest.Start(t), clock: &graphtest.Clock{}}
	w.s.AddApp(graphtest.App{ClientID: entraClientID, Secret: "engine-entra-secret",
		Roles: []string{"User.Read.All", "GroupMember.ReadWrite.All", "User.EnableDisableAccount.All"}})
	w.sales = w.s.AddGroup(graphtest.Group{DisplayName: "Sales", SecurityEnabled: true})
	w.marketing = w.s.AddGroup(graphtest.Group{DisplayName: "Marketing", SecurityEnabled: true})
	for i := range users {
		w.s.AddUser(graphtest.User{UserPrincipalName: fmt.Sprintf("user%03d@contoso.example", i), AccountEnabled: true})
	}
	t.Setenv("ENGINE_ENTRA_SECRET", "engine-entra-secret")
	client, err := entra.New(entra.Config{Credential: entra.CredentialClientSecret, TenantID: graphtest.TenantID, ClientID: entraClientID,
		ClientSecretEnv: "ENGINE_ENTRA_SECRET", AuthorityHost: w.s.AuthorityHost, GraphURL: w.s.GraphURL,
		Features: entra.Features{Membership: true, EnableDisable: true}},
		entra.Options{Transport: w.s.Transport(), Now: w.clock.Now, After: w.clock.After})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	cfg := &entratarget.Config{Groups: []entratarget.Rule{
		{Group: "Sales", When: `user.enterprise.department == "Sales"`},
		{Group: "Marketing", When: `user.enterprise.department == "Marketing"`},
	}, Disable: true, Client: client}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	mapping := []policy.MappingConfig{{Target: "userPrincipalName", Source: "userName"}}
	for _, d := range cfg.Derived() {
		mapping = append(mapping, policy.MappingConfig{Target: d.Attribute, Expression: d.Expression})
	}
	pol, err := policy.Compile(policy.Config{Targets: []policy.TargetConfig{{Name: "entra",
		Users: &policy.ObjectConfig{Scope: policy.ScopeConfig{All: true}, Mapping: mapping, Matching: []string{"userPrincipalName"}}}}},
		policy.WithClock(func() time.Time { return w.now }))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := cfg.Open(t.Context(), targets.Env{Name: "entra", Attributes: map[targets.Kind][]string{targets.User: {"userPrincipalName", entratarget.MemberOf}}})
	if err != nil {
		t.Fatal(err)
	}
	w.start(pol, map[string]targets.Connector{"entra": conn}, slog.New(slog.DiscardHandler))
	return w
}

// run plans and delivers until nothing is due, moving the clock on.
func (w *entraWorld) run(rounds int, step time.Duration) {
	w.t.Helper()
	ctx := w.t.Context()
	for range rounds {
		if err := w.e.PlanOnce(ctx); err != nil {
			w.t.Fatal(err)
		}
		if _, err := w.e.DeliverDue(ctx); err != nil {
			w.t.Fatal(err)
		}
		w.now = w.now.Add(step)
	}
}

func (w *entraWorld) groupsOf(upn string) []string {
	u, ok := w.s.User(upn)
	if !ok {
		w.t.Fatalf("no Entra user %s", upn)
	}
	var out []string
	for _, g := range []graphtest.Group{w.sales, w.marketing} {
		got, _ := w.s.Group(g.ID)
		if slices.Contains(got.Members, u.ID) {
			out = append(out, got.DisplayName)
		}
	}
	return out
}

func (w *entraWorld) outbox() (pending, dead int) {
	w.t.Helper()
	st, err := w.st.OutboxStats(w.t.Context(), "entra", w.now)
	if err != nil {
		w.t.Fatal(err)
	}
	return st.Pending, st.Dead
}

func department(d string) map[string]any {
	return map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []map[string]any{{"op": "replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": d}}}
}

// TestEntraMoverAndLeaver: a department change in SCIM moves the user
// from one Entra group to the other; a leaver (active false) is disabled
// in Entra and keeps its groups only as the rules say.
func TestEntraMoverAndLeaver(t *testing.T) {
	w := newEntraWorld(t, 2, scenarioEngine{BackoffBase: time.Second, BackoffMax: time.Minute, MaxAttempts: 5})
	alice := w.do("joiner", "POST", "/Users", map[string]any{"userName": "user000@contoso.example", "active": true,
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": map[string]any{"department": "Sales"}}, 201)["id"].(string)
	w.do("joiner", "POST", "/Users", map[string]any{"userName": "user001@contoso.example", "active": true}, 201)
	w.run(3, time.Second)
	if got := w.groupsOf("user000@contoso.example"); !slices.Equal(got, []string{"Sales"}) {
		t.Errorf("joiner in Sales: Entra groups %v", got)
	}
	if got := w.groupsOf("user001@contoso.example"); len(got) != 0 {
		t.Errorf("user without department: Entra groups %v", got)
	}

	w.do("mover", "PATCH", "/Users/"+alice, department("Marketing"), 0)
	w.run(3, time.Second)
	if got := w.groupsOf("user000@contoso.example"); !slices.Equal(got, []string{"Marketing"}) {
		t.Errorf("mover to Marketing: Entra groups %v", got)
	}

	w.do("leaver", "PATCH", "/Users/"+alice, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []map[string]any{{"op": "replace", "path": "active", "value": false}}}, 0)
	w.run(3, time.Second)
	if u, _ := w.s.User("user000@contoso.example"); u.AccountEnabled {
		t.Error("leaver: the Entra account is still enabled")
	}
	if u, _ := w.s.User("user001@contoso.example"); !u.AccountEnabled {
		t.Error("another user was disabled")
	}
	if pending, dead := w.outbox(); pending != 0 || dead != 0 {
		t.Errorf("outbox: %d pending, %d dead; want none", pending, dead)
	}
}

// TestEntraThrottleStormDrains: under a storm of 429s with Retry-After
// the target waits as Graph asks (every request of the client held back)
// and drains without a dead letter.
func TestEntraThrottleStormDrains(t *testing.T) {
	const users = 40
	w := newEntraWorld(t, users, scenarioEngine{BackoffBase: 5 * time.Second, BackoffMax: time.Minute, MaxAttempts: 8})
	for i := range users {
		d := "Sales"
		if i%2 == 1 {
			d = "Marketing"
		}
		w.do("setup", "POST", "/Users", map[string]any{"userName": fmt.Sprintf("user%03d@contoso.example", i),
			"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": map[string]any{"department": d}}, 201)
	}
	// 150 requests in a row are throttled for 10 s each: more than one
	// request's retry budget (30 s), so deliveries fail as throttled, the
	// engine takes the target for down and probes it with backoff (at
	// most a minute) until Graph answers again.
	w.s.Throttle(150, 10*time.Second)
	w.run(360, 10*time.Second)
	if pending, dead := w.outbox(); pending != 0 || dead != 0 {
		rows, _ := w.st.Outbox(t.Context(), "entra", false, 3)
		for _, r := range rows {
			t.Logf("operation %d (%s %s): %d attempts, last error %s", r.Seq, r.Type, r.ID, r.Attempts, r.LastError)
		}
		sts, _ := w.e.Targets(t.Context())
		t.Logf("%+v", sts)
		t.Fatalf("after the storm: %d pending, %d dead; want all delivered", pending, dead)
	}
	for i := range users {
		want := []string{"Sales"}
		if i%2 == 1 {
			want = []string{"Marketing"}
		}
		if got := w.groupsOf(fmt.Sprintf("user%03d@contoso.example", i)); !slices.Equal(got, want) {
			t.Errorf("user%03d: Entra groups %v, want %v", i, got, want)
		}
	}
	if waited := w.clock.Waited(); waited < 150*10*time.Second/4 {
		t.Errorf("the client waited %v in all for 150 throttled requests of Retry-After 10 s: it did not slow down", waited)
	}
}

// TestEntraReconcileMendsMembership: someone takes a user out of its
// rule's group in Entra; reconciliation reads the tenant's users page by
// page with their groups, reports the drift and puts the user back; a
// tenant user the gateway does not provision is reported as an orphan
// and left alone.
func TestEntraReconcileMendsMembership(t *testing.T) {
	w := newEntraWorld(t, 3, scenarioEngine{BackoffBase: time.Second, BackoffMax: time.Minute, MaxAttempts: 5})
	for i := range 2 {
		w.do("joiner", "POST", "/Users", map[string]any{"userName": fmt.Sprintf("user%03d@contoso.example", i),
			"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": map[string]any{"department": "Sales"}}, 201)
	}
	w.run(3, time.Second)
	u, _ := w.s.User("user000@contoso.example")
	sales, _ := w.s.Group(w.sales.ID)
	w.s.SetMembers(w.sales.ID, slices.DeleteFunc(sales.Members, func(m string) bool { return m == u.ID })) // by hand in Entra
	rep, err := w.e.Reconcile(w.t.Context(), "entra", false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Counts["drift"] != 1 || rep.Counts["orphan"] != 1 {
		t.Errorf("reconciliation counts %v; want 1 drift (user000's groups) and 1 orphan (user002)", rep.Counts)
	}
	w.run(3, time.Second)
	if got := w.groupsOf("user000@contoso.example"); !slices.Equal(got, []string{"Sales"}) {
		t.Errorf("after reconciliation: user000 in %v, want [Sales]", got)
	}
	if got := w.groupsOf("user002@contoso.example"); len(got) != 0 {
		t.Errorf("the orphan was changed: %v", got)
	}
}
