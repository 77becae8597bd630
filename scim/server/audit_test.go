package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/internal/store/sqlstore"
	"github.com/scimgate/scimgate/scim"
)

// TestAuditNamesChangedAttributes: the audit entry of every SCIM change
// names the attributes it set or changed (as SCIM paths), and never a
// value: the password shows by name only.
func TestAuditNamesChangedAttributes(t *testing.T) {
	ctx := context.Background()
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "scimgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	srv, err := New(Options{Store: st, Types: []*scim.ResourceType{scim.UserType(), scim.GroupType()}, BasePath: "/scim/v2",
		MaxBodyBytes: 1 << 20, MaxResults: 100, DefaultCount: 100, BulkMaxOperations: 10, BulkMaxPayload: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	do := func(method, path, body string, want int) string {
		t.Helper()
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest(method, "/scim/v2"+path, strings.NewReader(body)))
		if rec.Code != want {
			t.Fatalf("%s %s: %d %s", method, path, rec.Code, rec.Body)
		}
		var r struct{ ID string }
		_ = json.Unmarshal(rec.Body.Bytes(), &r)
		return r.ID
	}
	const (
		ent    = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
		secret = "hunter2-S3cret"
		patch  = `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":`
	)
	alice := do("POST", "/Users", `{"userName":"alice@contoso.com","password":"`+secret+`","title":"Clerk",
		"name":{"givenName":"Alice","familyName":"Smith"},"emails":[{"type":"work","value":"alice@contoso.com"}],
		"`+ent+`":{"department":"Sales","manager":{"value":"m-1"}}}`, http.StatusCreated)
	do("PATCH", "/Users/"+alice, patch+`[{"op":"replace","path":"title","value":"Manager"},
		{"op":"replace","path":"`+ent+`:department","value":"Marketing"},
		{"op":"replace","path":"password","value":"`+secret+`-2"}]}`, http.StatusOK)
	do("PUT", "/Users/"+alice, `{"userName":"alice@contoso.com","title":"Manager",
		"name":{"givenName":"Alice","familyName":"Brown"},"emails":[{"type":"work","value":"alice.brown@contoso.com"}],
		"`+ent+`":{"department":"Marketing","manager":{"value":"m-2"}}}`, http.StatusOK)
	group := do("POST", "/Groups", `{"displayName":"Sales","members":[{"value":"`+alice+`"}]}`, http.StatusCreated)
	do("PATCH", "/Groups/"+group, patch+`[{"op":"replace","path":"displayName","value":"Sales EMEA"}]}`, http.StatusNoContent)
	do("DELETE", "/Users/"+alice, "", http.StatusNoContent)

	entries, err := st.Audit(ctx, store.AuditQuery{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Action+" "+e.Type+": "+e.Detail)
		if strings.Contains(e.Detail, secret) || strings.Contains(e.Detail, "Clerk") {
			t.Errorf("audit entry %d shows a value: %s", e.Seq, e.Detail)
		}
	}
	slices.Reverse(got)
	want := []string{
		"create User: attributes: emails, name.familyName, name.givenName, password, title, " +
			ent + ":department, " + ent + ":manager.value, userName",
		"update User: attributes: password, title, " + ent + ":department",
		"update User: attributes: emails, name.familyName, password, " + ent + ":manager.value",
		// The members of a group are rows: the store audits their
		// changes, naming the ids.
		"create Group: attributes: displayName",
		"update Group: members added (1): " + alice,
		"update Group: attributes: displayName",
		"delete User: ",
		"update Group: members removed (1): " + alice,
	}
	if !slices.Equal(got, want) {
		t.Errorf("audit details:\n got %q\nwant %q", got, want)
	}
}
