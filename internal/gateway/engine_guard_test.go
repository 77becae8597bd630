package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"testing"

	"github.com/scimgate/scimgate/internal/engine"
	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/memory"
)

// guardedTarget holds more than two disables/deletes an hour.
const guardedTarget = `
- name: crm
  type: memory
  users:
    scope: {all: true}
    mapping:
      - {target: userName, source: userName}
  lifecycle:
    deletionGuard: {threshold: 2, window: 1h}
`

// createUsers creates n users and waits until the engine delivered them.
func (eg *engineGateway) createUsers(t *testing.T, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = eg.c.must(201, "POST", "/Users", salesUser(fmt.Sprintf("user%d@contoso.com", i))).body["id"].(string)
	}
	eg.idle(t)
	return ids
}

// waitHeld waits until target has n held operations and nothing else
// pending: the guard held them and the others were delivered.
func (eg *engineGateway) waitHeld(t *testing.T, target string, n int) {
	t.Helper()
	ctx := context.Background()
	waitFor(t, fmt.Sprintf("%d held operations and nothing else pending", n), func() (bool, string) {
		ch, err := eg.g.store.Changes(ctx, 0, 1)
		if err != nil || len(ch) > 0 {
			return false, fmt.Sprintf("unplanned changes %v, %v", ch, err)
		}
		held, err := eg.g.engine.Held(ctx, target, 100)
		if err != nil {
			return false, err.Error()
		}
		pending, err := eg.g.store.Outbox(ctx, target, false, 100)
		if err != nil {
			return false, err.Error()
		}
		return len(held) == n && len(pending) == n, fmt.Sprintf("%d held, %d pending", len(held), len(pending))
	})
}

// TestEngineDeletionGuard: a mass delete over the threshold is held while
// SCIM keeps answering; Release delivers the held deletes, Discard drops
// them and leaves the objects in the target, recorded as present.
func TestEngineDeletionGuard(t *testing.T) {
	tests := []struct {
		name string
		// act releases or discards the held operations.
		act func(e *engine.Engine, ctx context.Context, target string) (int, error)
		// left is how many users the target keeps in the end.
		left int
	}{
		{"release delivers the held deletes", (*engine.Engine).Release, 0},
		{"discard drops them", (*engine.Engine).Discard, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eg := startEngineGateway(t, guardedTarget)
			ctx := context.Background()
			crm := eg.conns["crm"]
			ids := eg.createUsers(t, 5)
			for _, id := range ids {
				eg.c.must(204, "DELETE", "/Users/"+id, nil)
			}
			eg.waitHeld(t, "crm", 3)
			eg.c.must(200, "GET", "/Users", nil) // SCIM keeps answering
			if got := len(crm.Snapshot()); got != 3 {
				t.Fatalf("%d users in the target while the guard holds 3 deletes, want 3", got)
			}
			held, _ := eg.g.engine.Held(ctx, "crm", 100)
			for _, h := range held {
				if h.Op != "delete" || h.Kind != "User" || !slices.Contains(ids, h.ID) {
					t.Errorf("held operation %+v", h)
				}
			}
			n, err := tt.act(eg.g.engine, ctx, "crm")
			if err != nil || n != 3 {
				t.Fatalf("acting on the held operations: %d, %v; want 3", n, err)
			}
			eg.idle(t)
			if got := len(crm.Snapshot()); got != tt.left {
				t.Errorf("%d users in the target, want %d", got, tt.left)
			}
			for _, h := range held {
				p, err := eg.g.store.Provisioned(ctx, "crm", "User", h.ID)
				kept := err == nil && p.Anchor != ""
				if kept != (tt.left > 0) {
					t.Errorf("provisioning state of %s: %+v, %v", h.ID, p, err)
				}
			}
			if held, err := eg.g.engine.Held(ctx, "crm", 100); err != nil || len(held) != 0 {
				t.Errorf("still held: %+v, %v", held, err)
			}
		})
	}
}

