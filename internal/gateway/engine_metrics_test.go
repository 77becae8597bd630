package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"

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
