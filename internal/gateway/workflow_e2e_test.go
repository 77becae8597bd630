package gateway

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"fmt"
	"github.com/scimgate/scimgate/internal/config"
	"github.com/scimgate/scimgate/internal/engine"
	"github.com/scimgate/scimgate/internal/entra"
	"github.com/scimgate/scimgate/internal/graphtest"
	"github.com/scimgate/scimgate/internal/hooktest"
	"github.com/scimgate/scimgate/internal/notify"
	"github.com/scimgate/scimgate/internal/smtptest"
	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/internal/workflow"
	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/memory"
	"io"
	"net/http"
	"sync"
)

// TestBuiltinWorkflowsEndToEnd runs the five built-in workflows of
// examples/workflows.yaml, with a signed webhook added to last-day, in a
// gateway against the Entra fake, the example's memory target, a real SMTP
// server (STARTTLS) and an HTTPS webhook receiver, on the runner's fake
// clock: the pre-hire Temporary Access Pass is created in Entra and
// emailed to the manager; the welcome email reaches the new hire on the
// first day; a move out of Sales removes the Sales group in Entra and
// tells the manager; on the last day the leaver is disabled in Entra and
// in the target, removed from every group, signed out, and the webhook
// receiver gets a signed payload; 30 days later the delete, in preview,
// is recorded and not done.
func TestBuiltinWorkflowsEndToEnd(t *testing.T) {
	const (
		salesID = "5a1e5000-0000-4000-8000-000000000001" // the example's Sales group
		hookKey = "workflow-hook-secret-0123456789"
		hrURN   = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User"
		entURN  = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	)
	tenant := graphtest.Start(t)
	tenant.AddApp(graphtest.App{ClientID: entraClientID, Secret: entraSecret, Roles: []string{"User.Read.All",
		"GroupMember.ReadWrite.All", "User.EnableDisableAccount.All", "User.ReadWrite.All", "User.RevokeSessions.All",
		"UserAuthenticationMethod.ReadWrite.All"}})
	alice := tenant.AddUser(graphtest.User{UserPrincipalName: "alice@contoso.example", DisplayName: "Alice Adams", AccountEnabled: true})
	bob := tenant.AddUser(graphtest.User{UserPrincipalName: "bob@contoso.example", DisplayName: "Bob Brown", AccountEnabled: true})
	tenant.AddGroup(graphtest.Group{ID: salesID, DisplayName: "Sales", SecurityEnabled: true, Members: []string{alice.ID, bob.ID}})
	other := tenant.AddGroup(graphtest.Group{DisplayName: "Staff", SecurityEnabled: true, Members: []string{alice.ID, bob.ID}})
	mail := smtptest.Start(t, smtptest.Config{})
	clock := &graphtest.Clock{}
	clock.Set(time.Date(2031, 2, 1, 9, 0, 0, 0, time.UTC))
	hook := hooktest.Start(t, hookKey, clock.Now)

	cfg, err := config.Load("../../examples/workflows.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("ENTRA_CLIENT_SECRET", entraSecret)
	t.Setenv("WORKFLOW_HOOK_SECRET", hookKey)
	cfg.Listen, cfg.DataDir = "127.0.0.1:0", t.TempDir()
	cfg.Auth.Tokens = []config.Secret{testToken}
	cfg.Admin.Tokens = []config.Secret{adminToken}
	cfg.Entra.TenantID, cfg.Entra.ClientID = graphtest.TenantID, entraClientID
	cfg.Entra.AuthorityHost, cfg.Entra.GraphURL = tenant.AuthorityHost, tenant.GraphURL
	cfg.Notifications.SMTP.Host, cfg.Notifications.SMTP.Port = mail.Host, mail.Port
	for i, w := range cfg.Workflows {
		if w.Name == "last-day" {
			cfg.Workflows[i].Tasks = append(cfg.Workflows[i].Tasks, workflow.TaskConfig{Task: "webhook", URL: hook.URL + "/hr/leavers", SecretEnv: "WORKFLOW_HOOK_SECRET"})
		}
	}
	var g *Gateway
	ctx, cancel := context.WithCancel(context.Background())
	g, err = newGatewayWith(ctx, cfg, nil, slog.New(slog.DiscardHandler), hooks{
		engine: func(o *engine.Options) { o.Poll = 20 * time.Millisecond },
		entra:  entra.Options{Transport: tenant.Transport(), Now: clock.Now, After: clock.After},
		workflow: func(o *workflow.Options) {
			o.Now, o.Poll, o.HTTPClient = clock.Now, time.Hour, hook.Client() // runs when the test says
		},
		notify: notify.Options{RootCAs: mail.CertPool(), Now: clock.Now},
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	serveUntilCleanup(t, ctx, cancel, g)
	c := client{t: t, base: g.BaseURL()}
	idle := func() {
		waitFor(t, "the engine to plan and deliver", func() (bool, string) { return idleNow(t.Context(), g) })
	}
	runAt := func(day string) {
		t.Helper()
		at, err := time.Parse(time.DateOnly, day)
		if err != nil {
			t.Fatal(err)
		}
		clock.Set(at.Add(9 * time.Hour))
		if _, err := g.runner.RunDue(t.Context()); err != nil {
			t.Fatalf("RunDue on %s: %v", day, err)
		}
		idle() // target tasks go through the engine
	}

	dana := c.must(201, "POST", "/Users", map[string]any{"userName": "dana.boss@contoso.example", "displayName": "Dana Boss",
		"emails": []any{map[string]any{"value": "dana.boss@contoso.example", "primary": true}}}).body["id"].(string)
	aliceID := c.must(201, "POST", "/Users", map[string]any{"userName": "alice@contoso.example", "displayName": "Alice Adams", "active": true,
		"emails": []any{map[string]any{"value": "alice@contoso.example", "primary": true}},
		entURN:   map[string]any{"department": "Sales", "manager": map[string]any{"value": dana}},
		hrURN:    map[string]any{"employeeHireDate": "2031-03-10T00:00:00Z"}}).body["id"].(string)
	bobID := c.must(201, "POST", "/Users", map[string]any{"userName": "bob@contoso.example", "displayName": "Bob Brown", "active": true,
		entURN: map[string]any{"department": "Sales", "manager": map[string]any{"value": dana}},
		hrURN:  map[string]any{"employeeLeaveDateTime": "2031-03-31T00:00:00Z"}}).body["id"].(string)
	for _, name := range []string{"Sales", "Staff"} {
		c.must(201, "POST", "/Groups", map[string]any{"displayName": name,
			"members": []any{map[string]any{"value": aliceID}, map[string]any{"value": bobID}}})
	}
	idle()
	crm := g.conns["crm"].(*memory.Connector)
	// crmGroups returns the crm groups userName is a member of.
	crmGroups := func(userName string) []string {
		t.Helper()
		var anchor string
		objs := crm.Snapshot()
		for _, o := range objs {
			if o.Kind == targets.User && o.Attrs["userName"] == userName {
				anchor = o.Anchor
			}
		}
		out := []string{}
		for _, o := range objs {
			if o.Kind == targets.Group && slices.Contains(o.Members, anchor) {
				out = append(out, o.Attrs["displayName"].(string))
			}
		}
		slices.Sort(out)
		return out
	}
	if got := crmGroups("alice@contoso.example"); !slices.Equal(got, []string{"Sales", "Staff"}) {
		t.Fatalf("alice's crm groups %v", got)
	}

	// Pre-hire, 7 days before the start: the TAP, created in Entra, goes
	// to the manager, and only there.
	runAt("2031-03-03")
	msgs := mail.Wait(t, 1)
	u, _ := tenant.User(alice.ID)
	if u.TemporaryAccessPass == nil {
		t.Fatal("pre-hire: no Temporary Access Pass in Entra")
	}
	if m := msgs[0]; !slices.Equal(m.To, []string{"dana.boss@contoso.example"}) || !strings.Contains(m.Text, u.TemporaryAccessPass.Pass) {
		t.Errorf("pre-hire email to %v:\n%s\nwant the pass %q to the manager", m.To, m.Text, u.TemporaryAccessPass.Pass)
	}
	if !msgs[0].TLS {
		t.Error("the email went without STARTTLS")
	}

	// First day: the welcome email to the new hire.
	runAt("2031-03-10")
	msgs = mail.Wait(t, 2)
	if m := msgs[1]; !slices.Equal(m.To, []string{"alice@contoso.example"}) || !strings.Contains(m.Subject, "Welcome") {
		t.Errorf("first-day email to %v, subject %q", m.To, m.Subject)
	}

	// Mover: alice leaves Sales.
	c.must(200, "PATCH", "/Users/"+aliceID, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []map[string]any{{"op": "replace", "path": entURN + ":department", "value": "Marketing"}}})
	idle()
	runAt("2031-03-12")
	runDone(t, g, "mover-sales")
	msgs = mail.Wait(t, 3)
	if g, _ := tenant.Group(salesID); slices.Contains(g.Members, alice.ID) {
		t.Error("mover: alice is still in the Sales group")
	}
	if g, _ := tenant.Group(other.ID); !slices.Contains(g.Members, alice.ID) {
		t.Error("mover: alice lost a group the workflow does not name")
	}
	if m := msgs[2]; !slices.Equal(m.To, []string{"dana.boss@contoso.example"}) {
		t.Errorf("mover email to %v", m.To)
	}
	if got := crmGroups("alice@contoso.example"); !slices.Equal(got, []string{"Staff"}) {
		t.Errorf("mover: alice's crm groups %v, want [Staff]", got)
	}
	// A later SCIM change of alice does not put her back.
	c.must(200, "PATCH", "/Users/"+aliceID, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []map[string]any{{"op": "replace", "path": "displayName", "value": "Alice Adams-Smith"}}})
	idle()
	if got := crmGroups("alice@contoso.example"); !slices.Equal(got, []string{"Staff"}) {
		t.Errorf("after a SCIM change: alice's crm groups %v, want [Staff]", got)
	}
	if es, err := g.store.Audit(t.Context(), store.AuditQuery{ID: aliceID, Limit: 100}); err != nil ||
		!slices.ContainsFunc(es, func(e store.AuditEntry) bool { return e.Action == "hold" && e.Actor == "workflow mover-sales" }) {
		t.Errorf("no audit entry of the mover's hold by the workflow: %v %+v", err, es)
	}
	// The admin API shows the hold; releasing it gives SCIM its say back.
	base := strings.TrimSuffix(g.BaseURL(), "/scim/v2")
	code, _, obj := adminDo(t, base, "GET", "/Users/"+aliceID, "")
	holds, _ := obj["holds"].([]any)
	if code != 200 || len(holds) != 1 || holds[0].(map[string]any)["action"] != "remove" || holds[0].(map[string]any)["until"] != "scim" {
		t.Fatalf("alice's holds: %d %v", code, obj["holds"])
	}
	if code, _, r := adminDo(t, base, "DELETE", "/Users/alice@contoso.example/holds?source=workflow", ""); code != 200 || r["released"] != 1.0 {
		t.Fatalf("release: %d %v", code, r)
	}
	idle()
	if got := crmGroups("alice@contoso.example"); !slices.Equal(got, []string{"Sales", "Staff"}) {
		t.Errorf("after the release: alice's crm groups %v, want [Sales Staff]", got)
	}

	// Last day: bob is disabled in Entra and in the target, out of every
	// group, signed out; the HR webhook gets a signed payload.
	runAt("2031-03-31")
	if u, _ := tenant.User(bob.ID); u.AccountEnabled || u.SessionsRevoked != 1 {
		t.Errorf("last day in Entra: enabled %v, sessions revoked %d times", u.AccountEnabled, u.SessionsRevoked)
	}
	for _, id := range []string{salesID, other.ID} {
		if g, _ := tenant.Group(id); slices.Contains(g.Members, bob.ID) {
			t.Errorf("last day: bob is still in %s", g.DisplayName)
		}
	}
	var crmBob bool
	for _, o := range g.conns["crm"].(*memory.Connector).Snapshot() {
		if o.Attrs["userName"] == "bob@contoso.example" {
			crmBob = o.Disabled
		}
	}
	if !crmBob {
		t.Error("last day: bob is not disabled in the crm target")
	}
	if got := crmGroups("bob@contoso.example"); len(got) != 0 {
		t.Errorf("last day: bob is still in crm groups %v", got)
	}
	reqs := hook.Wait(t, 1)
	var payload map[string]any
	if err := json.Unmarshal(reqs[0].Body, &payload); err != nil || reqs[0].SignatureErr != nil || reqs[0].Path != "/hr/leavers" ||
		payload["workflow"] != "last-day" {
		t.Errorf("webhook: %s %s, signature %v, payload %s (%v)", reqs[0].Method, reqs[0].Path, reqs[0].SignatureErr, reqs[0].Body, err)
	}

	// 30 days later: the delete is in preview: recorded, not done.
	runAt("2031-04-30")
	if tenant.Deleted(bob.ID) {
		t.Error("post-offboarding is in preview, yet bob was deleted")
	}
	runs, err := g.runner.Runs(t.Context(), "post-offboarding", "", "", 10)
	if err != nil || len(runs) != 1 || !runs[0].Preview {
		t.Fatalf("post-offboarding runs %+v, %v; want one, in preview", runs, err)
	}
	for _, name := range []string{"pre-hire", "first-day", "mover-sales", "last-day"} {
		runs, err := g.runner.Runs(t.Context(), name, "", "", 10)
		if err != nil || len(runs) != 1 || runs[0].Status != "done" {
			t.Errorf("%s: runs %+v, %v; want one, done", name, runs, err)
		}
	}
	if len(mail.Messages()) != 3 {
		t.Errorf("%d emails in all, want 3", len(mail.Messages()))
	}
}

// runDone fails the test unless the last run of workflow name is done,
// naming the tasks that are not.
func runDone(t *testing.T, g *Gateway, name string) {
	t.Helper()
	runs, err := g.runner.Runs(t.Context(), name, "", "", 1)
	if err != nil || len(runs) != 1 {
		t.Fatalf("%s: runs %+v, %v", name, runs, err)
	}
	if runs[0].Status == "done" {
		return
	}
	_, tasks, err := g.store.WorkflowRun(t.Context(), runs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	t.Fatalf("%s: run %s; tasks %+v", name, runs[0].Status, tasks)
}

// TestWorkflowCallbackHTTP: a webhook task with callback waits until its
// receiver POSTs to the callback URL of the payload, on the gateway's own
// listener: the one-time token is the credential; a second call, a
// guessed token and a bad body are refused, and nothing logs the token.
func TestWorkflowCallbackHTTP(t *testing.T) {
	hook := hooktest.Start(t, "", time.Now)
	cfg := config.Defaults()
	cfg.Listen, cfg.DataDir = "127.0.0.1:0", t.TempDir()
	cfg.Auth.Tokens = []config.Secret{testToken}
	cfg.Admin.Tokens = []config.Secret{adminToken}
	cfg.Workflows = []workflow.Config{{Name: "badge", Category: "custom", Trigger: workflow.TriggerConfig{OnDemand: true},
		Tasks: []workflow.TaskConfig{{Task: "webhook", URL: hook.URL + "/badges", Callback: true}}}}
	var logs strings.Builder
	lw := &syncWriter{w: &logs}
	ctx, cancel := context.WithCancel(context.Background())
	g, err := newGatewayWith(ctx, cfg, nil, slog.New(slog.NewTextHandler(lw, &slog.HandlerOptions{Level: slog.LevelDebug})), hooks{
		engine:   func(o *engine.Options) { o.Poll = 20 * time.Millisecond },
		workflow: func(o *workflow.Options) { o.HTTPClient = hook.Client() },
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	serveUntilCleanup(t, ctx, cancel, g)
	c := client{t: t, base: g.BaseURL()}
	id := c.must(201, "POST", "/Users", map[string]any{"userName": "kim@contoso.example"}).body["id"].(string)
	waitFor(t, "the engine to plan", func() (bool, string) { return idleNow(t.Context(), g) })
	if _, err := g.runner.RunNow(t.Context(), "badge", []string{id}); err != nil {
		t.Fatal(err)
	}
	g.runner.Wake() // as the admin API's run does
	var p struct {
		CallbackURL string `json:"callbackUrl"`
	}
	if err := json.Unmarshal(hook.Wait(t, 1)[0].Body, &p); err != nil || !strings.HasPrefix(p.CallbackURL, strings.TrimSuffix(g.BaseURL(), "/scim/v2")+"/workflow-callbacks/") {
		t.Fatalf("callback URL %q (%v)", p.CallbackURL, err)
	}
	post := func(url, body string) int {
		t.Helper()
		resp, err := http.Post(url, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := post(p.CallbackURL, `{"status": "done"}`); got != 400 {
		t.Errorf("a bad body: %d, want 400", got)
	}
	if got := post(strings.TrimSuffix(p.CallbackURL, p.CallbackURL[len(p.CallbackURL)-4:])+"AAAA", `{"status": "completed"}`); got != 404 {
		t.Errorf("a guessed token: %d, want 404", got)
	}
	if got := post(p.CallbackURL, `{"status": "completed", "message": "badge printed"}`); got != 204 {
		t.Errorf("the callback: %d, want 204", got)
	}
	if got := post(p.CallbackURL, `{"status": "completed"}`); got != 404 {
		t.Errorf("the callback again: %d, want 404", got)
	}
	waitFor(t, "the run to end", func() (bool, string) {
		runs, err := g.runner.Runs(t.Context(), "badge", "", "", 1)
		return err == nil && len(runs) == 1 && runs[0].Status == "done", fmt.Sprint(runs, err)
	})
	token := p.CallbackURL[strings.LastIndex(p.CallbackURL, "/")+1:]
	lw.mu.Lock()
	defer lw.mu.Unlock()
	if strings.Contains(logs.String(), token) {
		t.Error("the callback token is in the log")
	}
}

// syncWriter is a writer safe for the concurrent writes of a logger.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}
