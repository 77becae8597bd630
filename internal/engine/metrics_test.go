package engine

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/scimgate/scimgate/policy"

	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/memory"
)

// TestNewRegistersMetrics: the metrics go to the Registerer; a second
// engine on the same registry is a configuration error.
func TestNewRegistersMetrics(t *testing.T) {
	st, pol := storeAndPolicy(t)
	reg := prometheus.NewRegistry()
	opts := Options{Store: st, Policy: pol, Connectors: map[string]targets.Connector{"crm": memory.New(memory.Config{})}, Registerer: reg}
	if _, err := New(opts); err != nil {
		t.Fatalf("first engine: %v", err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, want := range []string{"scimgate_engine_queue_depth", "scimgate_engine_oldest_pending_age_seconds", "scimgate_engine_held_operations"} {
		if !names[want] {
			t.Errorf("%s not gathered; got %v", want, names)
		}
	}
	if _, err := New(opts); !errors.Is(err, ErrConfig) {
		t.Errorf("second engine on the same registry: %v, want ErrConfig", err)
	}
}

// TestMetricsScheduledAndDown: a leaver's delete scheduled after the grace
// period is counted as scheduled with its due time, not as pending (an
// alert on the queue must not fire after every leaver); a target the
// engine holds for down reads 0 in scimgate_engine_target_up.
func TestMetricsScheduledAndDown(t *testing.T) {
	w := newWorld(t, engineScenario{})
	hc := &healthConn{Connector: memory.New(memory.Config{})}
	pol, err := policy.Compile(policy.Config{Targets: []policy.TargetConfig{{Name: "crm",
		Users:     &policy.ObjectConfig{Scope: policy.ScopeConfig{All: true}, Mapping: []policy.MappingConfig{{Target: "userName", Source: "userName"}}},
		Lifecycle: policy.LifecycleConfig{DeleteGracePeriod: 30 * 24 * time.Hour}}}})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	e, err := New(Options{Store: w.st, Policy: pol, Connectors: map[string]targets.Connector{"crm": hc}, Registerer: reg,
		Now: func() time.Time { return w.now }})
	if err != nil {
		t.Fatal(err)
	}
	w.e = e
	ctx := t.Context()
	id, _ := w.do("setup", "POST", "/Users", map[string]any{"userName": "leo@contoso.com"}, 201)["id"].(string)
	run := func() {
		if err := e.PlanOnce(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := e.DeliverDue(ctx); err != nil {
			t.Fatal(err)
		}
	}
	run()
	w.do("setup", "DELETE", "/Users/"+id, nil, 204)
	run()
	due := w.now.Add(30 * 24 * time.Hour)
	w.now = w.now.Add(time.Hour)
	want := `
# HELP scimgate_engine_next_scheduled_timestamp_seconds When the next scheduled operation falls due per target (Unix time; 0 when none).
# TYPE scimgate_engine_next_scheduled_timestamp_seconds gauge
scimgate_engine_next_scheduled_timestamp_seconds{target="crm"} ` + fmt.Sprint(due.Unix()) + `
# HELP scimgate_engine_oldest_pending_age_seconds Age of the oldest pending operation per target (0 when none).
# TYPE scimgate_engine_oldest_pending_age_seconds gauge
scimgate_engine_oldest_pending_age_seconds{target="crm"} 0
# HELP scimgate_engine_queue_depth Pending operations per target, held ones included.
# TYPE scimgate_engine_queue_depth gauge
scimgate_engine_queue_depth{target="crm"} 0
# HELP scimgate_engine_scheduled_operations Operations queued for later per target (a leaver's delete after the grace period), not counted as pending.
# TYPE scimgate_engine_scheduled_operations gauge
scimgate_engine_scheduled_operations{target="crm"} 1
# HELP scimgate_engine_target_up 0 while the target is down (its connector's health check fails, or the engine holds its operations), else 1.
# TYPE scimgate_engine_target_up gauge
scimgate_engine_target_up{target="crm"} 1
`
	names := []string{"scimgate_engine_next_scheduled_timestamp_seconds", "scimgate_engine_oldest_pending_age_seconds",
		"scimgate_engine_queue_depth", "scimgate_engine_scheduled_operations", "scimgate_engine_target_up"}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	sts, err := e.Targets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s := sts[0]; s.Pending != 0 || s.Scheduled != 1 || !s.NextScheduled.Equal(due) || !s.Oldest.IsZero() {
		t.Errorf("admin view of the scheduled delete: %+v", s)
	}

	// Down with nothing to deliver: its health check fails.
	hc.setDown("connection refused")
	downMetric := `
# HELP scimgate_engine_target_up 0 while the target is down (its connector's health check fails, or the engine holds its operations), else 1.
# TYPE scimgate_engine_target_up gauge
scimgate_engine_target_up{target="crm"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(downMetric), "scimgate_engine_target_up"); err != nil {
		t.Error(err)
	}
	// Held down: a new user's create failed; Health passes again but the
	// engine probes only after its backoff.
	hc.Inject(memory.Fault{Err: targets.Transient(errors.New("connection refused"))})
	w.do("setup", "POST", "/Users", map[string]any{"userName": "mia@contoso.com"}, 201)
	run()
	hc.setDown("")
	if err := testutil.GatherAndCompare(reg, strings.NewReader(downMetric), "scimgate_engine_target_up"); err != nil {
		t.Error(err)
	}
}
