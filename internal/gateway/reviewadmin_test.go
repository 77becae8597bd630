package gateway

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/scimgate/scimgate/internal/config"
	"github.com/scimgate/scimgate/internal/engine"
	"github.com/scimgate/scimgate/internal/notify"
	"github.com/scimgate/scimgate/internal/review"
	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/memory"
)

// reviewAdminYAML: a memory target crm with everyone in scope, and a
// one-off review of its users by a named reviewer (boss), starting at
// %s for 7 days; reviewers who do not respond deny; an administrator
// applies the results. The notices go to a recording sender.
const reviewAdminYAML = `
targets:
  - name: crm
    type: memory
    users:
      scope: {all: true}
      mapping:
        - {target: userName, source: userName}
reviews:
  - name: crm-access
    descriptionForAdmins: Quarterly check of the CRM accounts
    resource: {target: crm}
    reviewers: {type: named, named: [boss@contoso.example]}
    recurrence: {durationDays: 7, startDate: "%s"}
    settings: {defaultDecision: deny}
`

// reviewGateway runs a gateway of reviewAdminYAML (starting at start) on
// clock; the reviews poll rarely: the test runs RunDue.
func reviewGateway(t *testing.T, clock *fakeClock, start time.Time) *Gateway {
	t.Helper()
	var c config.Config
	if err := yaml.Unmarshal(fmt.Appendf(nil, reviewAdminYAML, start.Format(time.RFC3339)), &c); err != nil {
		t.Fatal(err)
	}
	cfg := config.Defaults()
	cfg.Listen, cfg.DataDir = "127.0.0.1:0", t.TempDir()
	cfg.Auth.Tokens = []config.Secret{testToken}
	cfg.Admin.Tokens = []config.Secret{adminToken}
	cfg.Targets, cfg.Reviews = c.Targets, c.Reviews
	cfg.Notifications = &notify.Config{SMTP: &notify.SMTP{Host: "127.0.0.1", TLS: "none", From: "scimgate@example.com"}}
	ctx, cancel := context.WithCancel(context.Background())
	g, err := newGatewayWith(ctx, cfg, nil, slog.New(slog.DiscardHandler), hooks{
		engine: func(o *engine.Options) { o.Poll = 20 * time.Millisecond },
		review: func(o *review.Options) { o.Now, o.Poll = clock.Now, time.Hour },
		sender: &recordingSender{}, // the reviewers' notices
	})
	if err != nil {
		cancel()
		t.Fatalf("gateway: %v", err)
	}
	serveUntilCleanup(t, ctx, cancel, g)
	return g
}

