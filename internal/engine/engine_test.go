package engine

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/internal/store/sqlstore"
	"github.com/scimgate/scimgate/policy"
	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/memory"
)

// storeAndPolicy returns a fresh store and a policy with one target, crm,
// that receives every user.
func storeAndPolicy(t *testing.T) (store.Store, *policy.Policy) {
	t.Helper()
	st, err := sqlstore.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "db"))
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

// TestAdminUnknownTarget: every administrative call that names a target
// refuses an unknown one with ErrUnknownTarget, and changes nothing.
func TestAdminUnknownTarget(t *testing.T) {
	st, pol := storeAndPolicy(t)
	e, err := New(Options{Store: st, Policy: pol, Connectors: map[string]targets.Connector{"crm": memory.New(memory.Config{})}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		call func() error
	}{
		{"Held", func() error { _, err := e.Held(t.Context(), "nope", 10); return err }},
		{"Release", func() error { _, err := e.Release(t.Context(), "nope"); return err }},
		{"Discard", func() error { _, err := e.Discard(t.Context(), "nope"); return err }},
		{"DeadLetters", func() error { _, err := e.DeadLetters(t.Context(), "nope", 10); return err }},
		{"Retry", func() error { return e.Retry(t.Context(), "nope", 1) }},
		{"DiscardDead", func() error { return e.DiscardDead(t.Context(), "nope", 1) }},
		{"ResyncObject", func() error { _, err := e.ResyncObject(t.Context(), "nope", targets.User, "u1"); return err }},
		{"ResyncTarget", func() error { _, err := e.ResyncTarget(t.Context(), "nope"); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, ErrUnknownTarget) {
				t.Errorf("%s of an unknown target: %v, want ErrUnknownTarget", tt.name, err)
			}
		})
	}
	if es, err := st.Audit(t.Context(), store.AuditQuery{Limit: 10}); err != nil || len(es) != 0 {
		t.Errorf("audit log after refused calls: %+v, %v; want empty", es, err)
	}
}
