package engine

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/internal/store/sqlstore"
	"github.com/scimgate/scimgate/policy"
	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/memory"
)

// holdWorld is an engine with two memory targets, crm (users and groups)
// and hr (users), planned and delivered by hand on a fixed clock.
type holdWorld struct {
	t       *testing.T
	ctx     context.Context
	st      store.Store
	e       *Engine
	crm, hr *memory.Connector
}

func newHoldWorld(t *testing.T) *holdWorld {
	t.Helper()
	ctx := store.WithActor(t.Context(), "scim")
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	users := &policy.ObjectConfig{Scope: policy.ScopeConfig{All: true}, Mapping: []policy.MappingConfig{{Target: "login", Source: "userName"}}}
	pol, err := policy.Compile(policy.Config{Targets: []policy.TargetConfig{
		{Name: "crm", Users: users,
			Groups: &policy.ObjectConfig{Scope: policy.ScopeConfig{All: true}, Mapping: []policy.MappingConfig{{Target: "name", Source: "displayName"}}}},
		{Name: "hr", Users: users},
	}})
	if err != nil {
		t.Fatal(err)
	}
	w := &holdWorld{t: t, ctx: ctx, st: st, crm: memory.New(memory.Config{}), hr: memory.New(memory.Config{})}
	now := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	w.e, err = New(Options{Store: st, Policy: pol, Now: func() time.Time { return now },
		Connectors: map[string]targets.Connector{"crm": w.crm, "hr": w.hr}})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// write runs fn in a store transaction as SCIM would.
func (w *holdWorld) write(fn func(ctx context.Context, tx store.Tx) error) {
	w.t.Helper()
	if err := w.st.Write(w.ctx, fn); err != nil {
		w.t.Fatal(err)
	}
}

// user creates or replaces user id.
func (w *holdWorld) user(id string, active bool) {
	w.t.Helper()
	b, _ := json.Marshal(map[string]any{"id": id, "userName": id, "active": active})
	w.write(func(ctx context.Context, tx store.Tx) error {
		r := store.Resource{Type: "User", ID: id, Unique: id, Data: b}
		old, err := tx.Get(ctx, "User", id)
		if errors.Is(err, store.ErrNotFound) {
			return tx.Create(ctx, &r)
		}
		r.Version = old.Version
		return tx.Update(ctx, &r)
	})
}

// member adds (in) or removes user id to or from group gid in SCIM.
func (w *holdWorld) member(gid, id string, in bool) {
	w.t.Helper()
	w.write(func(ctx context.Context, tx store.Tx) error {
		if in {
			_, err := tx.AddMembers(ctx, "Group", gid, []store.Member{{Value: id, Data: []byte(`{"value":"` + id + `"}`),
				Index: []store.IndexEntry{{Path: "members.value", Str: id}}}})
			return err
		}
		_, err := tx.RemoveMembers(ctx, "Group", gid, []string{id})
		return err
	})
}

// settle plans and delivers everything due.
func (w *holdWorld) settle() {
	w.t.Helper()
	for range 5 {
		if err := w.e.PlanOnce(w.ctx); err != nil {
			w.t.Fatal(err)
		}
		if _, err := w.e.DeliverDue(w.ctx); err != nil {
			w.t.Fatal(err)
		}
	}
}

// account returns user id's account in target c, and whether it exists.
func (w *holdWorld) account(c *memory.Connector, login string) (targets.Object, bool) {
	for _, o := range c.Snapshot() {
		if o.Kind == targets.User && o.Attrs["login"] == login {
			return o, true
		}
	}
	return targets.Object{}, false
}

// members returns the logins of the members of crm's group name.
func (w *holdWorld) members(name string) []string {
	w.t.Helper()
	logins := map[string]string{}
	var group *targets.Object
	objs := w.crm.Snapshot()
	for i, o := range objs {
		if o.Kind == targets.User {
			logins[o.Anchor], _ = o.Attrs["login"].(string)
		}
		if o.Kind == targets.Group && o.Attrs["name"] == name {
			group = &objs[i]
		}
	}
	if group == nil {
		w.t.Fatalf("no group %q in crm", name)
	}
	out := []string{}
	for _, a := range group.Members {
		out = append(out, logins[a])
	}
	slices.Sort(out)
	return out
}

func (w *holdWorld) hold(h store.Hold, sticky bool) bool {
	w.t.Helper()
	changed, err := w.e.Hold(w.ctx, h, sticky)
	if err != nil {
		w.t.Fatalf("Hold %+v: %v", h, err)
	}
	return changed
}

func (w *holdWorld) holds() []store.Hold {
	w.t.Helper()
	hs, err := w.st.Holds(w.ctx, store.HoldQuery{})
	if err != nil {
		w.t.Fatal(err)
	}
	return hs
}

// TestHoldAccount: a workflow's disable outlives unrelated SCIM changes
// and lapses when SCIM changes the user's active state; an enable holds an
// inactive user's account enabled; a sticky delete removes the account
// from every target until it is released, and the release re-creates it;
// a user deleted in SCIM loses its holds. Reconciliation sees the holds
// as the planner does: no drift.
func TestHoldAccount(t *testing.T) {
	w := newHoldWorld(t)
	w.user("alice", true)
	w.user("bob", false)
	w.settle()
	disabled := func(c *memory.Connector, login string) bool {
		t.Helper()
		o, ok := w.account(c, login)
		if !ok {
			t.Fatalf("no account %q", login)
		}
		return o.Disabled
	}
	if disabled(w.crm, "alice") || !disabled(w.crm, "bob") {
		t.Fatal("initial accounts")
	}

	// A workflow disables alice in crm only.
	if !w.hold(store.Hold{User: "alice", Source: "workflow", Target: "crm", Action: store.HoldDisable, Reason: "last day"}, false) {
		t.Fatal("the disable changed nothing")
	}
	w.settle()
	if !disabled(w.crm, "alice") || disabled(w.hr, "alice") {
		t.Fatal("after the workflow's disable: want disabled in crm only")
	}
	w.user("alice", true) // an unrelated change (the same active state)
	w.settle()
	if !disabled(w.crm, "alice") {
		t.Fatal("an unrelated SCIM change undid the workflow's disable")
	}
	rep, err := w.e.Reconcile(w.ctx, "crm", true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Changes != 0 {
		t.Fatalf("reconciliation sees drift in the held accounts: %+v", rep.Items)
	}
	w.user("alice", false) // SCIM speaks: the hold lapses
	w.settle()
	if len(w.holds()) != 0 {
		t.Fatalf("the hold did not lapse: %+v", w.holds())
	}
	w.user("alice", true)
	w.settle()
	if disabled(w.crm, "alice") {
		t.Fatal("SCIM's enable after the lapse did not enable")
	}

	// A workflow enables bob (inactive in SCIM: a pre-hire) in every target.
	w.hold(store.Hold{User: "bob", Source: "workflow", Action: store.HoldEnable}, false)
	w.settle()
	if disabled(w.crm, "bob") || disabled(w.hr, "bob") {
		t.Fatal("the workflow's enable did not enable bob")
	}
	// ... and disables him again: its enable is replaced, and since SCIM
	// says inactive, nothing is held.
	w.hold(store.Hold{User: "bob", Source: "workflow", Action: store.HoldDisable}, false)
	w.settle()
	if !disabled(w.crm, "bob") || len(w.holds()) != 0 {
		t.Fatalf("after the workflow's disable: disabled %v, holds %+v", disabled(w.crm, "bob"), w.holds())
	}

	// The guest lifecycle deletes alice everywhere.
	w.hold(store.Hold{User: "alice", Source: "guest", Action: store.HoldDelete, Reason: "expired"}, true)
	w.settle()
	if _, ok := w.account(w.crm, "alice"); ok {
		t.Fatal("alice still in crm")
	}
	if _, ok := w.account(w.hr, "alice"); ok {
		t.Fatal("alice still in hr")
	}
	w.user("alice", false)
	w.user("alice", true)
	w.settle()
	if _, ok := w.account(w.crm, "alice"); ok {
		t.Fatal("a SCIM change re-created a deleted guest")
	}
	if rep, err := w.e.Reconcile(w.ctx, "hr", true, nil); err != nil || rep.Changes != 0 {
		t.Fatalf("reconciliation of the held delete: %+v %v", rep.Items, err)
	}
	n, err := w.e.ReleaseHolds(w.ctx, store.HoldQuery{User: "alice", Source: "guest"})
	if err != nil || n != 1 {
		t.Fatalf("release: %d %v", n, err)
	}
	w.settle()
	if _, ok := w.account(w.crm, "alice"); !ok {
		t.Fatal("the release did not re-create alice")
	}

	// A user deleted in SCIM loses its holds.
	w.hold(store.Hold{User: "alice", Source: "guest", Action: store.HoldDisable}, true)
	w.write(func(ctx context.Context, tx store.Tx) error { return tx.Delete(ctx, "User", "alice") })
	w.settle()
	if hs := w.holds(); len(hs) != 0 {
		t.Fatalf("holds of a deleted user: %+v", hs)
	}
	audit, err := w.st.Audit(w.ctx, store.AuditQuery{ID: "alice", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, a := range audit {
		if a.Action == "hold" || a.Action == "release" || a.Action == "hold lapsed" {
			actions = append(actions, a.Action)
		}
	}
	slices.Reverse(actions)
	if want := []string{"hold", "hold lapsed", "hold", "release", "hold"}; !slices.Equal(actions, want) {
		t.Fatalf("audit of alice's holds: %v, want %v", actions, want)
	}
}

// TestHoldMembership: a workflow adds a user to a group in a target and
// removes another from it; changes of other members and of the group
// itself (which compare every member) keep them; reconciliation sees no
// drift; SCIM adding the first user to the group makes its hold lapse,
// so that SCIM's later removal removes it.
func TestHoldMembership(t *testing.T) {
	w := newHoldWorld(t)
	for _, u := range []string{"ann", "ben", "cat"} {
		w.user(u, true)
	}
	w.write(func(ctx context.Context, tx store.Tx) error {
		return tx.Create(ctx, &store.Resource{Type: "Group", ID: "g1", Unique: "sales", Data: []byte(`{"id":"g1","displayName":"Sales"}`)})
	})
	w.member("g1", "ben", true)
	w.settle()
	if got := w.members("Sales"); !slices.Equal(got, []string{"ben"}) {
		t.Fatalf("members %v", got)
	}
	w.hold(store.Hold{User: "ann", Source: "workflow", Target: "crm", Group: "g1", Action: store.HoldAdd}, false)
	w.hold(store.Hold{User: "ben", Source: "workflow", Target: "crm", Group: "g1", Action: store.HoldRemove}, false)
	w.settle()
	if got := w.members("Sales"); !slices.Equal(got, []string{"ann"}) {
		t.Fatalf("after the holds: members %v, want [ann]", got)
	}
	w.member("g1", "cat", true)                            // another member
	w.write(func(ctx context.Context, tx store.Tx) error { // the group itself
		old, err := tx.Get(ctx, "Group", "g1")
		if err != nil {
			return err
		}
		return tx.Update(ctx, &store.Resource{Type: "Group", ID: "g1", Unique: "sales", Version: old.Version,
			Data: []byte(`{"id":"g1","displayName":"Sales team"}`)})
	})
	if _, err := w.e.ResyncObject(w.ctx, "crm", targets.Group, "g1"); err != nil {
		t.Fatal(err)
	}
	w.settle()
	if got := w.members("Sales team"); !slices.Equal(got, []string{"ann", "cat"}) {
		t.Fatalf("after SCIM changes: members %v, want [ann cat]", got)
	}
	if rep, err := w.e.Reconcile(w.ctx, "crm", true, nil); err != nil || rep.Changes != 0 {
		t.Fatalf("reconciliation of the held memberships: %+v %v", rep.Items, err)
	}
	w.member("g1", "ann", true) // SCIM speaks about ann: her hold lapses
	w.settle()
	if hs := w.holds(); len(hs) != 1 || hs[0].User != "ben" {
		t.Fatalf("holds after SCIM added ann: %+v", hs)
	}
	w.member("g1", "ann", false)
	w.settle()
	if got := w.members("Sales team"); !slices.Equal(got, []string{"cat"}) {
		t.Fatalf("after SCIM removed ann: members %v, want [cat]", got)
	}
	n, err := w.e.ReleaseHolds(w.ctx, store.HoldQuery{User: "ben"})
	if err != nil || n != 1 {
		t.Fatalf("release: %d %v", n, err)
	}
	w.settle()
	if got := w.members("Sales team"); !slices.Equal(got, []string{"ben", "cat"}) {
		t.Fatalf("after the release: members %v, want [ben cat]", got)
	}
	w.write(func(ctx context.Context, tx store.Tx) error { return tx.Delete(ctx, "Group", "g1") })
	w.hold(store.Hold{User: "cat", Source: "workflow", Target: "crm", Group: "g1", Action: store.HoldRemove}, true)
	w.settle()
}

// TestHoldRefused: holds that are not well formed, name an unknown
// target, user or group, or a group the target does not hold, are refused
// and change nothing.
func TestHoldRefused(t *testing.T) {
	w := newHoldWorld(t)
	w.user("ann", true)
	w.write(func(ctx context.Context, tx store.Tx) error {
		return tx.Create(ctx, &store.Resource{Type: "Group", ID: "g1", Unique: "sales", Data: []byte(`{"id":"g1","displayName":"Sales"}`)})
	})
	for name, c := range map[string]struct {
		h    store.Hold
		want error
	}{
		"no source":            {store.Hold{User: "ann", Action: store.HoldDisable}, ErrBadHold},
		"unknown action":       {store.Hold{User: "ann", Source: "workflow", Action: "freeze"}, ErrBadHold},
		"unknown target":       {store.Hold{User: "ann", Source: "workflow", Target: "nope", Action: store.HoldDisable}, ErrUnknownTarget},
		"group without target": {store.Hold{User: "ann", Source: "workflow", Group: "g1", Action: store.HoldAdd}, ErrBadHold},
		"groups in hr":         {store.Hold{User: "ann", Source: "workflow", Target: "hr", Group: "g1", Action: store.HoldAdd}, ErrBadHold},
		"account with group":   {store.Hold{User: "ann", Source: "workflow", Target: "crm", Group: "g1", Action: store.HoldDisable}, ErrBadHold},
		"group not in crm":     {store.Hold{User: "ann", Source: "workflow", Target: "crm", Group: "g1", Action: store.HoldAdd}, ErrNotProvisioned},
		"unknown user":         {store.Hold{User: "zed", Source: "workflow", Action: store.HoldDisable}, store.ErrNotFound},
	} {
		if _, err := w.e.Hold(w.ctx, c.h, false); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	if _, err := w.e.ReleaseHolds(w.ctx, store.HoldQuery{Target: "crm"}); !errors.Is(err, ErrBadHold) {
		t.Errorf("a release naming neither user nor source: %v", err)
	}
	if hs := w.holds(); len(hs) != 0 {
		t.Fatalf("refused holds were kept: %+v", hs)
	}
}
