package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/scimgate/scimgate/internal/config"
	"github.com/scimgate/scimgate/internal/engine"
	"github.com/scimgate/scimgate/internal/notify"
	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/internal/workflow"
)

// recordingSender is a notify.Sender that records the emails.
type recordingSender struct {
	mu     sync.Mutex
	emails []notify.Email
}

func (s *recordingSender) SendEmail(_ context.Context, e notify.Email) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.emails = append(s.emails, e)
	return nil
}

func (s *recordingSender) Notify(context.Context, string, notify.Message) error { return nil }

func (s *recordingSender) sent() []notify.Email {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]notify.Email(nil), s.emails...)
}

// hrURN is the custom extension of the users' dates, as Entra sends them.
const hrURN = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User"

const workflowsYAML = `
- name: welcome
  category: joiner
  trigger: {onDemand: true}
  tasks:
    - {task: sendEmail, to: user, template: welcome}
- name: pre-hire
  category: joiner
  trigger: {time: {attribute: employeeHireDate, offsetDays: -7}}
  tasks:
    - {task: sendEmail, to: manager, template: welcome}
- name: crm-admins
  category: custom
  trigger: {onDemand: true}
  tasks:
    - {task: targetAddToGroups, target: crm, groups: [Admins]}
`

// workflowGateway runs a gateway with a memory target and the workflows
// of workflowsYAML, whose emails go to the returned sender; the runner
// polls rarely: its work runs on Wake (run, retry) or RunDue.
func workflowGateway(t *testing.T) (*Gateway, *recordingSender) {
	t.Helper()
	cfg := config.Defaults()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.Auth.Tokens = []config.Secret{testToken}
	cfg.Admin.Tokens = []config.Secret{adminToken}
	if err := yaml.Unmarshal([]byte(crmTarget), &cfg.Targets); err != nil {
		t.Fatal(err)
	}
	cfg.SCIM.CustomExtensions = []config.Extension{{URN: hrURN, Resource: "User",
		Attributes: []config.Attribute{{Name: "employeeHireDate", Type: "dateTime"}, {Name: "employeeLeaveDateTime", Type: "dateTime"}}}}
	if err := yaml.Unmarshal([]byte(workflowsYAML), &cfg.Workflows); err != nil {
		t.Fatal(err)
	}
	// Email tasks need the notifications section; the hook's sender
	// replaces the one it would build.
	cfg.Notifications = &notify.Config{SMTP: &notify.SMTP{Host: "127.0.0.1", TLS: "none", From: "scimgate@example.com"}}
	sender := &recordingSender{}
	ctx, cancel := context.WithCancel(context.Background())
	g, err := newGatewayWith(ctx, cfg, nil, slog.New(slog.DiscardHandler), hooks{
		engine:   func(o *engine.Options) { o.Poll = 20 * time.Millisecond },
		workflow: func(o *workflow.Options) { o.Poll = time.Hour },
		sender:   sender,
	})
	if err != nil {
		cancel()
		t.Fatalf("gateway: %v", err)
	}
	serveUntilCleanup(t, ctx, cancel, g)
	return g, sender
}

