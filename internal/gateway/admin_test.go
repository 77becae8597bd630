package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/scimgate/scimgate/internal/config"
	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/memory"
)

// adminToken is the admin API credential of the engine test gateways.
const adminToken = "admin-secret-token-0123456789abcdef"

// adminClient calls the admin API.
type adminClient struct {
	t     *testing.T
	base  string // http://host:port
	token string
}

func (eg *engineGateway) admin(t *testing.T) adminClient {
	return adminClient{t: t, base: strings.TrimSuffix(eg.g.BaseURL(), "/scim/v2"), token: adminToken}
}

// call sends a request to /admin/v1+path and decodes the JSON answer into
// a map; it fails the test unless the status is want.
func (a adminClient) call(want int, method, path string) map[string]any {
	a.t.Helper()
	status, body := a.do(method, path, a.token)
	if status != want {
		a.t.Fatalf("%s %s: status %d, want %d\n%s", method, path, status, want, body)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		a.t.Fatalf("%s %s: body is not a JSON object: %v\n%s", method, path, err, body)
	}
	return m
}

func (a adminClient) do(method, path, token string) (int, []byte) {
	a.t.Helper()
	req, err := http.NewRequest(method, a.base+"/admin/v1"+path, nil)
	if err != nil {
		a.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		a.t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	return resp.StatusCode, body
}

// list returns the list under key of a call's answer.
func list(m map[string]any, key string) []map[string]any {
	var out []map[string]any
	for _, v := range m[key].([]any) {
		out = append(out, v.(map[string]any))
	}
	return out
}

// TestAdminCredentials: the admin API takes only admin tokens, SCIM only
// SCIM tokens; without configured admin tokens the gateway generates one.
func TestAdminCredentials(t *testing.T) {
	eg := startEngineGateway(t, crmTarget)
	a := eg.admin(t)
	for _, tc := range []struct {
		name, token string
		want        int
	}{
		{"no token", "", 401},
		{"the SCIM token", testToken, 401},
		{"a wrong token", "nope", 401},
		{"the admin token", adminToken, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := a.do("GET", "/targets", tc.token)
			if status != tc.want {
				t.Fatalf("status %d, want %d: %s", status, tc.want, body)
			}
			if status == 401 && !bytes.Contains(body, []byte(`"error": "an admin token is required`)) {
				t.Errorf("401 body %s", body)
			}
		})
	}
	t.Run("admin token on SCIM", func(t *testing.T) {
		req, _ := http.NewRequest("GET", eg.g.BaseURL()+"/Users", nil)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Errorf("SCIM with the admin token: %d", resp.StatusCode)
		}
	})
}

// TestAdminGeneratedToken: without admin tokens, the gateway writes one to
// <data_dir>/admin-token (0600) and accepts it.
func TestAdminGeneratedToken(t *testing.T) {
	cfg := config.Defaults()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.Auth.Tokens = []config.Secret{testToken}
	ctx, cancel := context.WithCancel(context.Background())
	g, err := New(ctx, cfg, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	serveUntilCleanup(t, ctx, cancel, g)
	path := filepath.Join(cfg.DataDir, AdminTokenFile)
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin token file: %v, %v", fi, err)
	}
	b, _ := os.ReadFile(path)
	if tok := strings.TrimSpace(string(b)); tok != g.GeneratedAdminToken || len(tok) < 32 {
		t.Fatalf("admin token file holds %d characters; generated %d", len(tok), len(g.GeneratedAdminToken))
	}
	a := adminClient{t: t, base: "http://" + g.Addr(), token: g.GeneratedAdminToken}
	// Without targets, the audit log still answers and targets say why not.
	a.call(200, "GET", "/audit")
	if m := a.call(404, "GET", "/targets"); m["error"] != "no targets are configured" {
		t.Errorf("targets without targets: %v", m)
	}
}

