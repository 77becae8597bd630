package graphtest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const app = "app-1"

// token gets an access token from the token endpoint with a client
// secret, as an OAuth client would.
func token(t *testing.T, s *Server, clientID, secret, scope string) (int, map[string]any) {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret}, "scope": {scope}}
	resp, err := s.Client().PostForm(s.URL+"/"+TenantID+"/oauth2/v2.0/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

// call sends a Graph request with a token of app and decodes the answer.
func call(t *testing.T, s *Server, method, path string, body any, header ...string) (int, http.Header, map[string]any, string) {
	t.Helper()
	tok, _, err := s.AccessToken(app)
	if err != nil {
		t.Fatal(err)
	}
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	u := path
	if !strings.HasPrefix(u, "https://") {
		u = s.GraphURL + path
	}
	req, _ := http.NewRequestWithContext(t.Context(), method, u, r)
	req.Header.Set("Authorization", "Bearer "+tok)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp.StatusCode, resp.Header, m, string(raw)
}

// graphErr returns the code and message of a Graph error body, checking
// its shape.
func graphErr(t *testing.T, body map[string]any) (code, msg string) {
	t.Helper()
	e, ok := body["error"].(map[string]any)
	if !ok {
		t.Fatalf("no error object in %v", body)
	}
	inner, _ := e["innerError"].(map[string]any)
	if inner["request-id"] == nil || inner["date"] == nil {
		t.Errorf("innerError %v without request-id and date", inner)
	}
	code, _ = e["code"].(string)
	msg, _ = e["message"].(string)
	return code, msg
}

func TestTokenEndpoint(t *testing.T) {
	for _, tc := range []struct {
		name, client, secret, scope string
		status                      int
		code                        string // error
	}{
		{name: "client credentials", client: app, secret: "pw", status: 200},
		{name: "OpenID scopes are ignored", client: app, secret: "pw", scope: "openid offline_access profile", status: 200},
		{name: "wrong secret", client: app, secret: "nope", status: 401, code: "invalid_client"},
		{name: "unknown app", client: "other", secret: "pw", status: 400, code: "unauthorized_client"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := Start(t)
			s.AddApp(App{ClientID: app, Secret: "pw", Roles: []string{"User.Read.All", "AuditLog.Read.All"}})
			status, body := token(t, s, tc.client, tc.secret, strings.TrimSpace(s.URL+"/.default "+tc.scope))
			if status != tc.status || tc.code != "" && body["error"] != tc.code {
				t.Fatalf("%d %v, want %d %s", status, body, tc.status, tc.code)
			}
			if tc.code != "" {
				return
			}
			tok, _ := body["access_token"].(string)
			parts := strings.Split(tok, ".")
			payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
			var claims struct {
				Roles []string `json:"roles"`
				Aud   string   `json:"aud"`
			}
			_ = json.Unmarshal(payload, &claims)
			if !slices.Equal(claims.Roles, []string{"User.Read.All", "AuditLog.Read.All"}) || claims.Aud != s.URL {
				t.Errorf("claims %+v", claims)
			}
		})
	}
	t.Run("Graph refuses a token of another audience", func(t *testing.T) {
		s, other := Start(t), Start(t)
		other.AddApp(App{ClientID: app, Roles: []string{"User.Read.All"}})
		tok, _, err := other.AccessToken(app)
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequestWithContext(t.Context(), "GET", s.GraphURL+"/users", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := s.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		if code, _ := graphErr(t, body); resp.StatusCode != 401 || code != "InvalidAuthenticationToken" {
			t.Errorf("%d %s, want 401 InvalidAuthenticationToken", resp.StatusCode, code)
		}
	})
	t.Run("scope of another resource", func(t *testing.T) {
		s := Start(t)
		s.AddApp(App{ClientID: app, Secret: "pw"})
		if status, body := token(t, s, app, "pw", "https://graph.microsoft.com/.default"); status != 400 || body["error"] != "invalid_resource" {
			t.Errorf("%d %v", status, body)
		}
	})
}

func TestGraphErrors(t *testing.T) {
	for _, tc := range []struct {
		name      string
		roles     []string
		req       func(s *Server, u User, g, dyn Group) (method, path string)
		body      func(s *Server, u User) any
		header    []string
		status    int
		code, msg string
	}{
		{name: "no permission", roles: []string{"GroupMember.Read.All"},
			req:    func(s *Server, u User, g, d Group) (string, string) { return "GET", "/users/" + u.ID },
			status: 403, code: "Authorization_RequestDenied", msg: MsgDenied},
		{name: "signInActivity without AuditLog.Read.All", roles: []string{"User.Read.All"},
			req: func(s *Server, u User, g, d Group) (string, string) {
				return "GET", "/users/" + u.ID + "?$select=id,signInActivity"
			},
			status: 403, code: "Authorization_RequestDenied"},
		{name: "unknown $select property", roles: []string{"User.Read.All"},
			req: func(s *Server, u User, g, d Group) (string, string) {
				return "GET", "/users/" + u.ID + "?$select=id,shoeSize"
			},
			status: 400, code: "Request_BadRequest", msg: "Could not find a property named 'shoeSize' on type 'microsoft.graph.user'."},
		{name: "user not found", roles: []string{"User.Read.All"},
			req:    func(s *Server, u User, g, d Group) (string, string) { return "GET", "/users/nobody@contoso.example" },
			status: 404, code: "Request_ResourceNotFound"},
		{name: "$count without ConsistencyLevel", roles: []string{"GroupMember.Read.All"},
			req: func(s *Server, u User, g, d Group) (string, string) {
				return "GET", "/groups/" + g.ID + "/members/$count"
			},
			status: 400, code: "Request_BadRequest"},
		{name: "add an existing member", roles: []string{"GroupMember.ReadWrite.All"},
			req: func(s *Server, u User, g, d Group) (string, string) {
				return "POST", "/groups/" + g.ID + "/members/$ref"
			},
			body: func(s *Server, u User) any {
				return map[string]string{"@odata.id": s.GraphURL + "/directoryObjects/" + u.ID}
			},
			status: 400, code: "Request_BadRequest", msg: MsgAlreadyMember},
		{name: "add to a dynamic group", roles: []string{"GroupMember.ReadWrite.All"},
			req: func(s *Server, u User, g, d Group) (string, string) {
				return "POST", "/groups/" + d.ID + "/members/$ref"
			},
			body: func(s *Server, u User) any {
				return map[string]string{"@odata.id": s.GraphURL + "/directoryObjects/" + u.ID}
			},
			status: 400, code: "Request_BadRequest", msg: MsgDynamicGroup},
		{name: "remove a non-member", roles: []string{"GroupMember.ReadWrite.All"},
			req: func(s *Server, u User, g, d Group) (string, string) {
				return "DELETE", "/groups/" + g.ID + "/members/00000000-0000-4000-8000-000000000000/$ref"
			},
			status: 404, code: "Request_ResourceNotFound", msg: MsgNotMember},
		{name: "more than 20 members@odata.bind", roles: []string{"GroupMember.ReadWrite.All"},
			req: func(s *Server, u User, g, d Group) (string, string) { return "PATCH", "/groups/" + g.ID },
			body: func(s *Server, u User) any {
				return map[string]any{"members@odata.bind": slices.Repeat([]string{s.GraphURL + "/directoryObjects/" + u.ID}, 21)}
			},
			status: 400, code: "Request_BadRequest"},
		{name: "accountEnabled needs User.Read.All besides EnableDisableAccount", roles: []string{"User.EnableDisableAccount.All"},
			req:    func(s *Server, u User, g, d Group) (string, string) { return "PATCH", "/users/" + u.ID },
			body:   func(s *Server, u User) any { return map[string]bool{"accountEnabled": false} },
			status: 403, code: "Authorization_RequestDenied"},
		{name: "delete needs User.ReadWrite.All", roles: []string{"Directory.ReadWrite.All"},
			req:    func(s *Server, u User, g, d Group) (string, string) { return "DELETE", "/users/" + u.ID },
			status: 403, code: "Authorization_RequestDenied"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := Start(t)
			s.AddApp(App{ClientID: app, Roles: tc.roles})
			u := s.AddUser(User{UserPrincipalName: "alice@contoso.example", AccountEnabled: true})
			g := s.AddGroup(Group{DisplayName: "Staff", Members: []string{u.ID}})
			d := s.AddGroup(Group{DisplayName: "Dyn", GroupTypes: []string{"DynamicMembership"}, MembershipRule: "(user.accountEnabled -eq true)"})
			method, path := tc.req(s, u, g, d)
			var body any
			if tc.body != nil {
				body = tc.body(s, u)
			}
			status, _, resp, raw := call(t, s, method, path, body, tc.header...)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %s", status, tc.status, raw)
			}
			code, msg := graphErr(t, resp)
			if code != tc.code || tc.msg != "" && msg != tc.msg {
				t.Errorf("error %s %q, want %s %q", code, msg, tc.code, tc.msg)
			}
			if got, _ := s.User(u.ID); !got.AccountEnabled || s.Deleted(u.ID) {
				t.Errorf("a refused request changed the user: %+v", got)
			}
			if got, _ := s.Group(g.ID); !slices.Equal(got.Members, []string{u.ID}) {
				t.Errorf("a refused request changed the members: %q", got.Members)
			}
		})
	}
}