// TestWorkflowAdminAPI calls every workflow call of the admin API against
// a gateway with workflows: list and show with run counts, disable and
// enable (audited with the admin credential), a run on demand by
// userName whose email is sent, its run with its tasks, runs by status,
// retry of a failed run, test with the rendered email, upcoming after a
// hire date is set through SCIM, and the errors of each.
func TestWorkflowAdminAPI(t *testing.T) {
	g, sender := workflowGateway(t)
	base := strings.TrimSuffix(g.BaseURL(), "/scim/v2")
	c := client{t: t, base: g.BaseURL()}
	hire := time.Now().UTC().AddDate(0, 0, 10).Format(time.DateOnly)
	boss := c.must(http.StatusCreated, "POST", "/Users", map[string]any{"userName": "boss", "displayName": "The Boss",
		"emails": []any{map[string]any{"value": "boss@example.com", "primary": true}}}).body["id"].(string)
	alice := c.must(http.StatusCreated, "POST", "/Users", map[string]any{
		"schemas":  []any{"urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", hrURN},
		"userName": "alice", "displayName": "Alice Adams", "emails": []any{map[string]any{"value": "alice@example.com", "primary": true}},
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": map[string]any{"manager": map[string]any{"value": boss}},
		hrURN: map[string]any{"employeeHireDate": hire + "T00:00:00Z"}}).body["id"].(string)

	call := func(want int, method, path, body string) map[string]any {
		t.Helper()
		status, _, m := adminDo(t, base, method, path, body)
		if status != want {
			t.Fatalf("%s %s: %d, want %d: %v", method, path, status, want, m)
		}
		return m
	}
	ws := call(200, "GET", "/workflows", "")["workflows"].([]any)
	if len(ws) != 3 {
		t.Fatalf("workflows: %v", ws)
	}
	pre := call(200, "GET", "/workflows/pre-hire", "")
	if pre["when"] != "7 days before employeeHireDate" || pre["enabled"] != true || pre["category"] != "joiner" {
		t.Errorf("pre-hire: %v", pre)
	}
	call(404, "GET", "/workflows/nosuch", "")

	if got := call(200, "POST", "/workflows/welcome/disable", ""); got["enabled"] != false {
		t.Errorf("disable: %v", got)
	}
	if got := call(200, "POST", "/workflows/welcome/enable", ""); got["enabled"] != true {
		t.Errorf("enable: %v", got)
	}
	call(404, "POST", "/workflows/nosuch/enable", "")
	entries, err := g.store.Audit(t.Context(), store.AuditQuery{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range entries {
		if strings.HasPrefix(e.Action, "workflow ") {
			actions = append(actions, e.Action+" by "+e.Actor)
		}
	}
	if want := "workflow enable by admin: static token #1,workflow disable by admin: static token #1"; strings.Join(actions, ",") != want {
		t.Errorf("audit: %q, want %q", actions, want)
	}

	// On demand, by userName; the runner runs it at once (Wake).
	runs := call(200, "POST", "/workflows/welcome/run", `{"users": ["alice"]}`)["runs"].([]any)
	run := runs[0].(map[string]any)
	id := int64(run["id"].(float64))
	if u := run["user"].(map[string]any); u["id"] != alice || u["userName"] != "alice" {
		t.Errorf("run user %v", u)
	}
	waitFor(t, "the welcome run", func() (bool, string) {
		r := call(200, "GET", fmt.Sprintf("/workflow-runs/%d", id), "")
		return r["status"] == "done", fmt.Sprint(r)
	})
	r := call(200, "GET", fmt.Sprintf("/workflow-runs/%d", id), "")
	task := r["tasks"].([]any)[0].(map[string]any)
	if task["task"] != "sendEmail" || task["status"] != "done" || task["attempts"] != 1.0 ||
		!strings.Contains(task["result"].(string), "alice@example.com") {
		t.Errorf("task %v", task)
	}
	if e := sender.sent(); len(e) != 1 || e[0].To[0] != "alice@example.com" || e[0].Subject != "Welcome, Alice Adams" {
		t.Errorf("sent %+v", e)
	}
	call(404, "POST", "/workflows/welcome/run", `{"users": ["nobody"]}`)
	call(400, "POST", "/workflows/welcome/run", `{"users": []}`)
	call(400, "POST", "/workflows/welcome/run", `{"user": "alice"}`)
	call(409, "POST", fmt.Sprintf("/workflow-runs/%d/retry", id), "")
	call(404, "GET", "/workflow-runs/999", "")
	call(400, "GET", "/workflow-runs/x", "")

	// SCIM has no group Admins: adding alice to it in crm fails for good,
	// and can be retried.
	failed := int64(call(200, "POST", "/workflows/crm-admins/run", `{"users": ["`+alice+`"]}`)["runs"].([]any)[0].(map[string]any)["id"].(float64))
	waitFor(t, "the crm-admins run", func() (bool, string) {
		r := call(200, "GET", fmt.Sprintf("/workflow-runs/%d", failed), "")
		return r["status"] == "failed", fmt.Sprint(r)
	})
	if got := call(200, "GET", "/workflows/crm-admins/runs?status=failed", "")["runs"].([]any); len(got) != 1 {
		t.Errorf("failed runs: %v", got)
	}
	if got := call(200, "GET", "/workflows/crm-admins/runs?status=done", "")["runs"].([]any); len(got) != 0 {
		t.Errorf("done runs: %v", got)
	}
	call(400, "GET", "/workflows/crm-admins/runs?status=nope", "")
	if got := call(200, "GET", "/workflows/crm-admins", "")["runs"].(map[string]any); got["failed"] != 1.0 || got["done"] != 0.0 {
		t.Errorf("crm-admins counts %v", got)
	}
	if got := call(200, "POST", fmt.Sprintf("/workflow-runs/%d/retry", failed), ""); got["status"] != "pending" && got["status"] != "failed" {
		t.Errorf("retry: %v", got)
	}

	// Test: at the due date, the reminder to the manager, rendered.
	due := time.Now().UTC().AddDate(0, 0, 3).Format(time.DateOnly)
	res := call(200, "GET", "/workflows/pre-hire/test?user=alice&at="+due, "")
	email := res["tasks"].([]any)[0].(map[string]any)["email"].(map[string]any)
	if res["wouldRun"] != true || email["To"].([]any)[0] != "boss@example.com" || !strings.Contains(email["Text"].(string), "ready from "+hire) {
		t.Errorf("test: %v", res)
	}
	if res := call(200, "GET", "/workflows/pre-hire/test?user=alice", ""); res["wouldRun"] != false {
		t.Errorf("test now: %v", res)
	}
	call(400, "GET", "/workflows/pre-hire/test?user=alice&at=tomorrow", "")
	call(400, "GET", "/workflows/pre-hire/test", "")
	call(404, "GET", "/workflows/pre-hire/test?user=nobody", "")

	// Upcoming: the planner scheduled alice's pre-hire in 3 days.
	waitFor(t, "alice's pre-hire upcoming", func() (bool, string) {
		up := call(200, "GET", "/workflows-upcoming?days=5", "")["upcoming"].([]any)
		return len(up) == 1 && up[0].(map[string]any)["workflow"] == "pre-hire", fmt.Sprint(up)
	})
	if up := call(200, "GET", "/workflows-upcoming?days=2", "")["upcoming"].([]any); len(up) != 0 {
		t.Errorf("upcoming in 2 days: %v", up)
	}
	call(400, "GET", "/workflows-upcoming?days=-1", "")
}

// TestWorkflowAdminWithoutWorkflows: a gateway without workflows has no
// runner (no engine hook) and answers the workflow calls 404.
func TestWorkflowAdminWithoutWorkflows(t *testing.T) {
	g := startTargetsGateway(t, []byte(crmTarget), nil)
	if g.runner != nil {
		t.Fatal("a runner without workflows")
	}
	base := strings.TrimSuffix(g.BaseURL(), "/scim/v2")
	for _, p := range []string{"/workflows", "/workflows-upcoming", "/workflow-runs/1"} {
		if status, _, m := adminDo(t, base, "GET", p, ""); status != 404 || !strings.Contains(m["error"].(string), "no workflows are configured") {
			t.Errorf("GET %s: %d %v", p, status, m)
		}
	}
}