// TestAdminDeadLetters: a permanent failure shows as a dead letter in the
// target's status, the dead-letter list and the object's state; a retry
// after the cause is fixed delivers it; the audit log tells the story.
func TestAdminDeadLetters(t *testing.T) {
	eg := startEngineGateway(t, crmTarget)
	c, crm, a := eg.c, eg.conns["crm"], eg.admin(t)
	crm.Inject(memory.Fault{Method: memory.Create, Kind: targets.User, Times: 2, Err: targets.Permanent(errors.New("schema rejects the user"))})
	dave := c.must(201, "POST", "/Users", salesUser("dave@contoso.com")).body["id"].(string)
	erin := c.must(201, "POST", "/Users", salesUser("erin@contoso.com")).body["id"].(string)
	eg.idle(t)

	tgt := a.call(200, "GET", "/targets/crm")
	if tgt["deadLetters"] != 2.0 || tgt["pending"] != 0.0 || tgt["health"] != "unknown" || tgt["type"] != "memory" {
		t.Errorf("target %v", tgt)
	}
	dead := list(a.call(200, "GET", "/targets/crm/deadletters"), "deadLetters")
	if len(dead) == 2 && dead[0]["id"] != dave { // one planner batch orders by id
		dead[0], dead[1] = dead[1], dead[0]
	}
	if len(dead) != 2 || dead[0]["op"] != "create" || dead[0]["id"] != dave || dead[1]["id"] != erin ||
		!strings.Contains(dead[0]["lastError"].(string), "schema rejects") {
		t.Fatalf("dead letters %v", dead)
	}
	if attrs := fmt.Sprint(dead[0]["attrs"]); !strings.Contains(attrs, "password") || strings.Contains(fmt.Sprint(dead[0]), "Clerk") {
		t.Errorf("dead letter shows %v: want attribute names, never values", dead[0])
	}
	obj := a.call(200, "GET", "/Users/"+dave)
	ts := list(obj, "targets")
	if obj["exists"] != true || len(ts) != 1 || len(list(ts[0], "deadLetters")) != 1 || ts[0]["anchor"] != "" ||
		!strings.Contains(ts[0]["lastError"].(string), "schema rejects") {
		t.Errorf("object %v", obj)
	}

	// Retry dave's: delivered. Discard erin's: gone, erin stays out of the target.
	a.call(200, "POST", fmt.Sprintf("/targets/crm/deadletters/%d/retry", int64(dead[0]["seq"].(float64))))
	a.call(200, "DELETE", fmt.Sprintf("/targets/crm/deadletters/%d", int64(dead[1]["seq"].(float64))))
	eg.idle(t)
	if _, ok := object(crm, dave); !ok {
		t.Error("dave not in the target after the retry")
	}
	if _, ok := object(crm, erin); ok {
		t.Error("erin in the target after the discard")
	}
	if n := a.call(200, "GET", "/targets/crm")["deadLetters"]; n != 0.0 {
		t.Errorf("%v dead letters left", n)
	}
	for _, tc := range []struct {
		name, method, path string
		want               int
	}{
		{"retry twice", "POST", fmt.Sprintf("/targets/crm/deadletters/%d/retry", int64(dead[0]["seq"].(float64))), 404},
		{"unknown target", "GET", "/targets/nope/deadletters", 404},
		{"bad seq", "POST", "/targets/crm/deadletters/x/retry", 400},
		{"bad limit", "GET", "/targets/crm/deadletters?limit=0", 400},
		{"unknown object", "GET", "/Users/nope", 404},
		{"unknown kind", "GET", "/Widgets/x", 404},
		{"release without holding", "POST", "/targets/crm/guard/release", 409},
		{"unknown call", "GET", "/nothing/here/at/all", 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := a.call(tc.want, tc.method, tc.path)
			if m["status"] != float64(tc.want) || m["error"] == "" {
				t.Errorf("error body %v", m)
			}
		})
	}

	// The audit log of dave: the SCIM create by the SCIM credential, the
	// engine's dead letter, the admin's retry, the engine's delivery.
	var got []string
	for _, e := range list(a.call(200, "GET", "/audit?id="+dave), "entries") {
		got = append(got, fmt.Sprintf("%v|%v|%v|%v", e["actor"], e["action"], e["target"], e["result"]))
	}
	slices.Reverse(got)
	want := []string{
		"scim: static token #1|create|<nil>|ok",
		"engine|create|crm|dead",
		"admin: static token #1|retry dead letter|crm|ok",
		"engine|create|crm|ok",
	}
	if !slices.Equal(got, want) {
		t.Errorf("audit of dave:\n got %q\nwant %q", got, want)
	}
	page := a.call(200, "GET", "/audit?limit=2")
	if len(list(page, "entries")) != 2 || page["next"] == 0.0 {
		t.Fatalf("first audit page %v", page)
	}
	next := a.call(200, "GET", fmt.Sprintf("/audit?limit=2&before=%d", int64(page["next"].(float64))))
	if e := list(next, "entries"); len(e) != 2 || e[0]["seq"].(float64) >= page["next"].(float64) {
		t.Errorf("second audit page %v", next)
	}
}