// TestOwnersPaging: GET /groups/{id}/owners is a directoryObject
// collection as Graph documents it (each item with its @odata.type),
// paged with @odata.nextLink; it needs a group-reading permission.
func TestOwnersPaging(t *testing.T) {
	s := Start(t)
	s.AddApp(App{ClientID: app, Roles: []string{"GroupMember.Read.All"}})
	var want []string
	for i := range 3 {
		want = append(want, s.AddUser(User{UserPrincipalName: fmt.Sprintf("o%d@contoso.example", i)}).ID)
	}
	g := s.AddGroup(Group{DisplayName: "Owned", Owners: want})
	var got []string
	next := "/groups/" + g.ID + "/owners?$top=2"
	pages := 0
	for next != "" {
		status, _, body, raw := call(t, s, "GET", next, nil)
		if status != 200 {
			t.Fatalf("%d %s", status, raw)
		}
		pages++
		if ctx, _ := body["@odata.context"].(string); !strings.HasSuffix(ctx, "#directoryObjects") {
			t.Errorf("@odata.context %q", ctx)
		}
		for _, v := range body["value"].([]any) {
			item := v.(map[string]any)
			if item["@odata.type"] != "#microsoft.graph.user" {
				t.Errorf("owner %v: want @odata.type #microsoft.graph.user", item)
			}
			got = append(got, item["id"].(string))
		}
		next, _ = body["@odata.nextLink"].(string)
	}
	if pages != 2 || !slices.Equal(got, want) {
		t.Errorf("%d pages of %q, want 2 of %q", pages, got, want)
	}
}

