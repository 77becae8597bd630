package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/scimgate/scimgate/internal/config"
	"github.com/scimgate/scimgate/internal/engine"
	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/memory"
)

// crmTarget is a memory target that receives the Sales department's users
// and every group.
const crmTarget = `
- name: crm
  type: memory
  users:
    scope:
      filters:
        - clauses:
            - {attribute: department, operator: equals, value: Sales}
    mapping:
      - {target: userName, source: userName}
      - {target: title, source: title}
      - {target: password, expression: 'RandomString(12, 2, 0, 2, 2)', apply: onCreate}
  groups:
    scope: {all: true}
    mapping:
      - {target: name, source: displayName}
  lifecycle:
    outOfScope: disable
    deleteGracePeriod: 1s
`

// engineGateway is a running gateway with targets, its memory connectors
// and a SCIM client.
type engineGateway struct {
	g     *Gateway
	c     client
	conns map[string]*memory.Connector
}

// startEngineGateway runs a gateway with the targets of targetsYAML and
// short engine timings.
func startEngineGateway(t *testing.T, targetsYAML string) *engineGateway {
	t.Helper()
	return startEngineGatewayTuned(t, targetsYAML, nil)
}

// startEngineGatewayTuned is startEngineGateway with tune applied to the
// engine's options after the short test timings.
func startEngineGatewayTuned(t *testing.T, targetsYAML string, tune func(*engine.Options)) *engineGateway {
	t.Helper()
	g := startTargetsGateway(t, []byte(targetsYAML), func(o *engine.Options) {
		o.Poll = 50 * time.Millisecond
		o.MaxAttempts = 1000
		if tune != nil {
			tune(o)
		}
	})
	eg := &engineGateway{g: g, c: client{t: t, base: g.BaseURL()}, conns: map[string]*memory.Connector{}}
	for name, c := range g.conns {
		eg.conns[name] = c.(*memory.Connector)
	}
	return eg
}

// startTargetsGateway starts a gateway with the targets of targetsYAML,
// the test's SCIM and admin tokens and short engine timings; tune adjusts
// the engine's options.
func startTargetsGateway(t testing.TB, targetsYAML []byte, tune func(*engine.Options)) *Gateway {
	t.Helper()
	cfg := config.Defaults()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.Auth.Tokens = []config.Secret{testToken}
	cfg.Admin.Tokens = []config.Secret{adminToken}
	// A target that cannot be reached at startup is opened again with
	// the engine's backoff.
	cfg.Engine.BackoffBase, cfg.Engine.BackoffMax = 5*time.Millisecond, 40*time.Millisecond
	if err := yaml.Unmarshal(targetsYAML, &cfg.Targets); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g, err := newGateway(ctx, cfg, slog.New(slog.DiscardHandler), func(o *engine.Options) {
		o.Poll = 20 * time.Millisecond
		o.BackoffBase = 5 * time.Millisecond
		o.BackoffMax = 40 * time.Millisecond
		if tune != nil {
			tune(o)
		}
	})
	if err != nil {
		cancel()
		t.Fatalf("gateway: %v", err)
	}
	serveUntilCleanup(t, ctx, cancel, g)
	return g
}

// waitFor polls cond until it holds, failing the test with what (and the
// last detail cond gave) after a generous bound.
func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; last: %s", what, detail)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// idle waits until every change is planned and every pending operation of
// every target delivered.
func (eg *engineGateway) idle(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	// The journal and the outbox are read one after the other, so an
	// operation moving between them (planned, or a lost object sent back
	// to the planner) can hide: idle must be seen three times in a row.
	seen := 0
	waitFor(t, "the engine to be idle", func() (bool, string) {
		idle, detail := idleNow(ctx, eg.g)
		if !idle {
			seen = 0
			return false, detail
		}
		seen++
		return seen == 3, "idle"
	})
}

// idleNow reports whether every change of g is planned and every
// operation of every target delivered (dead letters aside), and what is
// left when not.
func idleNow(ctx context.Context, g *Gateway) (bool, string) {
	ch, err := g.store.Changes(ctx, 0, 1)
	if err != nil || len(ch) > 0 {
		return false, fmt.Sprintf("unplanned changes %v, %v", ch, err)
	}
	for _, t := range g.cfg.Targets {
		ob, err := g.store.Outbox(ctx, t.Name, false, 10)
		if err != nil || len(ob) > 0 {
			return false, fmt.Sprintf("target %s: %d pending operations (%+v), %v", t.Name, len(ob), ob, err)
		}
	}
	return true, ""
}

