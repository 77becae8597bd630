package gateway

import (
	"context"
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
	g := startTargetsGateway(t, []byte(targetsYAML), func(o *engine.Options) {
		o.Poll = 50 * time.Millisecond
		o.MaxAttempts = 1000
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
	return startTargetsGatewayWith(t, targetsYAML, tune, nil)
}

// startTargetsGatewayWith is startTargetsGateway; mutate, when set,
// adjusts the configuration (a shared store).
func startTargetsGatewayWith(t testing.TB, targetsYAML []byte, tune func(*engine.Options), mutate func(*config.Config)) *Gateway {
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
	if mutate != nil {
		mutate(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g, err := newGateway(ctx, cfg, nil, slog.New(slog.DiscardHandler), func(o *engine.Options) {
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

// TestEngineEndToEnd proves the wiring of the gateway and its engine: SCIM
// requests over HTTP reach a memory target of the configuration as
// operations, in order, with the target's scope and onCreate mapping. The
// engine's behaviour itself is tested on a fake clock by the engine's
// scenarios (internal/engine/testdata/scenarios).
func TestEngineEndToEnd(t *testing.T) {
	eg := startEngineGateway(t, crmTarget)
	c, crm := eg.c, eg.conns["crm"]
	inTarget := func(what, id string, cond func(o targets.Object) bool) targets.Object {
		t.Helper()
		var o targets.Object
		waitFor(t, what, func() (bool, string) {
			var ok bool
			o, ok = object(crm, id)
			return ok && cond(o), fmt.Sprintf("%+v (found %t)", o, ok)
		})
		return o
	}

	// carol, out of scope, is journalled before alice: once alice is in
	// the target, carol was planned, and must have been left out.
	carol := c.must(201, "POST", "/Users", func() map[string]any {
		u := salesUser("carol@contoso.com")
		u[enterprise] = map[string]any{"department": "Marketing"}
		return u
	}()).body["id"].(string)
	alice := c.must(201, "POST", "/Users", salesUser("alice@contoso.com")).body["id"].(string)
	o := inTarget("alice created", alice, func(targets.Object) bool { return true })
	if o.Attrs["userName"] != "alice@contoso.com" || o.Attrs["title"] != "Clerk" || len(fmt.Sprint(o.Attrs["password"])) != 12 || o.Disabled {
		t.Errorf("alice in the target: %+v", o)
	}
	if o, ok := object(crm, carol); ok {
		t.Errorf("carol, out of scope, in the target: %+v", o)
	}

	c.must(200, "PATCH", "/Users/"+alice, patchOps(op("Replace", "title", "Manager")))
	group := c.must(201, "POST", "/Groups", map[string]any{"displayName": "Sales Team",
		"members": []any{map[string]any{"value": alice}}}).body["id"].(string)
	anchor := inTarget("alice updated", alice, func(o targets.Object) bool { return o.Attrs["title"] == "Manager" }).Anchor
	inTarget("the group with alice", group, func(o targets.Object) bool {
		return o.Attrs["name"] == "Sales Team" && slices.Equal(o.Members, []string{anchor})
	})

	c.must(204, "DELETE", "/Users/"+alice, nil)
	waitFor(t, "alice deleted after the grace period", func() (bool, string) {
		_, ok := object(crm, alice)
		return !ok, "alice still in the target"
	})
	if got, want := calls(crm, alice), []string{"Create", "Update{title=Manager}", "Disable", "Delete"}; !slices.Equal(got, want) {
		t.Errorf("calls for alice:\n got %q\nwant %q", got, want)
	}
	if o, _ := object(crm, group); len(o.Members) != 0 {
		t.Errorf("the group after alice's delete: %+v", o)
	}
}
