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

	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/policy"
	"github.com/scimgate/scimgate/scim"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// seed stores users and groups through the real SCIM server.
func seed(t *testing.T, st store.Store) {
	t.Helper()
	srv, err := scim.New(scim.Options{Store: st, Types: []*scim.ResourceType{scim.UserType(), scim.GroupType()},
		BasePath: "/scim/v2", MaxBodyBytes: 1 << 20, MaxResults: 100, DefaultCount: 100, BulkMaxOperations: 10, BulkMaxPayload: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	post := func(endpoint, body string) string {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/scim/v2"+endpoint, strings.NewReader(body)))
		if rec.Code != http.StatusCreated {
			t.Fatalf("POST %s: %d %s", endpoint, rec.Code, rec.Body)
		}
		var r struct{ ID string }
		_ = json.Unmarshal(rec.Body.Bytes(), &r)
		return r.ID
	}
	const ent = `"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"`
	alice := post("/Users", `{"userName":"alice@contoso.com","active":true,"name":{"givenName":"Alíce","familyName":"Smith"},
		"emails":[{"type":"work","value":"alice@contoso.com"}],`+ent+`:{"department":"Sales"}}`)
	bob := post("/Users", `{"userName":"bob@contoso.com","active":"False","name":{"givenName":"Bob","familyName":"Jones"},
		"emails":[{"type":"work","value":"bob@contoso.com"}],`+ent+`:{"department":"Engineering"}}`)
	post("/Users", `{"userName":"carol@contoso.com","name":{"givenName":"Carol","familyName":"White"}}`)
	post("/Groups", `{"displayName":"Sales","members":[{"value":"`+alice+`"},{"value":"`+bob+`"}]}`)
	post("/Groups", `{"displayName":"Engineering","members":[{"value":"`+bob+`"}]}`)
}

func TestPlan(t *testing.T) {
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "scimgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	seed(t, st)
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
			if *update {
				if err := os.WriteFile(tc.golden, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(tc.golden)
			if err != nil {
				t.Fatal(err)
			}
			if buf.String() != string(want) {
				t.Fatalf("plan differs from %s (rerun with -update after checking):\n%s", tc.golden, buf.String())
			}
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