// calls describes the successful calls a connector received for one
// object: the method, the keys of Update's attributes (with their values
// for title and name) and the members.
func calls(c *memory.Connector, objectID string) []string {
	out := []string{}
	for _, call := range c.Calls() {
		if call.Op.ObjectID != objectID || call.Err != nil {
			continue
		}
		s := string(call.Method)
		if call.Method == memory.Update {
			var kv []string
			for _, k := range slices.Sorted(maps.Keys(call.Op.Attrs)) {
				kv = append(kv, fmt.Sprintf("%s=%v", k, call.Op.Attrs[k]))
			}
			s += "{" + strings.Join(kv, ",") + "}"
		}
		if len(call.Op.Members) > 0 {
			m := slices.Sorted(slices.Values(call.Op.Members))
			s += "[" + strings.Join(m, ",") + "]"
		}
		out = append(out, s)
	}
	return out
}

// object finds an object in the connector by its recorded object id.
func object(c *memory.Connector, objectID string) (targets.Object, bool) {
	for _, o := range c.Snapshot() {
		if o.ObjectID == objectID {
			return o, true
		}
	}
	return targets.Object{}, false
}

func salesUser(userName string) map[string]any {
	u := entraUser(userName, "ext-"+userName)
	u["title"] = "Clerk"
	return u
}

