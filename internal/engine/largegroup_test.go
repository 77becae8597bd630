package engine

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/internal/store/sqlstore"
	"github.com/scimgate/scimgate/policy"
	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/memory"
)

// countingStore counts the engine's reads that grow with a group's size.
type countingStore struct {
	store.Store
	members, provisioned, provMembers atomic.Int64
}

func (s *countingStore) Members(ctx context.Context, typ, id string, after, limit int) ([]store.Member, error) {
	s.members.Add(1)
	return s.Store.Members(ctx, typ, id, after, limit)
}

func (s *countingStore) Provisioned(ctx context.Context, target, typ, id string) (store.Provisioned, error) {
	s.provisioned.Add(1)
	return s.Store.Provisioned(ctx, target, typ, id)
}

func (s *countingStore) ProvisionedMembers(ctx context.Context, target, gid string) ([]string, error) {
	s.provMembers.Add(1)
	return s.Store.ProvisionedMembers(ctx, target, gid)
}

func (s *countingStore) reset() {
	s.members.Store(0)
	s.provisioned.Store(0)
	s.provMembers.Store(0)
}

// TestLargeGroupMemberDelta: once a large group is provisioned, adding or
// removing one member plans one addMembers or removeMembers of that member,
// reading a bounded number of records, never the group's member list.
func TestLargeGroupMemberDelta(t *testing.T) {
	const n = 2000
	ctx := store.WithActor(t.Context(), "scim")
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	user := func(i int) store.Resource {
		id := fmt.Sprintf("u%05d", i)
		return store.Resource{Type: "User", ID: id, Unique: id, Data: []byte(`{"id":"` + id + `","userName":"` + id + `"}`)}
	}
	member := func(i int) store.Member {
		id := fmt.Sprintf("u%05d", i)
		return store.Member{Value: id, Data: []byte(`{"value":"` + id + `","type":"User"}`),
			Index: []store.IndexEntry{{Path: "members.value", Str: id}}}
	}
	err = st.Write(ctx, func(ctx context.Context, tx store.Tx) error {
		var ms []store.Member
		for i := range n + 1 {
			u := user(i)
			if err := tx.Create(ctx, &u); err != nil {
				return err
			}
			if i < n {
				ms = append(ms, member(i))
			}
		}
		g := store.Resource{Type: "Group", ID: "g", Unique: "staff", Data: []byte(`{"id":"g","displayName":"Staff"}`)}
		if err := tx.Create(ctx, &g); err != nil {
			return err
		}
		_, err := tx.AddMembers(ctx, "Group", "g", ms)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	pol, err := policy.Compile(policy.Config{Targets: []policy.TargetConfig{{Name: "crm",
		Users:  &policy.ObjectConfig{Scope: policy.ScopeConfig{All: true}, Mapping: []policy.MappingConfig{{Target: "userName", Source: "userName"}}},
		Groups: &policy.ObjectConfig{Scope: policy.ScopeConfig{All: true}, Mapping: []policy.MappingConfig{{Target: "name", Source: "displayName"}}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	cs := &countingStore{Store: st}
	mem := memory.New(memory.Config{})
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e, err := New(Options{Store: cs, Policy: pol, Connectors: map[string]targets.Connector{"crm": mem},
		Now: func() time.Time { return now }, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	run := func() {
		t.Helper()
		if err := e.PlanOnce(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := e.DeliverDue(ctx); err != nil {
			t.Fatal(err)
		}
	}
	run()
	groupMembersIn := func() int {
		for _, o := range mem.Snapshot() {
			if o.Kind == targets.Group {
				return len(o.Members)
			}
		}
		return -1
	}
	if got := groupMembersIn(); got != n {
		t.Fatalf("the target's group has %d members, want %d", got, n)
	}

	for _, step := range []struct {
		name string
		fn   func(ctx context.Context, tx store.Tx) error
		op   string
		want int
	}{
		{"remove one", func(ctx context.Context, tx store.Tx) error {
			_, err := tx.RemoveMembers(ctx, "Group", "g", []string{"u00042"})
			return err
		}, "RemoveMembers [u00042]", n - 1},
		{"add one", func(ctx context.Context, tx store.Tx) error {
			_, err := tx.AddMembers(ctx, "Group", "g", []store.Member{member(n)})
			return err
		}, fmt.Sprintf("AddMembers [u%05d]", n), n},
	} {
		t.Run(step.name, func(t *testing.T) {
			if err := st.Write(ctx, step.fn); err != nil {
				t.Fatal(err)
			}
			cs.reset()
			mem.ResetCalls()
			run()
			var ops []string
			for _, c := range mem.Calls() {
				if c.Op.Kind == targets.Group {
					ids := slices.Clone(c.Op.Members)
					for i, a := range ids {
						if o, err := mem.Get(ctx, targets.User, a); err == nil {
							ids[i], _ = o.Attrs["userName"].(string)
						}
					}
					ops = append(ops, fmt.Sprintf("%s %v", c.Method, ids))
				}
			}
			if want := []string{step.op}; !slices.Equal(ops, want) {
				t.Errorf("target calls %q, want %q", ops, want)
			}
			if got := groupMembersIn(); got != step.want {
				t.Errorf("the target's group has %d members, want %d", got, step.want)
			}
			if m, p, pm := cs.members.Load(), cs.provisioned.Load(), cs.provMembers.Load(); m != 0 || pm != 0 || p > 20 {
				t.Errorf("planning one member change read the member list %d times, the recorded members %d times and %d records; want 0, 0 and a few", m, pm, p)
			}
		})
	}
}
