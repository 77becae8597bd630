package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/config"
)

const testToken = "test-token-0123456789abcdef0123456789"

// startGateway runs a real gateway on a loopback port with its store in a
// temporary directory and returns its SCIM base URL.
func startGateway(t *testing.T, mutate func(*config.Config)) string {
	t.Helper()
	return startGatewayWith(t, mutate)
}

func startGatewayWith(t testing.TB, mutate func(*config.Config)) string {
	t.Helper()
	return runGateway(t, mutate).BaseURL()
}

// runGateway is startGatewayWith, returning the gateway itself.
func runGateway(t testing.TB, mutate func(*config.Config)) *Gateway {
	t.Helper()
	cfg := config.Defaults()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.Auth.Tokens = []config.Secret{testToken}
	if mutate != nil {
		mutate(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g, err := New(ctx, cfg, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		cancel()
		t.Fatalf("gateway.New: %v", err)
	}
	serveUntilCleanup(t, ctx, cancel, g)
	return g
}

// serveUntilCleanup runs g until the test ends, then shuts it down and
// fails the test if the shutdown was not clean.
func serveUntilCleanup(t testing.TB, ctx context.Context, cancel context.CancelFunc, g *Gateway) {
	done := make(chan error, 1)
	go func() { done <- g.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
}

// client talks SCIM to the gateway the way Entra's provisioning service does.
type client struct {
	t    *testing.T
	base string
}

type reply struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

// do sends a request; header holds extra header name, value pairs.
func (c client) do(method, path string, body any, header ...string) reply {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		switch b := body.(type) {
		case string:
			rd = strings.NewReader(b)
		default:
			raw, err := json.Marshal(b)
			if err != nil {
				c.t.Fatal(err)
			}
			rd = bytes.NewReader(raw)
		}
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/scim+json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			c.t.Fatalf("%s %s: body is not a JSON object: %v\n%s", method, path, err, raw)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/scim+json" {
			c.t.Errorf("%s %s: Content-Type %q, want application/scim+json", method, path, ct)
		}
	}
	return r
}

// must checks the status and returns the reply.
func (c client) must(status int, method, path string, body any) reply {
	c.t.Helper()
	r := c.do(method, path, body)
	if r.status != status {
		c.t.Fatalf("%s %s: status %d, want %d\n%s", method, path, r.status, status, r.raw)
	}
	return r
}

func filterPath(endpoint, filter string, extra ...string) string {
	q := url.Values{"filter": {filter}}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	return endpoint + "?" + q.Encode()
}

// total runs a filter query and returns totalResults, checking the
// ListResponse shape Entra relies on.
func (c client) total(endpoint, filter string, extra ...string) (int, reply) {
	c.t.Helper()
	r := c.must(200, "GET", filterPath(endpoint, filter, extra...), nil)
	res, ok := r.body["Resources"].([]any)
	if !ok {
		c.t.Fatalf("filter %q: Resources is %#v, want a JSON array\n%s", filter, r.body["Resources"], r.raw)
	}
	n := int(r.body["totalResults"].(float64))
	if n < len(res) {
		c.t.Fatalf("filter %q: totalResults %d < %d resources", filter, n, len(res))
	}
	return n, r
}

func patchOps(ops ...map[string]any) map[string]any {
	list := make([]any, len(ops))
	for i, o := range ops {
		list[i] = o
	}
	return map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}, "Operations": list}
}

func op(op, path string, value any) map[string]any {
	m := map[string]any{"op": op}
	if path != "" {
		m["path"] = path
	}
	if value != nil {
		m["value"] = value
	}
	return m
}

const enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

