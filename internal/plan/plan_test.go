package plan

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/engine"
	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/internal/store/sqlstore"
	"github.com/scimgate/scimgate/policy"
	"github.com/scimgate/scimgate/scim"
	"github.com/scimgate/scimgate/scim/server"
	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/memory"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// scimCall sends one request to a real SCIM server over st and returns
// the id of the resource it answers with.
func scimCall(t *testing.T, st store.Store, method, path, body string, want int) string {
	t.Helper()
	srv, err := server.New(server.Options{Store: st, Types: []*scim.ResourceType{scim.UserType(), scim.GroupType()},
		BasePath: "/scim/v2", MaxBodyBytes: 1 << 20, MaxResults: 100, DefaultCount: 100, BulkMaxOperations: 10, BulkMaxPayload: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest(method, "/scim/v2"+path, strings.NewReader(body)))
	if rec.Code != want {
		t.Fatalf("%s %s: %d %s", method, path, rec.Code, rec.Body)
	}
	var r struct{ ID string }
	_ = json.Unmarshal(rec.Body.Bytes(), &r)
	return r.ID
}

// seed stores users and groups through the real SCIM server and returns
// alice's id.
func seed(t *testing.T, st store.Store) string {
	t.Helper()
	post := func(endpoint, body string) string {
		return scimCall(t, st, http.MethodPost, endpoint, body, http.StatusCreated)
	}
	const ent = `"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"`
	alice := post("/Users", `{"userName":"alice@contoso.com","active":true,"name":{"givenName":"Alíce","familyName":"Smith"},
		"emails":[{"type":"work","value":"alice@contoso.com"}],`+ent+`:{"department":"Sales"}}`)
	bob := post("/Users", `{"userName":"bob@contoso.com","active":"False","name":{"givenName":"Bob","familyName":"Jones"},
		"emails":[{"type":"work","value":"bob@contoso.com"}],`+ent+`:{"department":"Engineering"}}`)
	post("/Users", `{"userName":"carol@contoso.com","name":{"givenName":"Carol","familyName":"White"}}`)
	post("/Groups", `{"displayName":"Sales","members":[{"value":"`+alice+`"},{"value":"`+bob+`"}]}`)
	post("/Groups", `{"displayName":"Engineering","members":[{"value":"`+bob+`"}]}`)
	return alice
}

// setup opens a store seeded through SCIM (seed) and compiles
// testdata/policy.yaml; it returns alice's id too.
func setup(t *testing.T) (store.Store, *policy.Policy, string) {
	t.Helper()
	st, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "scimgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	alice := seed(t, st)
	raw, err := os.ReadFile("testdata/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := policy.ParseConfig(raw)
	if err != nil {
		t.Fatal(err)
	}
	pol, err := policy.Compile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return st, pol, alice
}

// checkGolden compares got with the golden file name (rewritten first
// with -update).
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(name, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("plan differs from %s (rerun with -update after checking):\n%s", name, got)
	}
}

func TestPlan(t *testing.T) {
	ctx := context.Background()
	st, pol, _ := setup(t)
	types := map[string]string{"crm": "memory", "ldap": "memory"}
	for _, tc := range []struct {
		name, only, golden string
	}{
		{"every target", "", "testdata/plan.golden"},
		{"one target", "ldap", "testdata/plan-ldap.golden"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Build(ctx, st, pol, types, tc.only)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := p.WriteText(&buf); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, tc.golden, buf.Bytes())
			var js bytes.Buffer
			if err := p.WriteJSON(&js); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(js.String(), "RandomString") || bytes.Count(js.Bytes(), []byte(`"password": "[Redact]"`)) != strings.Count(buf.String(), "password=[Redact]") {
				t.Fatalf("JSON plan does not redact like the text plan:\n%s", js.String())
			}
		})
	}
	if _, err := Build(ctx, st, pol, types, "nope"); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("unknown target: %v", err)
	}
}

// TestPlanAfterDelivery: once the engine delivered everything, the plan is
// empty; after changes in SCIM it shows only what the targets would
// receive for them: an update with the changed attributes, a leaver's
// disable, queued operations as queued.
func TestPlanAfterDelivery(t *testing.T) {
	ctx := context.Background()
	st, pol, alice := setup(t)
	conns := map[string]targets.Connector{"crm": new(memory.Connector), "ldap": new(memory.Connector)}
	e, err := engine.New(engine.Options{Store: st, Policy: pol, Connectors: conns, Poll: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	e.Start(ctx)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ch, _ := st.Changes(ctx, 0, 1)
		a, _ := st.OutboxStats(ctx, "crm", time.Now())
		b, _ := st.OutboxStats(ctx, "ldap", time.Now())
		if len(ch) == 0 && a.Pending+b.Pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the engine did not deliver everything")
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.Close()
	types := map[string]string{"crm": "memory", "ldap": "memory"}
	golden := func(name string) {
		t.Helper()
		p, err := Build(ctx, st, pol, types, "")
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := p.WriteText(&buf); err != nil {
			t.Fatal(err)
		}
		checkGolden(t, name, buf.Bytes())
	}
	golden("testdata/plan-delivered.golden")
	// alice marries and moves to Marketing: her alias changes, she leaves
	// crm's scope (disable). The engine is stopped, so the journal keeps
	// the changes unplanned.
	scimCall(t, st, http.MethodPatch, "/Users/"+alice, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
		"Operations":[{"op":"replace","path":"name.familyName","value":"Brown"}]}`, http.StatusOK)
	golden("testdata/plan-changed.golden")
	scimCall(t, st, http.MethodPatch, "/Users/"+alice, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
		"Operations":[{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department","value":"Marketing"}]}`, http.StatusOK)
	golden("testdata/plan-leaver.golden")
}