func TestPaging(t *testing.T) {
	s := Start(t)
	s.AddApp(App{ClientID: app, Roles: []string{"User.Read.All"}})
	var want []string
	for i := range 5 {
		want = append(want, s.AddUser(User{UserPrincipalName: fmt.Sprintf("u%d@contoso.example", i)}).ID)
	}
	var got []string
	next := "/users?$top=2&$select=id,userPrincipalName"
	pages := 0
	for next != "" {
		status, _, body, raw := call(t, s, "GET", next, nil)
		if status != 200 {
			t.Fatalf("%d %s", status, raw)
		}
		pages++
		for _, v := range body["value"].([]any) {
			item := v.(map[string]any)
			if len(item) != 2 {
				t.Errorf("$select=id,userPrincipalName gave %v", item)
			}
			got = append(got, item["id"].(string))
		}
		next, _ = body["@odata.nextLink"].(string)
		if next != "" && (!strings.HasPrefix(next, s.GraphURL+"/users?") || !strings.Contains(next, "$skiptoken=")) {
			t.Errorf("nextLink %q", next)
		}
	}
	if pages != 3 || !slices.Equal(got, want) {
		t.Errorf("%d pages of %q, want 3 of %q", pages, got, want)
	}
	if status, _, _, _ := call(t, s, "GET", "/users?$top=1000", nil); status != 400 {
		t.Errorf("$top=1000: %d, want 400", status)
	}
}

