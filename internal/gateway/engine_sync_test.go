package gateway

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/targets/memory"
)

// TestEngineRehire: a user deleted in SCIM is disabled and its delete waits
// for the grace period; a user created again with the same externalId
// within it takes over the account (same anchor): the target receives an
// update and an enable, never a second create, and the delete is dropped.
func TestEngineRehire(t *testing.T) {
	eg := startEngineGateway(t, strings.Replace(crmTarget, "deleteGracePeriod: 1s", "deleteGracePeriod: 1h", 1))
	c, crm := eg.c, eg.conns["crm"]
	first := salesUser("ivy@contoso.com")
	first["externalId"] = "E-1001"
	old := c.must(201, "POST", "/Users", first).body["id"].(string)
	eg.idle(t)
	o, ok := object(crm, old)
	if !ok {
		t.Fatal("ivy not created")
	}
	anchor := o.Anchor
	c.must(204, "DELETE", "/Users/"+old, nil)
	waitFor(t, "the disable", func() (bool, string) {
		o, _ := object(crm, old)
		return o.Disabled, "not disabled"
	})

	again := salesUser("ivy@contoso.com")
	again["externalId"] = "E-1001"
	again["title"] = "Senior Clerk"
	id := c.must(201, "POST", "/Users", again).body["id"].(string)
	eg.idle(t)

	if got := calls(crm, id); !slices.Equal(got, []string{"Update{title=Senior Clerk}", "Enable"}) {
		t.Errorf("calls for the rehired user %q, want the update then the enable", got)
	}
	snap := crm.Snapshot()
	if len(snap) != 1 || snap[0].Anchor != anchor || snap[0].ObjectID != id || snap[0].Disabled || snap[0].Attrs["title"] != "Senior Clerk" {
		t.Fatalf("target after the rehire: %+v (anchor was %s)", snap, anchor)
	}
	ctx := context.Background()
	if _, err := eg.g.store.Provisioned(ctx, "crm", "User", old); err == nil {
		t.Error("the deleted user's record is still there")
	}
	if ob, _ := eg.g.store.Outbox(ctx, "crm", false, 10); len(ob) != 0 {
		t.Errorf("pending operations after the rehire: %+v", ob)
	}
	audit, err := eg.g.store.Audit(ctx, store.AuditQuery{ID: id, Limit: 100})
	if err != nil || !slices.ContainsFunc(audit, func(e store.AuditEntry) bool { return e.Action == "rehire" }) {
		t.Errorf("no rehire in the audit log of %s: %+v, %v", id, audit, err)
	}
}

// TestEngineInitialSync: a target added to a gateway that already holds
// users receives them all at its first start, once.
func TestEngineInitialSync(t *testing.T) {
	dir := t.TempDir()
	const crm = `
- name: crm
  type: memory
  users:
    scope: {all: true}
    mapping:
      - {target: userName, source: userName}
`
	const hr = `
- name: hr
  type: memory
  users:
    scope: {all: true}
    mapping:
      - {target: login, source: userName}
`
	g, base, stop := benchGateway(t, dir, crm)
	c := client{t: t, base: base}
	for _, u := range []string{"a@contoso.com", "b@contoso.com"} {
		c.must(201, "POST", "/Users", entraUser(u, "x-"+u))
	}
	waitFor(t, "delivery to crm", func() (bool, string) {
		n := len(g.conns["crm"].(*memory.Connector).Snapshot())
		return n == 2, fmt.Sprintf("%d users in crm", n)
	})
	stop()

	for run := range 2 {
		g, _, stop = benchGateway(t, dir, crm+hr)
		want := 2
		if run == 1 {
			want = 0 // once only: the second start plans nothing for hr
		}
		waitFor(t, "the initial sync of hr", func() (bool, string) {
			n := len(g.conns["hr"].(*memory.Connector).Snapshot())
			ch, _ := g.store.Changes(context.Background(), 0, 1)
			st, _ := g.store.OutboxStats(context.Background(), "hr", time.Now())
			return n == want && len(ch) == 0 && st.Pending == 0, fmt.Sprintf("%d users in hr, %d pending", n, st.Pending)
		})
		if got := len(g.conns["crm"].(*memory.Connector).Calls()); got != 0 {
			t.Errorf("start %d: crm received %d calls; it had everything", run+1, got)
		}
		stop()
	}
}