// TestAdminResync: the re-sync endpoints reach the engine for the object
// or the target they name, answer how many objects or targets they
// affect, and are audited under the admin's credential; the object
// endpoint shows its state per target. What a re-sync does is tested by
// the engine's scenario lost-object-and-resync.
func TestAdminResync(t *testing.T) {
	eg := startEngineGateway(t, crmTarget)
	c, crm, a := eg.c, eg.conns["crm"], eg.admin(t)
	alice := c.must(201, "POST", "/Users", salesUser("alice@contoso.com")).body["id"].(string)
	bob := c.must(201, "POST", "/Users", salesUser("bob@contoso.com")).body["id"].(string)
	group := c.must(201, "POST", "/Groups", map[string]any{
		"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "Sales",
		"members": []map[string]any{{"value": alice}, {"value": bob}},
	}).body["id"].(string)
	eg.idle(t)

	t.Run("object re-sync repairs a drifted user", func(t *testing.T) {
		o, ok := object(crm, bob)
		if !ok {
			t.Fatal("bob not in the target")
		}
		drift := targets.Op{ID: "behind-the-back", ObjectID: bob, Kind: targets.User, Anchor: o.Anchor, Attrs: map[string]any{"title": "Hacked"}}
		if err := crm.Update(context.Background(), drift); err != nil {
			t.Fatal(err)
		}
		if m := a.call(200, "POST", "/Users/"+bob+"/resync?target=crm"); m["queued"] != 1.0 {
			t.Errorf("resync answer %v", m)
		}
		eg.idle(t)
		if o, _ := object(crm, bob); o.Attrs["title"] != "Clerk" || o.Disabled {
			t.Errorf("bob after re-sync: %+v", o)
		}
	})
	t.Run("target re-sync", func(t *testing.T) {
		if m := a.call(200, "POST", "/targets/crm/resync"); m["queued"] != 3.0 {
			t.Errorf("resync answer %v", m)
		}
		eg.idle(t)
		if n := a.call(200, "GET", "/targets/crm")["deadLetters"]; n != 0.0 {
			t.Errorf("%v dead letters", n)
		}
	})
	t.Run("object state", func(t *testing.T) {
		o, _ := object(crm, group)
		ts := list(a.call(200, "GET", "/Groups/"+group), "targets")
		if len(ts) != 1 || ts[0]["anchor"] != o.Anchor || o.Anchor == "" || ts[0]["present"] != true || ts[0]["inScope"] != true {
			t.Errorf("group state %v (anchor in the target %q)", ts, o.Anchor)
		}
	})
	audit := list(a.call(200, "GET", "/audit?target=crm&limit=1000"), "entries")
	var resyncs int
	for _, e := range audit {
		if e["action"] == "resync" && e["actor"] == "admin: static token #1" {
			resyncs++
		}
	}
	if resyncs != 2 {
		t.Errorf("%d admin resync entries in the audit log, want 2", resyncs)
	}
}

// TestAdminGuard: the deletion guard is released over the admin API.
func TestAdminGuard(t *testing.T) {
	eg := startEngineGateway(t, guardedTarget)
	c, a := eg.c, eg.admin(t)
	ids := eg.createUsers(t, 5)
	for _, id := range ids {
		c.must(204, "DELETE", "/Users/"+id, nil)
	}
	eg.waitHeld(t, "crm", 3)
	if tgt := a.call(200, "GET", "/targets/crm"); tgt["held"] != 3.0 || tgt["guardHolding"] != true {
		t.Errorf("target %v", tgt)
	}
	if held := list(a.call(200, "GET", "/targets/crm/held"), "held"); len(held) != 3 || held[0]["op"] != "delete" {
		t.Errorf("held %v", held)
	}
	if m := a.call(200, "POST", "/targets/crm/guard/release"); m["released"] != 3.0 {
		t.Errorf("release %v", m)
	}
	eg.idle(t)
	if n := len(eg.conns["crm"].Snapshot()); n != 0 {
		t.Errorf("%d objects left after the release", n)
	}
}

