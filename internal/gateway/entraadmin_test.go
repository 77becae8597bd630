package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/config"
	"github.com/scimgate/scimgate/internal/entra"
	"github.com/scimgate/scimgate/internal/graphtest"
)

const (
	entraClientID = "11111111-2222-4333-8444-555555555555"
	entraSecret   = "entra-s3cret-value-never-shown-0123456789"
	aliceID       = "a11ce000-0000-4000-8000-000000000001"
	bobID         = "b0b00000-0000-4000-8000-000000000002"
	staffID       = "57aff000-0000-4000-8000-000000000003"
	dynID         = "d1000000-0000-4000-8000-000000000004"
	guestUPN      = "carol_fabrikam.example#EXT#@contoso.example"
)

var entraAllRoles = []string{"User.Read.All", "GroupMember.ReadWrite.All", "User.EnableDisableAccount.All",
	"User.ReadWrite.All", "User.RevokeSessions.All"}

// entraTenant starts a fake tenant: alice (in staff), bob, a guest, the
// group staff and a dynamic group; the app has roles.
func entraTenant(t *testing.T, roles ...string) *graphtest.Server {
	t.Helper()
	s := graphtest.Start(t)
	s.AddApp(graphtest.App{ClientID: entraClientID, Secret: entraSecret, Roles: roles})
	created := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	s.AddUser(graphtest.User{ID: aliceID, UserPrincipalName: "alice@contoso.example", DisplayName: "Alice Adams", GivenName: "Alice",
		Surname: "Adams", Mail: "alice@contoso.example", JobTitle: "Engineer", Department: "R&D", AccountEnabled: true, CreatedDateTime: created})
	s.AddUser(graphtest.User{ID: bobID, UserPrincipalName: "bob@contoso.example", DisplayName: "Bob Brown", AccountEnabled: true, CreatedDateTime: created})
	s.AddUser(graphtest.User{UserPrincipalName: guestUPN, DisplayName: "Carol (guest)", Mail: "carol@fabrikam.example",
		UserType: "Guest", ExternalUserState: "Accepted", AccountEnabled: true, CreatedDateTime: created})
	s.AddGroup(graphtest.Group{ID: staffID, DisplayName: "Staff", SecurityEnabled: true, Members: []string{aliceID}, Owners: []string{aliceID}})
	s.AddGroup(graphtest.Group{ID: dynID, DisplayName: "All R&D", SecurityEnabled: true, GroupTypes: []string{"DynamicMembership"},
		MembershipRule: `(user.department -eq "R&D")`})
	return s
}

// entraGateway runs a gateway whose entra section names the fake tenant
// with features, and returns its admin API base URL.
func entraGateway(t *testing.T, s *graphtest.Server, features entra.Features, log io.Writer) string {
	t.Helper()
	t.Setenv("GATEWAY_TEST_ENTRA_SECRET", entraSecret)
	cfg := config.Defaults()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.Auth.Tokens = []config.Secret{testToken}
	cfg.Admin.Tokens = []config.Secret{adminToken}
	if s != nil {
		cfg.Entra = &entra.Config{Credential: entra.CredentialClientSecret, TenantID: graphtest.TenantID, ClientID: entraClientID,
			ClientSecretEnv: "GATEWAY_TEST_ENTRA_SECRET", AuthorityHost: s.AuthorityHost, GraphURL: s.GraphURL,
			RetryBudget: 10 * time.Second, Features: features}
	}
	var hk hooks
	if s != nil {
		clk := &graphtest.Clock{}
		hk.entra = entra.Options{Transport: s.Transport(), Now: clk.Now, After: clk.After}
	}
	if log == nil {
		log = io.Discard
	}
	ctx, cancel := context.WithCancel(context.Background())
	g, err := newGatewayWith(ctx, cfg, nil, slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug})), hk)
	if err != nil {
		cancel()
		t.Fatalf("gateway: %v", err)
	}
	serveUntilCleanup(t, ctx, cancel, g)
	return strings.TrimSuffix(g.BaseURL(), "/scim/v2")
}

// adminDo sends a request to the admin API and returns its status,
// Retry-After and JSON answer.
func adminDo(t *testing.T, base, method, path, body string) (int, string, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, base+"/admin/v1"+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s %s: %d, not a JSON object: %s", method, path, resp.StatusCode, b)
	}
	return resp.StatusCode, resp.Header.Get("Retry-After"), m
}

