package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scimgate/scimgate/internal/store/sqlstore"
	"github.com/scimgate/scimgate/scim"
)

// TestEndpointPaths: endpoint names are matched without case (clients send
// /users; Entra's on-premises agent sends /schemas), ids keep theirs, and a
// query at the root is 501 (RFC 7644 §3.4.2.1).
func TestEndpointPaths(t *testing.T) {
	st, err := sqlstore.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "scimgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	srv, err := New(Options{Store: st, Types: []*scim.ResourceType{scim.UserType(), scim.GroupType()}, BasePath: "/scim/v2",
		MaxBodyBytes: 1 << 20, MaxResults: 100, DefaultCount: 100, BulkMaxOperations: 10, BulkMaxPayload: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	do := func(method, path, body string) (int, string) {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest(method, "/scim/v2"+path, strings.NewReader(body)))
		return rec.Code, rec.Body.String()
	}
	code, body := do("POST", "/users", `{"userName":"Ada@Contoso.com"}`)
	if code != http.StatusCreated {
		t.Fatalf("POST /users: %d %s", code, body)
	}
	id := body[strings.Index(body, `"id":"`)+6:]
	id = id[:strings.Index(id, `"`)]
	for _, tc := range []struct {
		name, method, path string
		want               int
		contains           string
	}{
		{"lower-case users list", "GET", "/users?filter=userName%20eq%20%22ada@contoso.com%22", 200, `"totalResults":1`},
		{"upper-case users", "GET", "/USERS/" + id, 200, `"userName":"Ada@Contoso.com"`},
		{"lower-case schemas (Entra on-premises)", "GET", "/schemas", 200, "urn:ietf:params:scim:schemas:core:2.0:User"},
		{"lower-case resource types", "GET", "/resourcetypes", 200, `"Resources"`},
		{"lower-case service provider config", "GET", "/serviceproviderconfig", 200, `"patch"`},
		{"groups", "GET", "/groups", 200, `"totalResults":0`},
		{"ids keep their case", "GET", "/Users/" + strings.ToUpper(id), 404, ""},
		{"root query", "GET", "/?filter=userName%20eq%20%22x%22", 501, "POST /.search"},
		{"root without slash", "GET", "", 501, ""},
		{"unknown endpoint", "GET", "/Devices", 404, `no SCIM endpoint at \"/Devices\"`},
		{"probe PLACEHOLDER", "GET", "/Users?filter=PLACEHOLDER%20eq%20%22x%22", 200, `"totalResults":0`},
		{"probe placeholder EQ", "GET", "/Groups?filter=placeholder%20EQ%20%22x%22", 200, `"totalResults":0`},
		{"other unknown attributes stay invalid", "GET", "/Users?filter=PLACEHOLDERS%20eq%20%22x%22", 400, "invalidFilter"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := do(tc.method, tc.path, "")
			if code != tc.want || !strings.Contains(body, tc.contains) {
				t.Errorf("%s %s: %d %s, want %d with %q", tc.method, tc.path, code, body, tc.want, tc.contains)
			}
		})
	}
}

// TestPayloadTooLarge: an oversized body and a Bulk request with too many
// operations are 413 with the RFC's error body: no scimType, which RFC 7644
// defines none of for 413 (§3.7.4), and a detail naming the limit.
func TestPayloadTooLarge(t *testing.T) {
	st, err := sqlstore.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "scimgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	srv, err := New(Options{Store: st, Types: []*scim.ResourceType{scim.UserType(), scim.GroupType()}, BasePath: "/scim/v2",
		MaxBodyBytes: 256, MaxResults: 100, DefaultCount: 100, BulkMaxOperations: 1, BulkMaxPayload: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, path, body, detail string }{
		{"body", "/Users", `{"userName":"` + strings.Repeat("a", 300) + `"}`, "exceeds the limit of 256 bytes"},
		{"bulk operations", "/Bulk", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],"Operations":[
			{"method":"DELETE","path":"/Users/a"},{"method":"DELETE","path":"/Users/b"}]}`, "maxOperations is 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, httptest.NewRequest("POST", "/scim/v2"+tc.path, strings.NewReader(tc.body)))
			var e map[string]any
			_ = json.Unmarshal(rec.Body.Bytes(), &e)
			if _, has := e["scimType"]; rec.Code != http.StatusRequestEntityTooLarge || has || e["status"] != "413" ||
				!strings.Contains(fmt.Sprint(e["detail"]), tc.detail) {
				t.Errorf("%d %s, want 413 without scimType and a detail with %q", rec.Code, rec.Body, tc.detail)
			}
		})
	}
}

// TestMemberRef: the server sets each member's $ref to the member's own
// URI, whatever the client sent.
func TestMemberRef(t *testing.T) {
	st, err := sqlstore.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "scimgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	srv, err := New(Options{Store: st, Types: []*scim.ResourceType{scim.UserType(), scim.GroupType()}, BasePath: "/scim/v2",
		PublicURL: "https://gw.example.com", MaxBodyBytes: 1 << 20, MaxResults: 100, DefaultCount: 100, BulkMaxOperations: 10, BulkMaxPayload: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	do := func(method, path, body string) map[string]any {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest(method, "/scim/v2"+path, strings.NewReader(body)))
		var out map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || rec.Code/100 != 2 {
			t.Fatalf("%s %s: %d %s", method, path, rec.Code, rec.Body)
		}
		return out
	}
	u := do("POST", "/Users", `{"userName":"ada"}`)["id"].(string)
	inner := do("POST", "/Groups", `{"displayName":"inner"}`)["id"].(string)
	g := do("POST", "/Groups", `{"displayName":"outer","members":[{"value":"`+u+`","$ref":"https://evil.example/x"},{"value":"`+inner+`","type":"Group"}]}`)
	members, _ := g["members"].([]any)
	want := map[string]string{u: "https://gw.example.com/scim/v2/Users/" + u, inner: "https://gw.example.com/scim/v2/Groups/" + inner}
	if len(members) != 2 {
		t.Fatalf("members %v", members)
	}
	for _, m := range members {
		mm := m.(map[string]any)
		if mm["$ref"] != want[mm["value"].(string)] {
			t.Errorf("member %v: $ref %v, want %s", mm["value"], mm["$ref"], want[mm["value"].(string)])
		}
	}
}
