package engine

import (
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

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