// TestEntraAdminAPI calls every Entra action of the admin API against a
// real gateway and the fake tenant over TLS: lookups (an id, a UPN, a
// guest's #EXT# UPN), member changes and their repeats, a dynamic group,
// disable/enable/revoke/delete, the check, throttling; then the audit
// log holds every change with the admin credential that asked and its
// outcome, and no lookup.
func TestEntraAdminAPI(t *testing.T) {
	s := entraTenant(t, entraAllRoles...)
	var logs syncBuffer
	base := entraGateway(t, s, entra.Features{Membership: true, EnableDisable: true, DeleteUsers: true, RevokeSessions: true}, &logs)
	guest, _ := s.User(guestUPN)

	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		want                     map[string]any // fields of the answer
		errHas                   []string       // in the error message
	}{
		{name: "user by id", method: "GET", path: "/entra/users/" + aliceID, status: 200,
			want: map[string]any{"id": aliceID, "displayName": "Alice Adams", "department": "R&D", "accountEnabled": true}},
		{name: "user by UPN", method: "GET", path: "/entra/users/alice@contoso.example", status: 200, want: map[string]any{"id": aliceID}},
		{name: "guest by #EXT# UPN", method: "GET", path: "/entra/users/" + url.PathEscape(guestUPN), status: 200,
			want: map[string]any{"id": guest.ID, "userType": "Guest", "externalUserState": "Accepted"}},
		{name: "unknown user", method: "GET", path: "/entra/users/nobody@contoso.example", status: 404, errHas: []string{"look up user: not found"}},
		{name: "group", method: "GET", path: "/entra/groups/" + staffID, status: 200,
			want: map[string]any{"id": staffID, "displayName": "Staff", "memberCount": float64(1)}},
		{name: "group id not a GUID", method: "GET", path: "/entra/groups/staff", status: 400, errHas: []string{`group id "staff" is not an object id`}},
		{name: "add bob by UPN", method: "POST", path: "/entra/groups/" + staffID + "/members", body: `{"user": "bob@contoso.example"}`, status: 200,
			want: map[string]any{"group": staffID, "user": bobID, "userPrincipalName": "bob@contoso.example", "member": true, "changed": true}},
		{name: "add bob again: already a member", method: "POST", path: "/entra/groups/" + staffID + "/members", body: `{"user": "` + bobID + `"}`, status: 200,
			want: map[string]any{"user": bobID, "member": true, "changed": false}},
		{name: "remove bob", method: "DELETE", path: "/entra/groups/" + staffID + "/members/" + bobID, status: 200,
			want: map[string]any{"user": bobID, "member": false, "changed": true}},
		{name: "remove bob again: not a member", method: "DELETE", path: "/entra/groups/" + staffID + "/members/bob@contoso.example", status: 200,
			want: map[string]any{"user": bobID, "member": false, "changed": false}},
		{name: "dynamic group", method: "POST", path: "/entra/groups/" + dynID + "/members", body: `{"user": "` + bobID + `"}`, status: 409,
			errHas: []string{"dynamic group", `membershipRule "(user.department -eq \"R&D\")"`}},
		{name: "body without user", method: "POST", path: "/entra/groups/" + staffID + "/members", body: `{"member": "x"}`, status: 400,
			errHas: []string{`the body must be {"user": "<object id or userPrincipalName>"}`}},
		{name: "add an unknown user", method: "POST", path: "/entra/groups/" + staffID + "/members", body: `{"user": "nobody@contoso.example"}`, status: 404,
			errHas: []string{"look up user: not found"}},
		{name: "disable alice", method: "POST", path: "/entra/users/alice@contoso.example/disable", status: 200,
			want: map[string]any{"user": aliceID, "action": "disable"}},
		{name: "enable alice", method: "POST", path: "/entra/users/" + aliceID + "/enable", status: 200, want: map[string]any{"action": "enable"}},
		{name: "revoke alice's sessions", method: "POST", path: "/entra/users/" + aliceID + "/revoke", status: 200, want: map[string]any{"action": "revoke sessions"}},
		{name: "delete the guest", method: "DELETE", path: "/entra/users/" + url.PathEscape(guestUPN), status: 200,
			want: map[string]any{"user": guest.ID, "userPrincipalName": guestUPN, "action": "delete"}},
		{name: "check", method: "GET", path: "/entra/check", status: 200, want: map[string]any{"tenantId": graphtest.TenantID, "appId": entraClientID}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, _, m := adminDo(t, base, tc.method, tc.path, tc.body)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %v", status, tc.status, m)
			}
			for k, v := range tc.want {
				if m[k] != v {
					t.Errorf("%s = %#v, want %#v (answer %v)", k, m[k], v, m)
				}
			}
			msg, _ := m["error"].(string)
			for _, want := range tc.errHas {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q lacks %q", msg, want)
				}
			}
		})
	}
	if u, _ := s.User(aliceID); !u.AccountEnabled || u.SessionsRevoked != 1 {
		t.Errorf("alice after disable, enable, revoke: %+v", u)
	}
	if !s.Deleted(guest.ID) {
		t.Errorf("the guest is not deleted")
	}
	if g, _ := s.Group(staffID); len(g.Members) != 1 {
		t.Errorf("staff members %v, want alice only", g.Members)
	}
	if n := s.Count("PATCH", "/v1.0/users/"+aliceID); n != 2 { // disable (by UPN: looked up first, then by id), enable
		t.Errorf("%d PATCH of alice, want 2", n)
	}

	t.Run("throttled: 503 with Retry-After", func(t *testing.T) {
		s.Throttle(100, 4*time.Second)
		status, retry, m := adminDo(t, base, "POST", "/entra/users/"+bobID+"/disable", "")
		if status != 503 || retry != "4" || !strings.Contains(m["error"].(string), "throttled") {
			t.Errorf("%d, Retry-After %q: %v", status, retry, m)
		}
	})

	// The audit log: every change, newest first, with who asked.
	_, _, page := adminDo(t, base, "GET", "/audit?limit=100", "")
	var got []string
	for _, e := range page["entries"].([]any) {
		e := e.(map[string]any)
		got = append(got, strings.Join([]string{e["actor"].(string), e["action"].(string), e["type"].(string), e["id"].(string),
			e["result"].(string), str(e["detail"])}, " | "))
	}
	want := []string{
		"admin: static token #1 | entra disable user | EntraUser | " + bobID + " | failed | entra: disable user: throttled by Microsoft Graph",
		"admin: static token #1 | entra delete user | EntraUser | " + guest.ID + " | ok | " + guestUPN,
		"admin: static token #1 | entra revoke sessions user | EntraUser | " + aliceID + " | ok | ",
		"admin: static token #1 | entra enable user | EntraUser | " + aliceID + " | ok | ",
		"admin: static token #1 | entra disable user | EntraUser | " + aliceID + " | ok | alice@contoso.example",
		"admin: static token #1 | entra add member | EntraGroup | " + staffID + ` | failed | member "nobody@contoso.example": entra: look up user: not found`,
		"admin: static token #1 | entra add member | EntraGroup | " + dynID + " | failed | member " + bobID + ": entra: add member: dynamic group",
		"admin: static token #1 | entra remove member | EntraGroup | " + staffID + " | ok | member " + bobID + " (bob@contoso.example): not a member, nothing changed",
		"admin: static token #1 | entra remove member | EntraGroup | " + staffID + " | ok | member " + bobID + ": removed",
		"admin: static token #1 | entra add member | EntraGroup | " + staffID + " | ok | member " + bobID + ": already a member, nothing changed",
		"admin: static token #1 | entra add member | EntraGroup | " + staffID + " | ok | member " + bobID + " (bob@contoso.example): added",
	}
	if len(got) != len(want) {
		t.Fatalf("audit log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("audit entry %d:\n got %s\nwant %s...", i, got[i], want[i])
		}
	}
	if strings.Contains(logs.String(), entraSecret) || strings.Contains(strings.Join(got, "\n"), entraSecret) {
		t.Errorf("the client secret is in the log or the audit log")
	}
	if !strings.Contains(logs.String(), "entra actions enabled") || !strings.Contains(logs.String(), "client_secret_env=GATEWAY_TEST_ENTRA_SECRET") {
		t.Errorf("the startup log does not name the entra configuration:\n%s", logs.String())
	}
}