// TestEngineLifecycle sends Entra-style SCIM traffic to a gateway with a
// memory target and checks, step by step, the exact operations the target
// receives for each object.
func TestEngineLifecycle(t *testing.T) {
	eg := startEngineGateway(t, crmTarget)
	c, crm := eg.c, eg.conns["crm"]
	alice := c.must(201, "POST", "/Users", salesUser("alice@contoso.com")).body["id"].(string)
	carol := c.must(201, "POST", "/Users", func() map[string]any {
		u := salesUser("carol@contoso.com")
		u[enterprise] = map[string]any{"department": "Marketing"}
		return u
	}()).body["id"].(string)
	var bob, bobAnchor, group string
	anchorOf := func(id string) string {
		t.Helper()
		o, ok := object(crm, id)
		if !ok {
			t.Fatalf("object %s not in the target", id)
		}
		return o.Anchor
	}

	steps := []struct {
		name   string
		do     func(t *testing.T)
		object *string
		want   func() []string // every successful call for the object so far
		check  func(t *testing.T)
	}{
		{"joiner: create with onCreate password", func(*testing.T) {}, &alice,
			func() []string { return []string{"Create"} },
			func(t *testing.T) {
				o, _ := object(crm, alice)
				if o.Attrs["userName"] != "alice@contoso.com" || o.Attrs["title"] != "Clerk" || len(fmt.Sprint(o.Attrs["password"])) != 12 || o.Disabled {
					t.Errorf("alice in the target: %+v", o)
				}
			}},
		{"out of scope: nothing", func(*testing.T) {}, &carol,
			func() []string { return []string{} }, nil},
		{"mover: attribute change is an update", func(*testing.T) {
			c.must(200, "PATCH", "/Users/"+alice, patchOps(op("Replace", "title", "Manager")))
		}, &alice, func() []string { return []string{"Create", "Update{title=Manager}"} }, nil},
		{"mover: leaves the scope, disabled", func(*testing.T) {
			c.must(200, "PATCH", "/Users/"+alice, patchOps(op("Replace", enterprise+":department", "Marketing")))
		}, &alice, func() []string { return []string{"Create", "Update{title=Manager}", "Disable"} }, nil},
		{"mover: scope in again with a change, updated and enabled", func(*testing.T) {
			c.must(200, "PATCH", "/Users/"+alice, patchOps(
				op("Replace", enterprise+":department", "Sales"), op("Replace", "title", "Director")))
		}, &alice, func() []string {
			return []string{"Create", "Update{title=Manager}", "Disable", "Update{title=Director}", "Enable"}
		}, nil},
		{"leaver: active false, disabled", func(*testing.T) {
			c.must(200, "PATCH", "/Users/"+alice, patchOps(op("Replace", "active", "False")))
		}, &alice, func() []string {
			return []string{"Create", "Update{title=Manager}", "Disable", "Update{title=Director}", "Enable", "Disable"}
		}, func(t *testing.T) {
			if o, _ := object(crm, alice); !o.Disabled {
				t.Error("alice not disabled")
			}
		}},
		{"rehire: active true, enabled", func(*testing.T) {
			c.must(200, "PATCH", "/Users/"+alice, patchOps(op("Replace", "active", "True")))
		}, &alice, func() []string {
			return []string{"Create", "Update{title=Manager}", "Disable", "Update{title=Director}", "Enable", "Disable", "Enable"}
		}, func(t *testing.T) {
			if o, _ := object(crm, alice); o.Disabled {
				t.Error("alice still disabled")
			}
		}},
		{"group create with a member", func(*testing.T) {
			group = c.must(201, "POST", "/Groups", map[string]any{
				"displayName": "Sales Team", "members": []any{map[string]any{"value": alice}, map[string]any{"value": carol}},
			}).body["id"].(string)
		}, &group, func() []string { return []string{"Create", "AddMembers[" + anchorOf(alice) + "]"} }, nil},
		{"group rename", func(*testing.T) {
			c.must(204, "PATCH", "/Groups/"+group, patchOps(op("Replace", "displayName", "Sales Team EMEA")))
		}, &group, func() []string {
			return []string{"Create", "AddMembers[" + anchorOf(alice) + "]", "Update{name=Sales Team EMEA}"}
		}, nil},
		{"member add: a new user joins the group", func(*testing.T) {
			bob = c.must(201, "POST", "/Users", salesUser("bob@contoso.com")).body["id"].(string)
			c.must(204, "PATCH", "/Groups/"+group, patchOps(op("Add", "members", []any{map[string]any{"value": bob}})))
		}, &group, func() []string {
			return []string{"Create", "AddMembers[" + anchorOf(alice) + "]", "Update{name=Sales Team EMEA}", "AddMembers[" + anchorOf(bob) + "]"}
		}, nil},
		{"member remove", func(*testing.T) {
			c.must(204, "PATCH", "/Groups/"+group, patchOps(op("remove", fmt.Sprintf(`members[value eq "%s"]`, alice), nil)))
		}, &group, func() []string {
			return []string{"Create", "AddMembers[" + anchorOf(alice) + "]", "Update{name=Sales Team EMEA}",
				"AddMembers[" + anchorOf(bob) + "]", "RemoveMembers[" + anchorOf(alice) + "]"}
		}, func(t *testing.T) {
			if o, _ := object(crm, group); !slices.Equal(o.Members, []string{anchorOf(bob)}) {
				t.Errorf("group members %v, want bob only", o.Members)
			}
		}},
		{"SCIM delete: disabled, deleted after the grace period", func(*testing.T) {
			bobAnchor = anchorOf(bob)
			c.must(204, "DELETE", "/Users/"+bob, nil)
		}, &bob, func() []string { return []string{"Create", "Disable", "Delete"} }, func(t *testing.T) {
			if got := calls(crm, group); got[len(got)-1] != "RemoveMembers["+bobAnchor+"]" {
				t.Errorf("group calls %q, want bob removed last", got)
			}
			if _, ok := object(crm, bob); ok {
				t.Error("bob still in the target")
			}
			if _, err := eg.g.store.Provisioned(context.Background(), "crm", "User", bob); err == nil {
				t.Error("bob's provisioning state kept after the final delete")
			}
		}},
		{"group delete", func(*testing.T) {
			c.must(204, "DELETE", "/Groups/"+group, nil)
		}, &group, func() []string {
			return []string{"Create", "AddMembers[" + anchorOf(alice) + "]", "Update{name=Sales Team EMEA}",
				"AddMembers[" + bobAnchor + "]", "RemoveMembers[" + anchorOf(alice) + "]", "RemoveMembers[" + bobAnchor + "]", "Delete"}
		}, func(t *testing.T) {
			if _, ok := object(crm, group); ok {
				t.Error("group still in the target")
			}
		}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			st.do(t)
			eg.idle(t)
			got := calls(crm, *st.object)
			want := st.want()
			if !slices.Equal(got, want) {
				t.Fatalf("calls for the object:\n got %q\nwant %q", got, want)
			}
			if st.check != nil {
				st.check(t)
			}
		})
	}
}

