package gateway

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/review"
	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/memory"
)

// TestReviewAdminDecideRevertDelete: an administrator records decisions
// on the reviewers' behalf (POST /review-instances/{id}/decisions) while
// the instance runs and after its end until the results are applied
// (409 then); reverts an applied denial (POST
// .../items/{n}/revert: the account is enabled again in the target; an
// approval or a reverted item: 409); deletes a review defined through
// the admin API (DELETE /reviews/{name}: 409 for a configured one and
// while an instance is in progress; its instances stay listed). Each
// is audited with the administrator.
func TestReviewAdminDecideRevertDelete(t *testing.T) {
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
	for _, u := range []string{"boss@contoso.example", "ada@contoso.example", "bob@contoso.example"} {
		c.must(http.StatusCreated, "POST", "/Users", map[string]any{"userName": u})
	}
	waitFor(t, "the engine to plan and deliver", func() (bool, string) { return idleNow(t.Context(), g) })
	clock.Set(t0)
	if _, err := g.reviews.RunDue(t.Context()); err != nil {
		t.Fatal(err)
	}
	ins := call(200, "GET", "/reviews/crm-access/instances", "")["instances"].([]any)
	id := int64(ins[0].(map[string]any)["id"].(float64))
	index := map[string]int{}
	for _, it := range call(200, "GET", fmt.Sprintf("/review-instances/%d/items", id), "")["items"].([]any) {
		m := it.(map[string]any)
		index[m["userName"].(string)] = int(m["item"].(float64))
	}
	ada, bob, boss := index["ada@contoso.example"], index["bob@contoso.example"], index["boss@contoso.example"]
	decisions := fmt.Sprintf("/review-instances/%d/decisions", id)

	for _, tc := range []struct {
		name, path, body string
		want             int
	}{
		{"bad decision", decisions, `{"items": [1], "decision": "maybe"}`, 400},
		{"no items", decisions, `{"items": [], "decision": "Deny"}`, 400},
		{"bad body", decisions, `{"item": 1, "decision": "Deny"}`, 400},
		{"unknown item", decisions, `{"items": [1, 9], "decision": "Deny"}`, 404},
		{"unknown instance", "/review-instances/99/decisions", `{"items": [1], "decision": "Deny"}`, 404},
		{"revert in progress", fmt.Sprintf("/review-instances/%d/items/%d/revert", id, ada), "", 409},
		{"revert bad item", fmt.Sprintf("/review-instances/%d/items/x/revert", id), "", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if status, _, m := adminDo(t, base, "POST", tc.path, tc.body); status != tc.want || m["error"] == "" {
				t.Errorf("%d %v, want %d", status, m, tc.want)
			}
		})
	}
	got := call(200, "POST", decisions, fmt.Sprintf(`{"items": [%d, %d], "decision": "deny", "justification": "left the company"}`, ada, boss))
	var decided []string
	for _, it := range got["items"].([]any) {
		m := it.(map[string]any)
		decided = append(decided, fmt.Sprint(m["userName"], " ", m["decision"], " by ", m["reviewedBy"], ": ", m["justification"]))
	}
	slices.Sort(decided)
	if want := []string{"ada@contoso.example Deny by admin: static token #1: left the company",
		"boss@contoso.example Deny by admin: static token #1: left the company"}; !slices.Equal(decided, want) {
		t.Errorf("decided %q, want %q", decided, want)
	}

	// Stopped, not applied: still decidable; the default (deny) would
	// take bob, the administrator approves him.
	call(200, "POST", fmt.Sprintf("/review-instances/%d/stop", id), "")
	call(200, "POST", decisions, fmt.Sprintf(`{"items": [%d, %d], "decision": "Approve"}`, bob, boss))
	call(200, "POST", fmt.Sprintf("/review-instances/%d/apply", id), "")
	call(409, "POST", decisions, fmt.Sprintf(`{"items": [%d], "decision": "Approve"}`, ada))
	crm := g.conns["crm"].(*memory.Connector)
	accounts := func(want string) {
		t.Helper()
		waitFor(t, "the target to be "+want, func() (bool, string) {
			var state []string
			for _, o := range crm.Snapshot() {
				if o.Kind == targets.User {
					state = append(state, fmt.Sprintf("%s disabled=%v", o.Attrs["userName"], o.Disabled))
				}
			}
			slices.Sort(state)
			s := strings.Join(state, ",")
			return s == want, s
		})
	}
	accounts("ada@contoso.example disabled=true,bob@contoso.example disabled=false,boss@contoso.example disabled=false")

	// Revert ada's denial: enabled again.
	row := call(200, "POST", fmt.Sprintf("/review-instances/%d/items/%d/revert", id, ada), "")
	if row["applyResult"] != review.Reverted || row["decision"] != review.Deny ||
		!strings.HasPrefix(fmt.Sprint(row["applyDetail"]), "reverted by admin: static token #1") {
		t.Errorf("reverted: %v", row)
	}
	accounts("ada@contoso.example disabled=false,bob@contoso.example disabled=false,boss@contoso.example disabled=false")
	call(409, "POST", fmt.Sprintf("/review-instances/%d/items/%d/revert", id, ada), "")
	call(409, "POST", fmt.Sprintf("/review-instances/%d/items/%d/revert", id, bob), "")
	call(404, "POST", fmt.Sprintf("/review-instances/%d/items/9/revert", id), "")

	// Delete.
	if m := call(409, "DELETE", "/reviews/crm-access", ""); !strings.Contains(fmt.Sprint(m["error"]), "configuration") {
		t.Errorf("delete of a configured review: %v", m)
	}
	call(404, "DELETE", "/reviews/nosuch", "")
	call(200, "POST", "/reviews", `{"name": "crm-weekly", "resource": {"target": "crm"}, "reviewers": {"type": "self"},
		"recurrence": {"pattern": "weekly", "durationDays": 3, "startDate": "2026-03-09"}}`)
	clock.Set(time.Date(2026, 3, 9, 1, 0, 0, 0, time.UTC))
	if _, err := g.reviews.RunDue(t.Context()); err != nil {
		t.Fatal(err)
	}
	weekly := call(200, "GET", "/reviews/crm-weekly/instances", "")["instances"].([]any)
	if len(weekly) != 1 {
		t.Fatalf("crm-weekly: %v", weekly)
	}
	wid := int64(weekly[0].(map[string]any)["id"].(float64))
	if m := call(409, "DELETE", "/reviews/crm-weekly", ""); !strings.Contains(fmt.Sprint(m["error"]), "stop it first") {
		t.Errorf("delete while in progress: %v", m)
	}
	call(200, "POST", fmt.Sprintf("/review-instances/%d/stop", wid), "")
	if m := call(200, "DELETE", "/reviews/CRM-WEEKLY", ""); m["deleted"] != "crm-weekly" {
		t.Errorf("deleted: %v", m)
	}
	call(404, "GET", "/reviews/crm-weekly", "")
	if ins := call(200, "GET", "/reviews/crm-weekly/instances", "")["instances"].([]any); len(ins) != 1 {
		t.Errorf("the deleted review's instances: %v", ins)
	}
	if status, _, body := adminGet(t, base, fmt.Sprintf("/review-instances/%d/export?format=csv", wid)); status != 200 || !strings.Contains(body, "crm-weekly,") {
		t.Errorf("the deleted review's export: %d %s", status, body)
	}

	es, err := g.store.Audit(t.Context(), store.AuditQuery{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range es {
		if e.Actor == "admin: static token #1" && slices.Contains([]string{"review decide", "review revert", "review delete"}, e.Action) {
			actions = append(actions, e.Action)
		}
	}
	slices.Sort(actions)
	if want := []string{"review decide", "review decide", "review decide", "review decide", "review delete", "review revert"}; !slices.Equal(actions, want) {
		t.Errorf("audit %q, want %q", actions, want)
	}
}