func str(v any) string { s, _ := v.(string); return s }

// syncBuffer is a bytes.Buffer safe for the gateway's concurrent logging.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestEntraAdminAPIRefusals: a missing permission is a 403 naming it
// (audited as failed), a feature not enabled a 403 naming the setting,
// and the check lists what is missing.
func TestEntraAdminAPIRefusals(t *testing.T) {
	s := entraTenant(t, "User.Read.All", "GroupMember.Read.All")
	base := entraGateway(t, s, entra.Features{Membership: true}, nil)

	status, _, m := adminDo(t, base, "POST", "/entra/groups/"+staffID+"/members", `{"user": "`+bobID+`"}`)
	if msg := str(m["error"]); status != 403 || !strings.Contains(msg, "permission missing: the app needs the application permission(s) GroupMember.ReadWrite.All") {
		t.Errorf("add member without GroupMember.ReadWrite.All: %d %v", status, m)
	}
	status, _, m = adminDo(t, base, "POST", "/entra/users/"+bobID+"/disable", "")
	if msg := str(m["error"]); status != 403 || !strings.Contains(msg, "not enabled in the configuration: set features.enable_disable") ||
		!strings.Contains(msg, "entra section") {
		t.Errorf("disable without the feature: %d %v", status, m)
	}
	status, _, m = adminDo(t, base, "GET", "/entra/check", "")
	if status != 200 {
		t.Fatalf("check: %d %v", status, m)
	}
	var missing []string
	for _, p := range m["permissions"].([]any) {
		if p := p.(map[string]any); p["granted"] != true {
			missing = append(missing, p["name"].(string))
		}
	}
	if strings.Join(missing, ",") != "GroupMember.ReadWrite.All" {
		t.Errorf("check: missing %v: %v", missing, m)
	}
	_, _, page := adminDo(t, base, "GET", "/audit", "")
	entries := page["entries"].([]any)
	if len(entries) != 2 {
		t.Fatalf("audit: %v", entries)
	}
	if e := entries[1].(map[string]any); e["result"] != "failed" || e["actor"] != "admin: static token #1" ||
		!strings.Contains(str(e["detail"]), "GroupMember.ReadWrite.All") {
		t.Errorf("audit entry of the refused add: %v", e)
	}
}