// TestEngineTransientFailure: while the target fails, SCIM keeps answering;
// after recovery the backlog drains in order per object.
func TestEngineTransientFailure(t *testing.T) {
	eg := startEngineGateway(t, crmTarget)
	c, crm := eg.c, eg.conns["crm"]
	crm.Inject(memory.Fault{Err: targets.Transient(errors.New("target down"))})
	ids := make([]string, 3)
	for i := range ids {
		ids[i] = c.must(201, "POST", "/Users", salesUser(fmt.Sprintf("u%d@contoso.com", i))).body["id"].(string)
	}
	for _, title := range []string{"T1", "T2", "T3"} {
		for _, id := range ids {
			c.must(200, "PATCH", "/Users/"+id, patchOps(op("Replace", "title", title)))
		}
	}
	waitFor(t, "retries of failed calls", func() (bool, string) {
		failed := 0
		for _, call := range crm.Calls() {
			if call.Err != nil {
				failed++
			}
		}
		return failed >= 6, fmt.Sprintf("%d failed calls", failed)
	})
	if got := len(crm.Snapshot()); got != 0 {
		t.Fatalf("%d objects created while the target was down", got)
	}
	crm.ClearFaults()
	eg.idle(t)
	for _, id := range ids {
		got := calls(crm, id)
		// Updates may be coalesced by the planner, but never reordered.
		titles := []string{}
		for _, s := range got[1:] {
			titles = append(titles, strings.TrimSuffix(strings.TrimPrefix(s, "Update{title="), "}"))
		}
		if len(got) == 0 || got[0] != "Create" || !slices.IsSorted(titles) || (len(titles) > 0 && titles[len(titles)-1] != "T3") {
			t.Errorf("calls for %s: %q", id, got)
		}
		if o, ok := object(crm, id); !ok || o.Attrs["title"] != "T3" {
			t.Errorf("%s in the target: %+v", id, o)
		}
	}
	if dead, err := eg.g.store.Outbox(context.Background(), "crm", true, 10); err != nil || len(dead) != 0 {
		t.Errorf("dead letters %+v, %v", dead, err)
	}
}

// TestEngineLostAnswer: a create that took effect but whose answer was lost
// is retried, met with a conflict carrying the object's own anchor, and
// adopted: one object in the target, updated.
func TestEngineLostAnswer(t *testing.T) {
	eg := startEngineGateway(t, crmTarget)
	c, crm := eg.c, eg.conns["crm"]
	crm.Inject(memory.Fault{Method: memory.Create, Times: 1, Applied: true, Err: targets.Transient(errors.New("timeout"))})
	id := c.must(201, "POST", "/Users", salesUser("erin@contoso.com")).body["id"].(string)
	eg.idle(t)
	if got := len(crm.Snapshot()); got != 1 {
		t.Fatalf("%d objects in the target, want 1", got)
	}
	if got := calls(crm, id); len(got) != 1 || !strings.HasPrefix(got[0], "Update{") {
		t.Errorf("successful calls %q, want one Update after the adopted create", got)
	}
	o, _ := object(crm, id)
	p, err := eg.g.store.Provisioned(context.Background(), "crm", "User", id)
	if err != nil || p.Anchor != o.Anchor {
		t.Errorf("recorded anchor %q, %v; target has %q", p.Anchor, err, o.Anchor)
	}
}

// TestEnginePermanentFailure: a permanent error makes a dead letter with
// the error; the gateway keeps serving.
func TestEnginePermanentFailure(t *testing.T) {
	eg := startEngineGateway(t, crmTarget)
	c, crm := eg.c, eg.conns["crm"]
	crm.Inject(memory.Fault{Method: memory.Create, Kind: targets.User, Err: targets.Permanent(errors.New("schema rejects the user"))})
	id := c.must(201, "POST", "/Users", salesUser("dave@contoso.com")).body["id"].(string)
	eg.idle(t)
	dead, err := eg.g.store.Outbox(context.Background(), "crm", true, 10)
	if err != nil || len(dead) != 1 {
		t.Fatalf("dead letters %+v, %v", dead, err)
	}
	if d := dead[0]; d.ID != id || d.Attempts != 1 || !strings.Contains(d.LastError, "schema rejects the user") {
		t.Errorf("dead letter %+v", d)
	}
	if got := len(crm.Snapshot()); got != 0 {
		t.Errorf("%d objects in the target", got)
	}
}