// adminGet fetches an admin path as it is: the status, content type and
// body.
func adminGet(t *testing.T, base, path string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest("GET", base+"/admin/v1"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

// TestReviewAdminAPI calls the review calls of the admin API against a
// gateway with a reviews section and a memory target on a fake clock:
// the list before and after the start, one review and its instances, an
// instance with its progress per reviewer, its items filtered by
// decision and reviewer, an administrator's reassignment (audited with
// the admin credential), apply refused while in progress, stop (the
// default denials), the exports as CSV and JSON, apply (the denied
// accounts disabled in the target), and the errors of each call.
func TestReviewAdminAPI(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	clock := &fakeClock{t: t0.Add(-time.Hour)}
	g := reviewGateway(t, clock, t0)
	base := strings.TrimSuffix(g.BaseURL(), "/scim/v2")
	c := client{t: t, base: g.BaseURL()}
	call := func(want int, method, path, body string) map[string]any {
		t.Helper()
		status, _, m := adminDo(t, base, method, path, body)
		if status != want {
			t.Fatalf("%s %s %s: %d, want %d: %v", method, path, body, status, want, m)
		}
		return m
	}
	user := func(upn, name string) string {
		t.Helper()
		return c.must(http.StatusCreated, "POST", "/Users", map[string]any{"userName": upn, "displayName": name,
			"emails": []any{map[string]any{"value": upn, "primary": true}}}).body["id"].(string)
	}
	boss := user("boss@contoso.example", "The Boss")
	ada := user("ada@contoso.example", "Ada")
	user("bob@contoso.example", "Bob")
	waitFor(t, "the engine to plan and deliver", func() (bool, string) { return idleNow(t.Context(), g) })

	// Before the start: the definition, no instance.
	rs := call(200, "GET", "/reviews", "")["reviews"].([]any)
	if len(rs) != 1 {
		t.Fatalf("reviews: %v", rs)
	}
	r := rs[0].(map[string]any)
	if r["name"] != "crm-access" || r["descriptionForAdmins"] != "Quarterly check of the CRM accounts" ||
		r["nextStart"] != t0.Format(time.RFC3339) || len(r["instances"].([]any)) != 0 ||
		fmt.Sprint(r["resource"]) != "map[target:crm]" {
		t.Errorf("review before the start: %v", r)
	}

	clock.Set(t0)
	if n, err := g.reviews.RunDue(t.Context()); err != nil || n != 1 {
		t.Fatalf("RunDue: %d, %v", n, err)
	}
	ins := call(200, "GET", "/reviews/CRM-ACCESS/instances", "")["instances"].([]any)
	if len(ins) != 1 {
		t.Fatalf("instances: %v", ins)
	}
	in := ins[0].(map[string]any)
	id := int64(in["id"].(float64))
	if in["status"] != store.ReviewInProgress || in["stage"] != 1.0 || in["start"] != t0.Format(time.RFC3339) || in["end"] != t0.AddDate(0, 0, 7).Format(time.RFC3339) ||
		fmt.Sprint(in["progress"]) != "map[approved:0 denied:0 dontKnow:0 notReviewed:3 total:3]" || in["reviewers"] != nil {
		t.Errorf("instance: %v", in)
	}
	if r := call(200, "GET", "/reviews/crm-access", ""); r["nextStart"] != nil || len(r["instances"].([]any)) != 1 {
		t.Errorf("review after the start (one-off): %v", r)
	}
	one := call(200, "GET", fmt.Sprintf("/review-instances/%d", id), "")
	if fmt.Sprint(one["reviewers"]) != fmt.Sprintf("[map[name:The Boss progress:map[approved:0 denied:0 dontKnow:0 notReviewed:3 total:3] reviewer:%s]]", boss) {
		t.Errorf("per reviewer: %v", one["reviewers"])
	}

	// The boss approves ada (on the reviewer page).
	items := call(200, "GET", fmt.Sprintf("/review-instances/%d/items", id), "")["items"].([]any)
	index := map[string]int{}
	for _, it := range items {
		m := it.(map[string]any)
		index[m["userName"].(string)] = int(m["item"].(float64))
	}
	if len(index) != 3 {
		t.Fatalf("items: %v", items)
	}
	if err := g.reviews.Decide(t.Context(), boss, id, []review.Decision{{Item: index["ada@contoso.example"], Decision: review.Approve, Justification: "needs it"}}); err != nil {
		t.Fatal(err)
	}
	names := func(path string) string {
		t.Helper()
		var out []string
		for _, it := range call(200, "GET", path, "")["items"].([]any) {
			out = append(out, it.(map[string]any)["userName"].(string))
		}
		return strings.Join(out, ",")
	}
	for _, tc := range []struct{ name, query, want string }{
		{"approved", "?decision=Approve", "ada@contoso.example"},
		{"pending", "?decision=NotReviewed", "boss@contoso.example,bob@contoso.example"},
		{"reviewer by userName", "?reviewer=boss@contoso.example", "boss@contoso.example,ada@contoso.example,bob@contoso.example"},
		{"reviewer by id and decision", "?reviewer=" + boss + "&decision=Approve", "ada@contoso.example"},
		{"someone else", "?reviewer=ada@contoso.example", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := names(fmt.Sprintf("/review-instances/%d/items%s", id, tc.query)); got != tc.want {
				t.Errorf("items%s: %q, want %q", tc.query, got, tc.want)
			}
		})
	}

	// An administrator gives bob's item to ada.
	bobItem := fmt.Sprintf("/review-instances/%d/items/%d/reassign", id, index["bob@contoso.example"])
	got := call(200, "POST", bobItem, `{"reviewer": "ada@contoso.example"}`)
	if fmt.Sprint(got["reviewers"]) != "["+ada+"]" || got["userName"] != "bob@contoso.example" {
		t.Errorf("reassigned: %v", got)
	}
	if got := names(fmt.Sprintf("/review-instances/%d/items?reviewer=ada@contoso.example", id)); got != "bob@contoso.example" {
		t.Errorf("ada's items: %q", got)
	}
	entries, err := g.store.Audit(t.Context(), store.AuditQuery{Limit: 20})
	if err != nil {
		t.Fatal(err)
	}
	var reassigned []string
	for _, e := range entries {
		if e.Action == "review reassign" {
			reassigned = append(reassigned, e.Actor+": "+e.Detail)
		}
	}
	if want := fmt.Sprintf("admin: static token #1: crm-access, instance %d, item %d (bob@contoso.example in target crm): reassigned from %s to %s",
		id, index["bob@contoso.example"], boss, ada); strings.Join(reassigned, "|") != want {
		t.Errorf("audit of the reassignment: %q, want %q", reassigned, want)
	}

	// A reminder now, as the admin asks: audited.
	if r := call(200, "POST", fmt.Sprintf("/review-instances/%d/remind", id), ""); r["sent"] == nil {
		t.Errorf("remind: %v", r)
	}
	if es, err := g.store.Audit(t.Context(), store.AuditQuery{Limit: 5}); err != nil ||
		!slices.ContainsFunc(es, func(e store.AuditEntry) bool {
			return e.Action == "review remind" && e.Actor == "admin: static token #1"
		}) {
		t.Errorf("no audit entry of the reminder: %v %+v", err, es)
	}

	// Apply waits for the end; stop ends it now: the default denials.
	call(409, "POST", fmt.Sprintf("/review-instances/%d/apply", id), "")
	clock.Set(t0.Add(36 * time.Hour))
	stopped := call(200, "POST", fmt.Sprintf("/review-instances/%d/stop", id), "")
	if stopped["status"] != store.ReviewCompleted || stopped["endedBy"] != "admin: static token #1" ||
		stopped["ended"] != t0.Add(36*time.Hour).Format(time.RFC3339) || stopped["end"] != stopped["ended"] ||
		fmt.Sprint(stopped["progress"]) != "map[approved:1 denied:2 dontKnow:0 notReviewed:0 total:3]" {
		t.Errorf("stopped: %v", stopped)
	}
	call(409, "POST", fmt.Sprintf("/review-instances/%d/stop", id), "")
	call(409, "POST", fmt.Sprintf("/review-instances/%d/remind", id), "")
	call(409, "POST", bobItem, `{"reviewer": "boss@contoso.example"}`)

	// The exports.
	status, ct, body := adminGet(t, base, fmt.Sprintf("/review-instances/%d/export?format=csv", id))
	if status != 200 || ct != "text/csv; charset=utf-8" {
		t.Fatalf("csv: %d %s %s", status, ct, body)
	}
	recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil || len(recs) != 4 || recs[0][0] != "review" || recs[0][16] != "decision" {
		t.Fatalf("csv: %v %v", recs, err)
	}
	var decisions []string
	for _, rec := range recs[1:] {
		decisions = append(decisions, rec[6]+" "+rec[16]+" by "+rec[18])
	}
	if want := "boss@contoso.example Deny by default decision,ada@contoso.example Approve by " + boss + ",bob@contoso.example Deny by default decision"; strings.Join(decisions, ",") != want {
		t.Errorf("csv decisions %q, want %q", decisions, want)
	}
	status, ct, body = adminGet(t, base, fmt.Sprintf("/review-instances/%d/export", id))
	var rows []review.Row
	if status != 200 || ct != "application/json" || json.Unmarshal([]byte(body), &rows) != nil || len(rows) != 3 || rows[1].Justification != "needs it" {
		t.Errorf("json: %d %s %s", status, ct, body)
	}

	// Apply: the denied accounts are disabled in crm.
	applied := call(200, "POST", fmt.Sprintf("/review-instances/%d/apply", id), "")
	if ai := applied["instance"].(map[string]any); applied["applied"] != 3.0 || ai["appliedBy"] != "admin: static token #1" ||
		ai["status"] != store.ReviewApplied {
		t.Errorf("applied: %v", applied)
	}
	crm := g.conns["crm"].(*memory.Connector)
	waitFor(t, "the denials delivered", func() (bool, string) {
		var state []string
		for _, o := range crm.Snapshot() {
			if o.Kind == targets.User {
				state = append(state, fmt.Sprintf("%s disabled=%v", o.Attrs["userName"], o.Disabled))
			}
		}
		slices.Sort(state)
		s := strings.Join(state, ",")
		return s == "ada@contoso.example disabled=false,bob@contoso.example disabled=true,boss@contoso.example disabled=true", s
	})
	for _, it := range call(200, "GET", fmt.Sprintf("/review-instances/%d/items", id), "")["items"].([]any) {
		if m := it.(map[string]any); m["applyResult"] != review.Applied {
			t.Errorf("item %v: %v", m["item"], m["applyResult"])
		}
	}

	for _, tc := range []struct {
		name, method, path, body string
		want                     int
	}{
		{"unknown review", "GET", "/reviews/nosuch", "", 404},
		{"unknown review's instances", "GET", "/reviews/nosuch/instances", "", 404},
		{"unknown instance", "GET", "/review-instances/99", "", 404},
		{"bad instance id", "GET", "/review-instances/x", "", 400},
		{"unknown instance's items", "GET", "/review-instances/99/items", "", 404},
		{"bad decision", "GET", fmt.Sprintf("/review-instances/%d/items?decision=maybe", id), "", 400},
		{"bad format", "GET", fmt.Sprintf("/review-instances/%d/export?format=xml", id), "", 400},
		{"stop unknown", "POST", "/review-instances/99/stop", "", 404},
		{"apply unknown", "POST", "/review-instances/99/apply", "", 404},
		{"reassign without reviewer", "POST", bobItem, `{}`, 400},
		{"reassign bad body", "POST", bobItem, `{"to": "x"}`, 400},
		{"reassign bad item", "POST", fmt.Sprintf("/review-instances/%d/items/x/reassign", id), `{"reviewer": "ada@contoso.example"}`, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if status, _, m := adminDo(t, base, tc.method, tc.path, tc.body); status != tc.want || m["error"] == "" {
				t.Errorf("%s %s: %d %v, want %d", tc.method, tc.path, status, m, tc.want)
			}
		})
	}
}