// TestEntraAdminAPIWithoutSection: without an entra section every Entra
// call answers 404 saying so, and nothing is audited.
func TestEntraAdminAPIWithoutSection(t *testing.T) {
	base := entraGateway(t, nil, entra.Features{}, nil)
	for _, c := range [][3]string{
		{"GET", "/entra/users/alice@contoso.example", ""},
		{"GET", "/entra/groups/" + staffID, ""},
		{"POST", "/entra/groups/" + staffID + "/members", `{"user": "` + bobID + `"}`},
		{"DELETE", "/entra/groups/" + staffID + "/members/" + bobID, ""},
		{"POST", "/entra/users/" + bobID + "/disable", ""},
		{"POST", "/entra/users/" + bobID + "/enable", ""},
		{"POST", "/entra/users/" + bobID + "/revoke", ""},
		{"DELETE", "/entra/users/" + bobID, ""},
		{"GET", "/entra/check", ""},
	} {
		status, _, m := adminDo(t, base, c[0], c[1], c[2])
		if status != 404 || !strings.HasPrefix(str(m["error"]), "no entra section in the configuration") {
			t.Errorf("%s %s: %d %v", c[0], c[1], status, m)
		}
	}
	if _, _, page := adminDo(t, base, "GET", "/audit", ""); len(page["entries"].([]any)) != 0 {
		t.Errorf("audit: %v", page)
	}
}

// TestEntraStatus maps each kind of entra error once.
func TestEntraStatus(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		status int
		retry  time.Duration
	}{
		{"not found", &entra.Error{Op: "x", Kind: entra.ErrNotFound}, 404, 0},
		{"forbidden", &entra.Error{Op: "x", Kind: entra.ErrForbidden, Permission: "P"}, 403, 0},
		{"dynamic", &entra.Error{Op: "x", Kind: entra.ErrDynamicGroup, Status: 400}, 409, 0},
		{"not enabled", &entra.Error{Op: "x", Kind: entra.ErrNotEnabled}, 403, 0},
		{"throttled", &entra.Error{Op: "x", Kind: entra.ErrThrottled, RetryAfter: 7 * time.Second}, 503, 7 * time.Second},
		{"transient without a wait", &entra.Error{Op: "x", Kind: entra.ErrTransient}, 503, entraRetryAfter},
		{"authentication", &entra.Error{Op: "x", Kind: entra.ErrAuthentication}, 502, 0},
		{"invalid", &entra.Error{Op: "x", Kind: entra.ErrInvalid}, 400, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ae := (&adminHandler{}).status(tc.err)
			if ae.status != tc.status || ae.retryAfter != tc.retry || !strings.HasPrefix(ae.msg, "entra: x: ") {
				t.Errorf("status %d retry %v %q, want %d %v", ae.status, ae.retryAfter, ae.msg, tc.status, tc.retry)
			}
		})
	}
}