// basicTarget cannot hold groups nor disable users; a policy error for one
// user must leave it alone.
const basicTarget = `
- name: basic
  type: memory
  config:
    capabilities: {groups: false, disable: false}
  users:
    scope:
      filters:
        - clauses:
            - {attribute: department, operator: equals, value: Sales}
    mapping:
      - {target: userName, source: userName}
      - {target: number, expression: 'int(user.enterprise.employeeNumber)'}
  groups:
    scope: {all: true}
    mapping:
      - {target: name, source: displayName}
  lifecycle:
    outOfScope: delete
    disableSupported: false
`

// TestEngineCapabilitiesAndPolicyErrors: a target without groups receives
// no group operations, one without disable gets the lifecycle's delete for
// a leaver, and a failed policy evaluation changes nothing.
func TestEngineCapabilitiesAndPolicyErrors(t *testing.T) {
	eg := startEngineGateway(t, basicTarget)
	c, basic := eg.c, eg.conns["basic"]
	id := c.must(201, "POST", "/Users", salesUser("frank@contoso.com")).body["id"].(string)
	steps := []struct {
		name string
		do   func()
		want []string
	}{
		{"joiner", func() {}, []string{"Create"}},
		{"policy error: nothing, not out of scope", func() {
			c.must(200, "PATCH", "/Users/"+id, patchOps(op("Replace", enterprise+":employeeNumber", "not a number")))
		}, []string{"Create"}},
		{"policy fine again: update", func() {
			c.must(200, "PATCH", "/Users/"+id, patchOps(op("Replace", enterprise+":employeeNumber", "43")))
		}, []string{"Create", "Update{number=43}"}},
		{"group: no group operations", func() {
			c.must(201, "POST", "/Groups", map[string]any{"displayName": "G", "members": []any{map[string]any{"value": id}}})
		}, []string{"Create", "Update{number=43}"}},
		{"leaver without disable: the outOfScope delete", func() {
			c.must(200, "PATCH", "/Users/"+id, patchOps(op("Replace", "active", "False")))
		}, []string{"Create", "Update{number=43}", "Delete"}},
		{"rehire: created again", func() {
			c.must(200, "PATCH", "/Users/"+id, patchOps(op("Replace", "active", "True")))
		}, []string{"Create", "Update{number=43}", "Delete", "Create"}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			st.do()
			eg.idle(t)
			if got := calls(basic, id); !slices.Equal(got, st.want) {
				t.Fatalf("calls:\n got %q\nwant %q", got, st.want)
			}
			for _, call := range basic.Calls() {
				if call.Op.Kind == targets.Group || call.Err != nil {
					t.Fatalf("unexpected call %+v", call)
				}
			}
		})
	}
}

// TestEngineGroupScope: a target whose users are the members of a group
// provisions a user when the group gains it and disables it when the group
// loses it; only the group changes in SCIM.
func TestEngineGroupScope(t *testing.T) {
	eg := startEngineGateway(t, `
- name: ldap
  type: memory
  users:
    scope: {groups: [Engineering]}
    mapping:
      - {target: userName, source: userName}
`)
	c, ldap := eg.c, eg.conns["ldap"]
	id := c.must(201, "POST", "/Users", salesUser("gina@contoso.com")).body["id"].(string)
	gid := c.must(201, "POST", "/Groups", map[string]any{"displayName": "Engineering"}).body["id"].(string)
	steps := []struct {
		name string
		do   func()
		want []string
	}{
		{"not a member: nothing", func() {}, []string{}},
		{"added to the group: created", func() {
			c.must(204, "PATCH", "/Groups/"+gid, patchOps(op("Add", "members", []any{map[string]any{"value": id}})))
		}, []string{"Create"}},
		{"removed from the group: disabled", func() {
			c.must(204, "PATCH", "/Groups/"+gid, patchOps(op("remove", fmt.Sprintf(`members[value eq "%s"]`, id), nil)))
		}, []string{"Create", "Disable"}},
		{"added again: enabled", func() {
			c.must(204, "PATCH", "/Groups/"+gid, patchOps(op("Add", "members", []any{map[string]any{"value": id}})))
		}, []string{"Create", "Disable", "Enable"}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			st.do()
			eg.idle(t)
			if got := calls(ldap, id); !slices.Equal(got, st.want) {
				t.Fatalf("calls:\n got %q\nwant %q", got, st.want)
			}
		})
	}
}