// TestAdminNames: wherever the admin API asks for an object id it takes
// the userName (users) or displayName (groups), compared as SCIM compares
// them; an unknown name is a 404 and an ambiguous one a 400, each naming
// it; dead letters, objects and audit entries carry the object's name; the
// audit entry of a SCIM change names the attributes it changed, never a
// value.
func TestAdminNames(t *testing.T) {
	eg := startEngineGateway(t, crmTarget)
	c, crm, a := eg.c, eg.conns["crm"], eg.admin(t)
	u := salesUser("Alice@Contoso.com")
	u["password"] = "hunter2-S3cret"
	alice := c.must(201, "POST", "/Users", u).body["id"].(string)
	group := c.must(201, "POST", "/Groups", map[string]any{
		"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "Sales",
		"members": []map[string]any{{"value": alice}},
	}).body["id"].(string)
	c.must(201, "POST", "/Users", salesUser("Sales")) // a user named like the group
	eg.idle(t)
	crm.Inject(memory.Fault{Method: memory.Create, Kind: targets.User, Times: 1, Err: targets.Permanent(errors.New("schema rejects the user"))})
	dave := c.must(201, "POST", "/Users", salesUser("dave@contoso.com")).body["id"].(string)
	c.must(200, "PATCH", "/Users/"+alice, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []map[string]any{{"op": "Replace", "path": "title", "value": "Manager"}}})
	eg.idle(t)

	for _, tc := range []struct{ path, id, name string }{
		{"/Users/alice@contoso.com", alice, "Alice@Contoso.com"},
		{"/Users/" + alice, alice, "Alice@Contoso.com"},
		{"/Groups/SALES", group, "Sales"},
	} {
		obj := a.call(200, "GET", tc.path)
		if obj["id"] != tc.id || obj["name"] != tc.name || obj["exists"] != true {
			t.Errorf("GET %s: %v", tc.path, obj)
		}
	}
	dead := list(a.call(200, "GET", "/targets/crm/deadletters"), "deadLetters")
	if len(dead) != 1 || dead[0]["id"] != dave || dead[0]["name"] != "dave@contoso.com" {
		t.Errorf("dead letters %v", dead)
	}
	if obj := a.call(200, "GET", "/Users/DAVE@contoso.com"); list(list(obj, "targets")[0], "deadLetters")[0]["name"] != "dave@contoso.com" {
		t.Errorf("dave's object %v", obj)
	}
	if r := a.call(200, "POST", "/Users/alice@contoso.com/resync?target=crm"); r["queued"] != 1.0 {
		t.Errorf("resync by userName: %v", r)
	}

	// The audit log by userName: every entry of alice, with her name; the
	// SCIM entries name the attributes they changed.
	var details []string
	for _, e := range list(a.call(200, "GET", "/audit?id=alice@CONTOSO.com"), "entries") {
		if e["id"] != alice || e["name"] != "Alice@Contoso.com" {
			t.Errorf("audit entry %v", e)
		}
		if strings.HasPrefix(fmt.Sprint(e["actor"]), "scim: ") {
			details = append(details, fmt.Sprintf("%v: %v", e["action"], e["detail"]))
		}
	}
	slices.Reverse(details)
	if len(details) != 2 || !strings.HasPrefix(details[0], "create: attributes: active, emails, externalId, name.familyName") ||
		!strings.Contains(details[0], "password") || details[1] != "update: attributes: title" {
		t.Errorf("SCIM audit details of alice: %q", details)
	}
	if all := a.call(200, "GET", "/audit?limit=1000"); strings.Contains(fmt.Sprint(all), "hunter2") {
		t.Errorf("the audit log shows the password: %v", all)
	}

	for _, tc := range []struct {
		name, method, path string
		want               int
		msg                string
	}{
		{"unknown userName", "GET", "/Users/nobody@contoso.com", 404, `no User has the id or userName "nobody@contoso.com"`},
		{"unknown displayName", "GET", "/Groups/Nobody", 404, `no Group has the id or displayName "Nobody"`},
		{"a userName is no group", "GET", "/Groups/alice@contoso.com", 404, `"alice@contoso.com"`},
		{"resync of an unknown name", "POST", "/Users/nobody@contoso.com/resync", 404, `"nobody@contoso.com"`},
		{"audit of an unknown name", "GET", "/audit?id=nobody@contoso.com", 404, `no User or Group has the id, userName or displayName "nobody@contoso.com"`},
		{"audit of a name both a user and a group have", "GET", "/audit?id=sales", 400, `id: "sales" is ambiguous: it names User `},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := a.call(tc.want, tc.method, tc.path)
			if msg, _ := m["error"].(string); !strings.Contains(msg, tc.msg) {
				t.Errorf("error %q does not contain %q", msg, tc.msg)
			}
		})
	}
}