func TestBatch(t *testing.T) {
	s := Start(t)
	s.AddApp(App{ClientID: app, Roles: []string{"User.Read.All", "GroupMember.ReadWrite.All"}})
	u := s.AddUser(User{UserPrincipalName: "a#EXT#@contoso.example"})
	g := s.AddGroup(Group{DisplayName: "Staff"})
	s.Throttle(1, 2*time.Second)
	reqs := []map[string]any{
		{"id": "1", "method": "GET", "url": "/users/" + u.ID},
		{"id": "2", "method": "GET", "url": "/users/a%23EXT%23%40contoso.example?$select=id"},
		{"id": "3", "method": "POST", "url": "/groups/" + g.ID + "/members/$ref", "headers": map[string]string{"Content-Type": "application/json"},
			"body": map[string]string{"@odata.id": s.GraphURL + "/directoryObjects/" + u.ID}},
		{"id": "4", "method": "GET", "url": "/users/nobody"},
	}
	status, _, body, raw := call(t, s, "POST", "/$batch", map[string]any{"requests": reqs})
	if status != 200 {
		t.Fatalf("%d %s", status, raw)
	}
	var got []string
	for _, r := range body["responses"].([]any) {
		m := r.(map[string]any)
		h, _ := m["headers"].(map[string]any)
		got = append(got, fmt.Sprintf("%v:%v:%v", m["id"], m["status"], h["Retry-After"]))
	}
	if want := []string{"1:429:2", "2:200:<nil>", "3:204:<nil>", "4:404:<nil>"}; !slices.Equal(got, want) {
		t.Errorf("responses %q, want %q", got, want)
	}
	if g, _ := s.Group(g.ID); !slices.Equal(g.Members, []string{u.ID}) {
		t.Errorf("members %q", g.Members)
	}
	if status, _, _, _ := call(t, s, "POST", "/$batch", map[string]any{"requests": slices.Repeat(reqs[:1], 21)}); status != 400 {
		t.Errorf("21 requests: %d, want 400", status)
	}
}

// recorder is a testing.TB whose failures and cleanups are recorded.
type recorder struct {
	testing.TB
	cleanups []func()
	errors   []string
}

func (r *recorder) Helper()          {}
func (r *recorder) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }
func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

// TestViolationFailsTheTest: DELETE /groups/{id}/members/{id} without
// /$ref deletes the member object, and fails the test at its end.
func TestViolationFailsTheTest(t *testing.T) {
	r := &recorder{TB: t}
	s := Start(r)
	s.AddApp(App{ClientID: app, Roles: []string{"User.ReadWrite.All", "GroupMember.ReadWrite.All"}})
	u := s.AddUser(User{UserPrincipalName: "alice@contoso.example"})
	g := s.AddGroup(Group{DisplayName: "Staff", Members: []string{u.ID}})
	if status, _, _, raw := call(t, s, "DELETE", "/groups/"+g.ID+"/members/"+u.ID, nil); status != 204 {
		t.Fatalf("%d %s", status, raw)
	}
	if !s.Deleted(u.ID) {
		t.Error("the member object was not deleted")
	}
	for _, f := range slices.Backward(r.cleanups) {
		f()
	}
	if len(r.errors) != 1 || !strings.Contains(r.errors[0], "without /$ref") {
		t.Errorf("errors at the end of the test: %q", r.errors)
	}
}

func TestFakeAzureCLI(t *testing.T) {
	s := Start(t)
	s.AddApp(App{ClientID: app, Roles: []string{"User.Read.All"}})
	az := filepath.Join(s.FakeAzureCLI(t, app), "az")
	out, err := exec.Command(az, "account", "get-access-token", "-o", "json", "--resource", s.URL).Output()
	var v struct {
		AccessToken string `json:"accessToken"`
	}
	if err != nil || json.Unmarshal(out, &v) != nil || v.AccessToken == "" {
		t.Fatalf("az: %v %s", err, out)
	}
	if err := exec.Command(az, "account", "get-access-token", "--resource", "https://graph.microsoft.com").Run(); err == nil {
		t.Error("az gave a token for another resource")
	}
}