// TestEngineDeletionGuardUnknownTarget: the admin methods name a target.
func TestEngineDeletionGuardUnknownTarget(t *testing.T) {
	eg := startEngineGateway(t, guardedTarget)
	ctx := context.Background()
	if _, err := eg.g.engine.Held(ctx, "nope", 100); !errors.Is(err, engine.ErrUnknownTarget) {
		t.Errorf("Held: %v", err)
	}
	if _, err := eg.g.engine.Release(ctx, "nope"); !errors.Is(err, engine.ErrUnknownTarget) {
		t.Errorf("Release: %v", err)
	}
	if _, err := eg.g.engine.Discard(ctx, "nope"); !errors.Is(err, engine.ErrUnknownTarget) {
		t.Errorf("Discard: %v", err)
	}
}

// TestEnginePreview: a target in preview gets its operations planned and
// queued, never delivered, while a live target receives them.
func TestEnginePreview(t *testing.T) {
	eg := startEngineGateway(t, `
- name: live
  type: memory
  users:
    scope: {all: true}
    mapping:
      - {target: userName, source: userName}
      - {target: title, source: title}
- name: dry
  type: memory
  users:
    scope: {all: true}
    mapping:
      - {target: userName, source: userName}
      - {target: title, source: title}
  lifecycle:
    preview: true
`)
	ctx := context.Background()
	id := eg.c.must(201, "POST", "/Users", salesUser("hana@contoso.com")).body["id"].(string)
	eg.c.must(200, "PATCH", "/Users/"+id, patchOps(op("Replace", "title", "Boss")))
	waitFor(t, "the live target to receive the user", func() (bool, string) {
		o, ok := object(eg.conns["live"], id)
		return ok && o.Attrs["title"] == "Boss", fmt.Sprintf("%+v", o)
	})
	waitFor(t, "the preview target's operations to be queued", func() (bool, string) {
		ch, err := eg.g.store.Changes(ctx, 0, 1)
		if err != nil || len(ch) > 0 {
			return false, fmt.Sprintf("unplanned changes %v, %v", ch, err)
		}
		return true, ""
	})
	ob, err := eg.g.store.Outbox(ctx, "dry", false, 10)
	if err != nil || len(ob) == 0 {
		t.Fatalf("preview outbox %+v, %v; want the user's operations", ob, err)
	}
	var last struct {
		Op    string         `json:"op"`
		Attrs map[string]any `json:"attrs"`
	}
	// Never attempted, the create and the update coalesce into one create.
	if err := json.Unmarshal(ob[0].Payload, &last); err != nil || len(ob) != 1 || last.Op != "create" || last.Attrs["title"] != "Boss" || ob[0].ID != id {
		t.Errorf("preview outbox %d operations, first %+v, %v; want one create with title Boss", len(ob), last, err)
	}
	if calls := eg.conns["dry"].Calls(); len(calls) != 0 {
		t.Errorf("the preview target's connector was called: %+v", calls)
	}
}

// coalesceTarget maps two attributes, to see updates merge.
const coalesceTarget = `
- name: crm
  type: memory
  users:
    scope: {all: true}
    mapping:
      - {target: userName, source: userName}
      - {target: title, source: title}
      - {target: displayName, source: displayName}
`