// crmDeleteTarget is crmTarget with users that leave the scope deleted and
// users deleted in SCIM deleted at once.
var crmDeleteTarget = strings.NewReplacer("outOfScope: disable", "outOfScope: delete",
	"deleteGracePeriod: 1s", "deleteGracePeriod: 0s").Replace(crmTarget)

// planned waits until the planner has planned every change.
func (eg *engineGateway) planned(t *testing.T) {
	t.Helper()
	waitFor(t, "the changes to be planned", func() (bool, string) {
		ch, err := eg.g.store.Changes(context.Background(), 0, 1)
		return err == nil && len(ch) == 0, fmt.Sprintf("unplanned changes %v, %v", ch, err)
	})
}

// TestEngineDeletedWhileDeleteQueued: a user leaves the scope (a delete is
// queued) and is deleted in SCIM before that delete is delivered; the
// delete still reaches the target, with the user's anchor, and the user's
// record is dropped afterwards.
func TestEngineDeletedWhileDeleteQueued(t *testing.T) {
	eg := startEngineGateway(t, crmDeleteTarget)
	c, crm := eg.c, eg.conns["crm"]
	id := c.must(201, "POST", "/Users", salesUser("hank@contoso.com")).body["id"].(string)
	eg.idle(t)
	crm.Inject(memory.Fault{Method: memory.Delete, ObjectID: id, Err: targets.Transient(errors.New("target busy"))})
	c.must(200, "PATCH", "/Users/"+id, patchOps(op("Replace", enterprise+":department", "Marketing")))
	waitFor(t, "a failed delete of the user", func() (bool, string) {
		for _, call := range crm.Calls() {
			if call.Method == memory.Delete && call.Op.ObjectID == id && call.Err != nil {
				return true, ""
			}
		}
		return false, fmt.Sprintf("calls %q", calls(crm, id))
	})
	c.must(204, "DELETE", "/Users/"+id, nil)
	eg.planned(t)
	crm.ClearFaults()
	eg.idle(t)
	if o, ok := object(crm, id); ok {
		t.Errorf("the user is still in the target: %+v", o)
	}
	if p, err := eg.g.store.Provisioned(context.Background(), "crm", "User", id); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the user's record: %+v, %v; want it dropped", p, err)
	}
}

// TestEngineMemberGoneBeforeAdd: an addMembers waits behind its group's
// create while the member, already created, leaves the target for good;
// the member is dropped from the operation instead of holding the group's
// queue.
func TestEngineMemberGoneBeforeAdd(t *testing.T) {
	for _, tc := range []struct {
		name  string
		leave func(c client, id string)
	}{
		{"deleted in SCIM", func(c client, id string) { c.must(204, "DELETE", "/Users/"+id, nil) }},
		{"out of scope", func(c client, id string) {
			c.must(200, "PATCH", "/Users/"+id, patchOps(op("Replace", enterprise+":department", "Marketing")))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eg := startEngineGateway(t, crmDeleteTarget)
			c, crm := eg.c, eg.conns["crm"]
			id := c.must(201, "POST", "/Users", salesUser("ivy@contoso.com")).body["id"].(string)
			stay := c.must(201, "POST", "/Users", salesUser("jay@contoso.com")).body["id"].(string)
			eg.idle(t)
			crm.Inject(memory.Fault{Method: memory.Create, Kind: targets.Group, Err: targets.Transient(errors.New("target busy"))})
			gid := c.must(201, "POST", "/Groups", map[string]any{"displayName": "Sales Team",
				"members": []any{map[string]any{"value": id}, map[string]any{"value": stay}}}).body["id"].(string)
			eg.planned(t)
			tc.leave(c, id)
			eg.planned(t)
			waitFor(t, "the user's delete", func() (bool, string) {
				got := calls(crm, id)
				return slices.Contains(got, "Delete"), fmt.Sprintf("calls %q", got)
			})
			crm.ClearFaults()
			eg.idle(t)
			g, ok := object(crm, gid)
			s, _ := object(crm, stay)
			if !ok || !slices.Equal(g.Members, []string{s.Anchor}) {
				t.Errorf("the group in the target: %+v, want the member %s only", g, s.Anchor)
			}
		})
	}
}