// TestReviewAdminInProgressErrors: while an instance runs, a reassignment
// to nobody is refused, as is an unknown item, and change nothing.
func TestReviewAdminInProgressErrors(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	clock := &fakeClock{t: t0.Add(-time.Hour)}
	g := reviewGateway(t, clock, t0)
	base := strings.TrimSuffix(g.BaseURL(), "/scim/v2")
	c := client{t: t, base: g.BaseURL()}
	c.must(http.StatusCreated, "POST", "/Users", map[string]any{"userName": "boss@contoso.example"})
	c.must(http.StatusCreated, "POST", "/Users", map[string]any{"userName": "ada@contoso.example"})
	waitFor(t, "the engine to plan and deliver", func() (bool, string) { return idleNow(t.Context(), g) })
	clock.Set(t0)
	if _, err := g.reviews.RunDue(t.Context()); err != nil {
		t.Fatal(err)
	}
	ins, err := g.reviews.Instances(t.Context(), "")
	if err != nil || len(ins) != 1 {
		t.Fatalf("instances %v, %v", ins, err)
	}
	id := ins[0].ID
	before, err := g.reviews.Items(t.Context(), id)
	if err != nil || len(before) != 2 {
		t.Fatalf("items %v, %v", before, err)
	}
	for _, tc := range []struct {
		name, path, body string
		want             int
	}{
		{"nobody", fmt.Sprintf("/review-instances/%d/items/1/reassign", id), `{"reviewer": "nobody"}`, 400},
		{"unknown item", fmt.Sprintf("/review-instances/%d/items/9/reassign", id), `{"reviewer": "ada@contoso.example"}`, 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if status, _, m := adminDo(t, base, "POST", tc.path, tc.body); status != tc.want {
				t.Errorf("%d %v, want %d", status, m, tc.want)
			}
		})
	}
	after, err := g.reviews.Items(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("items changed:\n%v\nwant\n%v", after, before)
	}
}