// TestEngineCoalescing: while the target is down, the updates queued
// behind a failing create merge into one update with the final values.
func TestEngineCoalescing(t *testing.T) {
	eg := startEngineGateway(t, coalesceTarget)
	c, crm := eg.c, eg.conns["crm"]
	crm.Inject(memory.Fault{Err: targets.Transient(errors.New("target down"))})
	id := c.must(201, "POST", "/Users", salesUser("ivy@contoso.com")).body["id"].(string)
	waitFor(t, "a failed create", func() (bool, string) {
		calls := crm.Calls()
		return len(calls) > 0, fmt.Sprintf("%d calls", len(calls))
	})
	for _, ops := range [][]map[string]any{
		{op("Replace", "title", "T1")},
		{op("Replace", "displayName", "Ivy One")},
		{op("Replace", "title", "T2")},
	} {
		c.must(200, "PATCH", "/Users/"+id, patchOps(ops...))
	}
	waitFor(t, "the updates to be planned", func() (bool, string) {
		ch, err := eg.g.store.Changes(context.Background(), 0, 1)
		return err == nil && len(ch) == 0, fmt.Sprintf("unplanned changes %v, %v", ch, err)
	})
	crm.ClearFaults()
	eg.idle(t)
	want := []string{"Create", "Update{displayName=Ivy One,title=T2}"}
	if got := calls(crm, id); !slices.Equal(got, want) {
		t.Errorf("calls:\n got %q\nwant %q", got, want)
	}
}

// scrape returns the text of the gateway's /metrics.
func scrape(t *testing.T, eg *engineGateway) string {
	t.Helper()
	resp, err := http.Get("http://" + eg.g.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// metric returns the value of one series in a scrape, or -1.
func metric(text, series string) float64 {
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(text)
	if m == nil {
		return -1
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return -1
	}
	return v
}

// TestEngineMetrics scrapes /metrics while the engine retries, holds and
// delivers operations.
func TestEngineMetrics(t *testing.T) {
	eg := startEngineGateway(t, guardedTarget)
	c, crm := eg.c, eg.conns["crm"]
	crm.Inject(memory.Fault{Method: memory.Create, Times: 2, Err: targets.Transient(errors.New("busy"))})
	id := c.must(201, "POST", "/Users", salesUser("jo@contoso.com")).body["id"].(string)
	eg.idle(t)
	crm.Inject(memory.Fault{Method: memory.Update, Err: targets.Permanent(errors.New("refused"))})
	c.must(200, "PATCH", "/Users/"+id, patchOps(op("Replace", "userName", "jo2@contoso.com")))
	eg.idle(t)
	crm.ClearFaults()
	ids := eg.createUsers(t, 4)
	for _, id := range ids {
		c.must(204, "DELETE", "/Users/"+id, nil)
	}
	eg.waitHeld(t, "crm", 2)
	tests := []struct {
		series string
		want   float64
	}{
		{`scimgate_engine_deliveries_total{op="create",outcome="retry",target="crm"}`, 2},
		{`scimgate_engine_deliveries_total{op="create",outcome="ok",target="crm"}`, 5},
		{`scimgate_engine_deliveries_total{op="update",outcome="dead",target="crm"}`, 1},
		{`scimgate_engine_deliveries_total{op="delete",outcome="ok",target="crm"}`, 2},
		{`scimgate_engine_retries_total{target="crm"}`, 2},
		{`scimgate_engine_dead_letters_total{target="crm"}`, 1},
		{`scimgate_engine_queue_depth{target="crm"}`, 2},
		{`scimgate_engine_held_operations{target="crm"}`, 2},
	}
	text := scrape(t, eg)
	for _, tt := range tests {
		if got := metric(text, tt.series); got != tt.want {
			t.Errorf("%s = %v, want %v", tt.series, got, tt.want)
		}
	}
	if age := metric(text, `scimgate_engine_oldest_pending_age_seconds{target="crm"}`); age < 0 {
		t.Errorf("no oldest pending age")
	}
	if _, err := eg.g.engine.Release(context.Background(), "crm"); err != nil {
		t.Fatal(err)
	}
	eg.idle(t)
	text = scrape(t, eg)
	for series, want := range map[string]float64{
		`scimgate_engine_deliveries_total{op="delete",outcome="ok",target="crm"}`: 4,
		`scimgate_engine_queue_depth{target="crm"}`:                               0,
		`scimgate_engine_held_operations{target="crm"}`:                           0,
		`scimgate_engine_oldest_pending_age_seconds{target="crm"}`:                0,
	} {
		if got := metric(text, series); got != want {
			t.Errorf("after release: %s = %v, want %v", series, got, want)
		}
	}
}