func entraUser(userName, externalID string) map[string]any {
	return map[string]any{
		"schemas":      []string{"urn:ietf:params:scim:schemas:core:2.0:User", enterprise},
		"externalId":   externalID,
		"userName":     userName,
		"active":       "True",
		"emails":       []any{map[string]any{"primary": true, "type": "work", "value": userName}},
		"meta":         map[string]any{"resourceType": "User"},
		"name":         map[string]any{"formatted": "Given Family", "familyName": "Family", "givenName": "Given"},
		"roles":        []any{},
		"phoneNumbers": nil,
		enterprise:     map[string]any{"department": "Sales", "employeeNumber": "42"},
	}
}

func get(m map[string]any, path ...string) any {
	var v any = m
	for _, p := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[p]
	}
	return v
}

// TestEntraFlows replays the request flows Microsoft documents for Entra ID's
// provisioning service against a real gateway over HTTP.
func TestEntraFlows(t *testing.T) {
	c := client{t: t, base: startGateway(t, nil)}

	t.Run("test connection: random GUID query is an empty ListResponse", func(t *testing.T) {
		c := client{t: t, base: c.base}
		n, r := c.total("/Users", `userName eq "8646d011-1693-4cd3-9ee6-0d7482ca2219"`)
		if n != 0 || !strings.Contains(r.raw, `"Resources":[]`) {
			t.Fatalf("want totalResults 0 and \"Resources\":[], got %s", r.raw)
		}
		if n, _ := c.total("/Groups", `displayName eq "8646d011-1693-4cd3-9ee6-0d7482ca2219"`, "excludedAttributes", "members"); n != 0 {
			t.Fatalf("groups: totalResults %d", n)
		}
	})

	// Match, then create.
	if n, _ := c.total("/Users", `userName eq "Test_User_1@contoso.com"`); n != 0 {
		t.Fatalf("before create: %d matches", n)
	}
	created := c.must(201, "POST", "/Users", entraUser("Test_User_1@contoso.com", "ext-1"))
	uid, _ := created.body["id"].(string)
	if uid == "" {
		t.Fatalf("no id: %s", created.raw)
	}
	if loc := created.header.Get("Location"); loc == "" || loc != get(created.body, "meta", "location") {
		t.Fatalf("Location %q, meta.location %v", loc, get(created.body, "meta", "location"))
	}
	if created.body["active"] != true {
		t.Fatalf("active %#v, want JSON true", created.body["active"])
	}
	if get(created.body, enterprise, "department") != "Sales" {
		t.Fatalf("enterprise extension not stored: %s", created.raw)
	}
	mgr := c.must(201, "POST", "/Users", entraUser("manager@contoso.com", "ext-m"))
	mid := mgr.body["id"].(string)

	t.Run("match queries", func(t *testing.T) {
		c := client{t: t, base: c.base}
		for _, f := range []string{
			`userName eq "Test_User_1@contoso.com"`,
			`userName eq "TEST_USER_1@CONTOSO.COM"`,
			`externalId eq "ext-1"`,
			`externalId eq ext-1`,
			`emails[type eq "work"].value eq "Test_User_1@contoso.com"`,
			`id eq "` + uid + `"`,
		} {
			if n, r := c.total("/Users", f); n != 1 {
				t.Errorf("%s: %d matches\n%s", f, n, r.raw)
			}
		}
		if n, _ := c.total("/Users", `externalId eq "EXT-1"`); n != 0 {
			t.Errorf("externalId is caseExact, but a different case matched")
		}
	})

	t.Run("duplicate userName in another case is 409 uniqueness", func(t *testing.T) {
		c := client{t: t, base: c.base}
		r := c.must(409, "POST", "/Users", entraUser("test_user_1@CONTOSO.com", "ext-dup"))
		if r.body["scimType"] != "uniqueness" {
			t.Fatalf("scimType %v", r.body["scimType"])
		}
	})

	patchUser := func(t *testing.T, body any) map[string]any {
		t.Helper()
		r := client{t: t, base: c.base}.do("PATCH", "/Users/"+uid, body)
		if r.status != 200 && r.status != 204 {
			t.Fatalf("PATCH: status %d\n%s", r.status, r.raw)
		}
		return client{t: t, base: c.base}.must(200, "GET", "/Users/"+uid, nil).body
	}

	t.Run("patch: one op per attribute (default job)", func(t *testing.T) {
		u := patchUser(t, patchOps(
			op("Replace", `emails[type eq "work"].value`, "updated@contoso.com"),
			op("Replace", "name.familyName", "NewFamily"),
			op("Replace", enterprise+":department", "Marketing"),
			op("Add", "nickName", "Babs"),
		))
		emails := u["emails"].([]any)
		if len(emails) != 1 || get(emails[0].(map[string]any), "value") != "updated@contoso.com" {
			t.Fatalf("emails %v", u["emails"])
		}
		if get(u, "name", "familyName") != "NewFamily" || get(u, "name", "givenName") != "Given" ||
			get(u, enterprise, "department") != "Marketing" || u["nickName"] != "Babs" {
			t.Fatalf("user after patch: %v", u)
		}
	})

	t.Run("patch: single op without path, dotted and URN keys (aadOptscim062020)", func(t *testing.T) {
		u := patchUser(t, patchOps(op("replace", "", map[string]any{
			"displayName":                  "Display",
			"name.givenName":               "G2",
			"name.familyName":              "F2",
			enterprise + ":employeeNumber": "777",
			"externalId":                   "ext-1",
		})))
		if u["displayName"] != "Display" || get(u, "name", "givenName") != "G2" || get(u, "name", "familyName") != "F2" ||
			get(u, enterprise, "employeeNumber") != "777" || get(u, enterprise, "department") != "Marketing" {
			t.Fatalf("user after patch: %v", u)
		}
	})

	t.Run("patch: RFC nested objects", func(t *testing.T) {
		u := patchUser(t, patchOps(op("replace", "", map[string]any{
			"name":     map[string]any{"givenName": "G3"},
			enterprise: map[string]any{"costCenter": "CC1"},
		})))
		if get(u, "name", "givenName") != "G3" || get(u, "name", "familyName") != "F2" || get(u, enterprise, "costCenter") != "CC1" {
			t.Fatalf("user after patch: %v", u)
		}
	})

	t.Run("disable with string False, still returned, enable with True", func(t *testing.T) {
		c := client{t: t, base: c.base}
		u := patchUser(t, patchOps(op("Replace", "active", "False")))
		if u["active"] != false {
			t.Fatalf("active %#v, want JSON false", u["active"])
		}
		if n, _ := c.total("/Users", `userName eq "Test_User_1@contoso.com"`); n != 1 {
			t.Fatal("disabled user not returned by a query")
		}
		if n, _ := c.total("/Users", `active eq false and userName eq "Test_User_1@contoso.com"`); n != 1 {
			t.Fatal("active eq false does not find the disabled user")
		}
		u = patchUser(t, patchOps(op("replace", "active", true)))
		if u["active"] != true {
			t.Fatalf("active %#v after enabling", u["active"])
		}
		u = patchUser(t, patchOps(op("Replace", "active", "false")))
		if u["active"] != false {
			t.Fatalf("active %#v after disabling with \"false\", want JSON false", u["active"])
		}
		u = patchUser(t, patchOps(op("Replace", "active", "True")))
		if u["active"] != true {
			t.Fatalf("active %#v after enabling with \"True\"", u["active"])
		}
	})

	t.Run("manager: every shape, check query, clear", func(t *testing.T) {
		c := client{t: t, base: c.base}
		check := fmt.Sprintf(`id eq "%s" and manager eq "%s"`, uid, mid)
		shapes := []struct {
			name string
			body any
		}{
			{"string", patchOps(op("Add", "manager", mid))},
			{"object", patchOps(op("add", enterprise+":manager", map[string]any{"value": mid}))},
			{"array with $ref", patchOps(op("Add", "manager", []any{map[string]any{"value": mid, "$ref": c.base + "/Users/" + mid}}))},
		}
		clears := []any{
			patchOps(op("remove", enterprise+":manager", nil)),
			patchOps(op("replace", enterprise+":manager", map[string]any{"value": ""})),
			patchOps(op("Replace", "manager", "")),
		}
		for i, s := range shapes {
			u := patchUser(t, s.body)
			if get(u, enterprise, "manager", "value") != mid {
				t.Fatalf("%s: manager %v", s.name, get(u, enterprise, "manager"))
			}
			if n, _ := c.total("/Users", check); n != 1 {
				t.Fatalf("%s: manager check found %d", s.name, n)
			}
			u = patchUser(t, clears[i])
			if get(u, enterprise, "manager") != nil {
				t.Fatalf("clear %d: manager still %v", i, get(u, enterprise, "manager"))
			}
			if n, _ := c.total("/Users", check); n != 0 {
				t.Fatalf("clear %d: manager check still finds %d", i, n)
			}
		}
	})

	t.Run("roles: value is a JSON object inside a string", func(t *testing.T) {
		u := patchUser(t, patchOps(op("Add", "roles", []any{map[string]any{
			"value": `{"id":"06b07648-ecfe-589f-9d2f-6325724a46ee","value":"25","displayName":"Role1234"}`}})))
		roles, _ := u["roles"].([]any)
		if len(roles) != 1 || get(roles[0].(map[string]any), "value") != "25" {
			t.Fatalf("roles %v", u["roles"])
		}
	})

	// Groups.
	var gid string
	t.Run("groups: create, lookup without members, membership", func(t *testing.T) {
		c := client{t: t, base: c.base}
		g := c.must(201, "POST", "/Groups", map[string]any{
			"schemas":     []string{"urn:ietf:params:scim:schemas:core:2.0:Group", "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"},
			"externalId":  "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
			"displayName": "Sales Team",
			"meta":        map[string]any{"resourceType": "Group"},
		})
		gid = g.body["id"].(string)
		c.must(409, "POST", "/Groups", map[string]any{"displayName": "SALES team"})
		c.must(204, "PATCH", "/Groups/"+gid, patchOps(op("Add", "members", []any{
			map[string]any{"$ref": nil, "value": uid}, map[string]any{"$ref": nil, "value": mid}})))
		c.must(204, "PATCH", "/Groups/"+gid, patchOps(op("Add", "members", []any{map[string]any{"value": uid}})))
		n, r := c.total("/Groups", `displayName eq "Sales Team"`, "excludedAttributes", "members")
		if n != 1 || strings.Contains(r.raw, `"members"`) {
			t.Fatalf("lookup with excludedAttributes=members: %s", r.raw)
		}
		one := c.must(200, "GET", "/Groups/"+gid+"?excludedAttributes=members", nil)
		if _, ok := one.body["members"]; ok {
			t.Fatalf("GET ?excludedAttributes=members returned members")
		}
		full := c.must(200, "GET", "/Groups/"+gid, nil)
		if m, _ := full.body["members"].([]any); len(m) != 2 {
			t.Fatalf("members %v, want 2 (adding an existing member is a no-op)", full.body["members"])
		}
		ug := c.must(200, "GET", "/Users/"+uid, nil)
		if gs, _ := ug.body["groups"].([]any); len(gs) != 1 || get(gs[0].(map[string]any), "value") != gid ||
			get(gs[0].(map[string]any), "display") != "Sales Team" {
			t.Fatalf("user's read-only groups attribute: %v", ug.body["groups"])
		}
		if ug := c.must(200, "GET", "/Users/"+uid+"?excludedAttributes=groups", nil); ug.body["groups"] != nil {
			t.Fatalf("excludedAttributes=groups still returned groups")
		}
		member := func(u string) int {
			n, _ := c.total("/Groups", fmt.Sprintf(`id eq "%s" and members eq "%s"`, gid, u), "excludedAttributes", "members")
			return n
		}
		if member(uid) != 1 || member(mid) != 1 || member("00000000-0000-0000-0000-000000000000") != 0 {
			t.Fatal("membership check wrong")
		}
		// Default job: Remove with a value array.
		c.must(204, "PATCH", "/Groups/"+gid, patchOps(op("Remove", "members", []any{map[string]any{"value": mid}})))
		if member(mid) != 0 || member(uid) != 1 {
			t.Fatal("remove with value array")
		}
		// aadOptscim062020: remove with a valuePath filter.
		c.must(204, "PATCH", "/Groups/"+gid, patchOps(op("remove", fmt.Sprintf(`members[value eq "%s"]`, uid), nil)))
		if member(uid) != 0 {
			t.Fatal("remove with members[value eq] path")
		}
		// Removing an absent member again is not an error.
		c.must(204, "PATCH", "/Groups/"+gid, patchOps(op("remove", fmt.Sprintf(`members[value eq "%s"]`, uid), nil)))
		c.must(204, "PATCH", "/Groups/"+gid, patchOps(op("Add", "members", []any{map[string]any{"value": uid}, map[string]any{"value": mid}})))
		c.must(204, "PATCH", "/Groups/"+gid, patchOps(op("remove", "members", nil)))
		if member(uid) != 0 || member(mid) != 0 {
			t.Fatal("remove members without value must clear the group")
		}
		c.must(204, "PATCH", "/Groups/"+gid, patchOps(op("Replace", "displayName", "Sales Team Renamed")))
		if n, _ := c.total("/Groups", `displayName eq "sales team renamed"`); n != 1 {
			t.Fatal("rename not visible")
		}
		c.must(204, "PATCH", "/Groups/"+gid, patchOps(op("Add", "members", []any{map[string]any{"value": uid}})))
	})

	t.Run("delete user drops its memberships; unknown id is a SCIM 404", func(t *testing.T) {
		c := client{t: t, base: c.base}
		c.must(204, "DELETE", "/Users/"+uid, nil)
		r := c.must(404, "GET", "/Users/"+uid, nil)
		if schemas, _ := r.body["schemas"].([]any); len(schemas) != 1 || schemas[0] != "urn:ietf:params:scim:api:messages:2.0:Error" || r.body["status"] != "404" {
			t.Fatalf("404 body: %s", r.raw)
		}
		g := c.must(200, "GET", "/Groups/"+gid, nil)
		if _, ok := g.body["members"]; ok {
			t.Fatalf("deleted user still a member: %s", g.raw)
		}
		c.must(404, "PATCH", "/Users/"+uid, patchOps(op("Replace", "active", false)))
		c.must(404, "DELETE", "/Users/"+uid, nil)
		c.must(204, "DELETE", "/Groups/"+gid, nil)
	})
}

// TestAuthentication: missing or wrong credentials get a 401 SCIM error.
func TestAuthentication(t *testing.T) {
	base := startGateway(t, func(c *config.Config) { c.Auth.Tokens = append(c.Auth.Tokens, "second-rotated-token-0123456789abcdef") })
	for _, tc := range []struct {
		name   string
		header string
		want   int
	}{
		{"no header", "", 401},
		{"wrong token", "Bearer nope", 401},
		{"basic scheme", "Basic dXNlcjpwYXNz", 401},
		{"first token", "Bearer " + testToken, 200},
		{"rotated token", "Bearer second-rotated-token-0123456789abcdef", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", base+"/Users?count=1", nil)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.want, body)
			}
			if tc.want == 401 && !strings.Contains(string(body), "urn:ietf:params:scim:api:messages:2.0:Error") {
				t.Fatalf("401 without a SCIM error body: %s", body)
			}
		})
	}
}

// TestHealthz: /healthz answers 200 once the gateway takes requests.
func TestHealthz(t *testing.T) {
	base := startGateway(t, nil)
	root := strings.TrimSuffix(base, "/scim/v2")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", root+"/healthz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("healthz %d", resp.StatusCode)
	}
}
