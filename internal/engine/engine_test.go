package engine

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/policy"
	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/memory"
)

// storeAndPolicy returns a fresh store and a policy with one target, crm,
// that receives every user.
func storeAndPolicy(t *testing.T) (store.Store, *policy.Policy) {
	t.Helper()
	st, err := store.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	pol, err := policy.Compile(policy.Config{Targets: []policy.TargetConfig{{
		Name:  "crm",
		Users: &policy.ObjectConfig{Scope: policy.ScopeConfig{All: true}, Mapping: []policy.MappingConfig{{Target: "login", Source: "userName"}}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	return st, pol
}

func TestNew(t *testing.T) {
	st, pol := storeAndPolicy(t)
	mem := memory.New(memory.Config{})
	tests := []struct {
		name  string
		opts  Options
		valid bool
	}{
		{"complete", Options{Store: st, Policy: pol, Connectors: map[string]targets.Connector{"crm": mem}}, true},
		{"no store", Options{Policy: pol, Connectors: map[string]targets.Connector{"crm": mem}}, false},
		{"target without connector", Options{Store: st, Policy: pol}, false},
		{"connector without target", Options{Store: st, Policy: pol, Connectors: map[string]targets.Connector{"crm": mem, "x": mem}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := New(tt.opts)
			if tt.valid != (err == nil) || (err != nil && !errors.Is(err, ErrConfig)) {
				t.Fatalf("New: %v", err)
			}
			if e != nil {
				e.Start(t.Context())
				e.Close()
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	e := &Engine{opts: Options{BackoffBase: 100 * time.Millisecond, BackoffMax: time.Second}}
	tests := []struct {
		attempts int
		lo, hi   time.Duration
	}{
		{1, 50 * time.Millisecond, 100 * time.Millisecond},
		{2, 100 * time.Millisecond, 200 * time.Millisecond},
		{4, 400 * time.Millisecond, 800 * time.Millisecond},
		{5, 500 * time.Millisecond, time.Second},
		{60, 500 * time.Millisecond, time.Second},
	}
	for _, tt := range tests {
		for range 50 {
			if d := e.backoff(tt.attempts); d < tt.lo || d > tt.hi {
				t.Errorf("backoff(%d) = %v, want in [%v, %v]", tt.attempts, d, tt.lo, tt.hi)
			}
		}
	}
}

func TestPayloadRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want any
	}{
		{"string", "a", "a"},
		{"bool", true, true},
		{"int64", int64(42), int64(42)},
		{"float64", 1.5, 1.5},
		{"strings", []string{"a", "b"}, []string{"a", "b"}},
		{"nil clears", nil, nil},
		{"secret revealed", policy.Secret{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(payload{Op: opUpdate, Attrs: reveal(map[string]any{"k": tt.in})})
			if err != nil {
				t.Fatal(err)
			}
			got, err := decodePayload(b)
			if err != nil {
				t.Fatal(err)
			}
			if v, ok := got.Attrs["k"]; !ok || !reflect.DeepEqual(v, tt.want) {
				t.Errorf("round trip of %#v = %#v, want %#v", tt.in, v, tt.want)
			}
		})
	}
}

func TestDiff(t *testing.T) {
	prev := map[string]any{"a": "x", "n": float64(3), "l": []any{"p", "q"}, "gone": "kept"}
	tests := []struct {
		name string
		next map[string]any
		want map[string]any
	}{
		{"same values after JSON", map[string]any{"a": "x", "n": int64(3), "l": []string{"p", "q"}}, map[string]any{}},
		{"changed and new", map[string]any{"a": "y", "new": nil}, map[string]any{"a": "y", "new": nil}},
		{"absent attributes are left alone", map[string]any{}, map[string]any{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := diff(prev, tt.next); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("diff = %#v, want %#v", got, tt.want)
			}
		})
	}
}