// TestReviewAdminWithoutReviews: a gateway without a reviews section
// answers the review calls 404, naming the section.
func TestReviewAdminWithoutReviews(t *testing.T) {
	g, _ := guestGateway(t, &fakeClock{t: time.Now()})
	base := strings.TrimSuffix(g.BaseURL(), "/scim/v2")
	for _, path := range []string{"/reviews", "/reviews/x", "/review-instances/1", "/review-instances/1/export?format=csv"} {
		status, _, m := adminDo(t, base, "GET", path, "")
		if status != 404 || !strings.Contains(fmt.Sprint(m["error"]), "reviews section") {
			t.Errorf("%s: %d %v", path, status, m)
		}
	}
	if status, _, m := adminDo(t, base, "POST", "/review-instances/1/stop", ""); status != 404 {
		t.Errorf("stop: %d %v", status, m)
	}
}

// TestReviewDefinitionsAPI: a review defined through the admin API is
// checked as the configuration's are (its fields named), listed beside
// them as defined by the API, changed through the API, and audited; a
// name taken and a configured review's change are refused; the service
// starts its instances like the configured ones'.
func TestReviewDefinitionsAPI(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	clock := &fakeClock{t: t0.Add(-time.Hour)}
	g := reviewGateway(t, clock, t0)
	base := strings.TrimSuffix(g.BaseURL(), "/scim/v2")
	call := func(want int, method, path, body string) map[string]any {
		t.Helper()
		status, _, m := adminDo(t, base, method, path, body)
		if status != want {
			t.Fatalf("%s %s %s: %d, want %d: %v", method, path, body, status, want, m)
		}
		return m
	}
	const monthly = `{"name": "crm-monthly", "resource": {"target": "crm"}, "reviewers": {"type": "named", "named": ["boss@contoso.example"]},
		"recurrence": {"pattern": "monthly", "durationDays": 5, "startDate": "2026-04-01"}}`
	created := call(200, "POST", "/reviews", monthly)
	if created["definedIn"] != "api" || created["name"] != "crm-monthly" || created["nextStart"] != "2026-04-01T00:00:00Z" {
		t.Fatalf("created: %v", created)
	}
	call(409, "POST", "/reviews", monthly)
	bad := call(400, "POST", "/reviews", `{"name": "x", "resource": {"target": "nope"}, "reviewers": {"type": "named", "named": ["a@b.example"]},
		"recurrence": {"durationDays": 5, "startDate": "2026-04-01"}}`)
	if !strings.Contains(fmt.Sprint(bad["error"]), `review.resource.target: "nope": no such target`) {
		t.Errorf("an unknown target: %v", bad)
	}
	call(400, "POST", "/reviews", `{"name": "y", "colour": "blue"}`)
	call(409, "PUT", "/reviews/crm-access", `{"resource": {"target": "crm"}, "reviewers": {"type": "self"}, "recurrence": {"durationDays": 3, "startDate": "2026-04-01"}}`)
	call(404, "PUT", "/reviews/nosuch", `{"resource": {"target": "crm"}, "reviewers": {"type": "self"}, "recurrence": {"durationDays": 3, "startDate": "2026-04-01"}}`)
	call(400, "PUT", "/reviews/crm-monthly", strings.Replace(monthly, "crm-monthly", "other", 1))
	twoStages := strings.NewReplacer(`"durationDays": 5`, `"durationDays": 10`, `"2026-04-01"}}`, `"2026-04-01"}, "secondStage": {"reviewers": {"type": "manager"},
		"fallbackReviewers": ["boss@contoso.example"], "durationDays": 3, "decisionsToNextStage": ["approve", "dontKnow"]}}`).Replace(monthly)
	bad = call(400, "PUT", "/reviews/crm-monthly", strings.Replace(twoStages, `"durationDays": 3`, `"durationDays": 19`, 1))
	if !strings.Contains(fmt.Sprint(bad["error"]), "secondStage.durationDays: 19: the two stages' 29 days are more than the 28 days of monthly") {
		t.Errorf("two stages too long: %v", bad)
	}
	updated := call(200, "PUT", "/reviews/crm-monthly", twoStages)
	if fmt.Sprint(updated["recurrence"]) != "map[durationDays:10 pattern:monthly startDate:2026-04-01]" ||
		fmt.Sprint(updated["secondStage"]) != "map[decisionsToNextStage:[approve dontKnow] durationDays:3 fallbackReviewers:[boss@contoso.example] reviewers:map[type:manager]]" {
		t.Errorf("updated: %v, %v", updated["recurrence"], updated["secondStage"])
	}
	var names []string
	for _, r := range call(200, "GET", "/reviews", "")["reviews"].([]any) {
		m := r.(map[string]any)
		names = append(names, fmt.Sprint(m["name"], " ", m["definedIn"]))
	}
	if want := []string{"crm-access configuration", "crm-monthly api"}; !slices.Equal(names, want) {
		t.Errorf("reviews %q, want %q", names, want)
	}
	clock.Set(time.Date(2026, 4, 1, 1, 0, 0, 0, time.UTC))
	if _, err := g.reviews.RunDue(t.Context()); err != nil {
		t.Fatal(err)
	}
	if ins := call(200, "GET", "/reviews/crm-monthly/instances", "")["instances"].([]any); len(ins) != 1 ||
		ins[0].(map[string]any)["stage"] != 1.0 || ins[0].(map[string]any)["end"] != "2026-04-14T00:00:00Z" {
		t.Errorf("crm-monthly instances (two stages: 13 days): %v", ins)
	}
	es, err := g.store.Audit(t.Context(), store.AuditQuery{ID: "crm-monthly", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range es {
		if e.Actor == "admin: static token #1" {
			actions = append(actions, e.Action)
		}
	}
	if want := []string{"review update", "review create"}; !slices.Equal(actions, want) {
		t.Errorf("audit %q, want %q", actions, want)
	}
}
