package engine

import (
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/policy"
	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/memory"
)

// TestDeliveryAuditSaysWhatChanged: the audit entry of a delivered create
// or update lists the attributes it set with their values, secrets
// redacted; a membership change lists its members.
func TestDeliveryAuditSaysWhatChanged(t *testing.T) {
	w := newWorld(t, engineScenario{})
	mem := memory.New(memory.Config{})
	pol, err := policy.Compile(policy.Config{Targets: []policy.TargetConfig{{Name: "crm",
		Users: &policy.ObjectConfig{Scope: policy.ScopeConfig{All: true}, Mapping: []policy.MappingConfig{
			{Target: "userName", Source: "userName"},
			{Target: "title", Source: "title"},
			{Target: "password", Expression: "RandomString(12, 2, 0, 2, 2)", Apply: "onCreate"},
		}},
		Groups: &policy.ObjectConfig{Scope: policy.ScopeConfig{All: true}, Mapping: []policy.MappingConfig{{Target: "name", Source: "displayName"}}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	w.start(pol, map[string]targets.Connector{"crm": mem}, slog.New(slog.DiscardHandler))
	ctx := t.Context()
	id, _ := w.do("setup", "POST", "/Users", map[string]any{"userName": "ada@contoso.com", "title": "Engineer"}, 201)["id"].(string)
	gid, _ := w.do("setup", "POST", "/Groups", map[string]any{"displayName": "Eng", "members": []any{map[string]any{"value": id}}}, 201)["id"].(string)
	run := func() {
		if err := w.e.PlanOnce(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := w.e.DeliverDue(ctx); err != nil {
			t.Fatal(err)
		}
	}
	run()
	w.do("setup", "PATCH", "/Users/"+id, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []any{map[string]any{"op": "replace", "path": "title", "value": "Director"}}}, 200)
	run()
	entries, err := w.st.Audit(ctx, store.AuditQuery{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		if e.Actor == actorEngine && e.Result == store.AuditOK {
			got = append(got, e.Action+" "+strings.ReplaceAll(strings.ReplaceAll(e.Detail, id, "ada"), gid, "eng"))
		}
	}
	slices.Sort(got)
	want := []string{
		`addMembers members: ada`,
		`create attributes: name="Eng"`,
		`create attributes: password=[Redact], title="Engineer", userName="ada@contoso.com"`,
		`update attributes: title="Director"`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("delivery audit entries:\n got %q\nwant %q", got, want)
	}
	for _, e := range entries {
		for _, c := range mem.Calls() {
			if pw, _ := c.Op.Attrs["password"].(string); pw != "" && strings.Contains(e.Detail, pw) {
				t.Errorf("the audit log holds the password: %+v", e)
			}
		}
	}
}
