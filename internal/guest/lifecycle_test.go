package guest_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/engine"
	"github.com/scimgate/scimgate/internal/entra"
	"github.com/scimgate/scimgate/internal/guest"
	"github.com/scimgate/scimgate/internal/notify"
	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/internal/store/sqlstore"
	"github.com/scimgate/scimgate/policy"
	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/memory"
)

// flakyEntra is an Entra whose Disable fails until told otherwise.
type flakyEntra struct {
	mu       sync.Mutex
	down     bool
	disabled []string
}

func (f *flakyEntra) LookupUser(context.Context, string) (*entra.User, error) {
	return &entra.User{}, nil
}
func (f *flakyEntra) Enable(context.Context, string) error     { return nil }
func (f *flakyEntra) DeleteUser(context.Context, string) error { return nil }
func (f *flakyEntra) Disable(_ context.Context, upn string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return errors.New("graph: 503 service unavailable")
	}
	f.disabled = append(f.disabled, upn)
	return nil
}

// refusingSender refuses every email for good.
type refusingSender struct{ tried int }

func (s *refusingSender) SendEmail(context.Context, notify.Email) error {
	s.tried++
	return fmt.Errorf("550 mailbox unavailable: %w", notify.ErrPermanent)
}
func (s *refusingSender) Notify(context.Context, string, notify.Message) error { return nil }

// engineWorld is a store and an engine with a memory target crm whose
// users are all in scope.
func engineWorld(t *testing.T) (store.Store, *engine.Engine, *memory.Connector) {
	t.Helper()
	st, err := sqlstore.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	pol, err := policy.Compile(policy.Config{Targets: []policy.TargetConfig{{Name: "crm",
		Users: &policy.ObjectConfig{Scope: policy.ScopeConfig{All: true}, Mapping: []policy.MappingConfig{{Target: "login", Source: "userName"}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	mem := memory.New(memory.Config{})
	eng, err := engine.New(engine.Options{Store: st, Policy: pol, Connectors: map[string]targets.Connector{"crm": mem}})
	if err != nil {
		t.Fatal(err)
	}
	return st, eng, mem
}

// settleEngine plans and delivers what is due, a few rounds.
func settleEngine(t *testing.T, ctx context.Context, eng *engine.Engine) {
	t.Helper()
	for range 3 {
		if err := eng.PlanOnce(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := eng.DeliverDue(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLifecycleFailures: a notice that cannot go out for good is skipped
// (recorded, not retried) and does not hold up the block; a block that
// fails in Entra is retried with backoff, not recorded as done, and done
// once when Entra is back.
func TestLifecycleFailures(t *testing.T) {
	ctx := store.WithActor(t.Context(), "scim")
	st, eng, mem := engineWorld(t)
	now := time.Now().UTC()
	rules, err := guest.Compile(guest.Config{Rules: []guest.RuleConfig{{UPNExternal: true}},
		Expiry: guest.ExpiryConfig{Lifetime: 72 * time.Hour}, Notices: []time.Duration{48 * time.Hour}, NoticeTo: []string{"guest"},
		BlockInEntra: true}, guest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ent := &flakyEntra{down: true}
	mail := &refusingSender{}
	lc, err := guest.NewLifecycle(guest.LifecycleOptions{Store: st, Rules: rules, Engine: eng, Entra: ent, Sender: mail,
		Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	data := `{"id":"g1","userName":"gus_x.com#EXT#@contoso.com","emails":[{"value":"gus@x.com"}]}`
	if err := st.Write(ctx, func(ctx context.Context, tx store.Tx) error {
		if err := tx.Create(ctx, &store.Resource{Type: "User", ID: "g1", Unique: "gus", Data: []byte(data)}); err != nil {
			return err
		}
		return lc.OnChanges(ctx, tx, []store.Change{{Type: "User", ID: "g1"}})
	}); err != nil {
		t.Fatal(err)
	}
	settle := func() { settleEngine(t, ctx, eng) }
	settle()
	rec, err := lc.Guest(ctx, "g1")
	if err != nil {
		t.Fatal(err)
	}
	expiry := rec.Expiry // created (the store's clock) + 72h
	if rec.Why != "expiry.lifetime" || expiry.Before(now.Add(71*time.Hour)) {
		t.Fatalf("record %+v", rec)
	}
	run := func() int {
		t.Helper()
		n, err := lc.RunDue(ctx)
		if err != nil {
			t.Fatal(err)
		}
		settle()
		return n
	}
	// The notice (48h before): the mail server refuses it for good: it
	// is skipped, not retried.
	now = expiry.Add(-47 * time.Hour)
	if n := run(); n != 1 || mail.tried != 1 {
		t.Fatalf("notice step: %d steps done, %d emails tried; want 1 (skipped), 1", n, mail.tried)
	}
	rec, _ = lc.Guest(ctx, "g1")
	if rec.Next == nil || rec.Next.Kind != guest.Block || rec.Attempts != 0 {
		t.Fatalf("after the skipped notice: next %+v, attempts %d", rec.Next, rec.Attempts)
	}
	// The block at expiry: Entra fails; the step is retried later, not
	// recorded.
	now = expiry
	if n := run(); n != 0 {
		t.Fatalf("a failing block: %d steps done", n)
	}
	rec, _ = lc.Guest(ctx, "g1")
	if rec.Status() != "active" || rec.Attempts != 1 || !strings.Contains(rec.LastError, "503") {
		t.Fatalf("after the failed block: %s, attempts %d, error %q", rec.Status(), rec.Attempts, rec.LastError)
	}
	if n := run(); n != 0 { // not due again before its backoff
		t.Fatalf("retried before the backoff: %d", n)
	}
	ent.mu.Lock()
	ent.down = false
	ent.mu.Unlock()
	now = now.Add(time.Minute)
	if n := run(); n != 1 {
		t.Fatalf("the block after Entra came back: %d steps done, want 1", n)
	}
	rec, _ = lc.Guest(ctx, "g1")
	if rec.Status() != "blocked" || rec.Attempts != 0 || rec.LastError != "" || len(ent.disabled) != 1 {
		t.Fatalf("blocked: %s, attempts %d, error %q, Entra disables %v", rec.Status(), rec.Attempts, rec.LastError, ent.disabled)
	}
	for _, o := range mem.Snapshot() {
		if o.Kind == targets.User && !o.Disabled {
			t.Errorf("the account %v is not disabled", o.Attrs)
		}
	}
}

// TestLifecycleReviews: an approval starts the access of afterApproval;
// a denial blocks the guest at once (and schedules the delete), whatever
// its expiry; an extension withdraws the denial and unblocks; an
// approval of a user the lifecycle does not track changes nothing.
func TestLifecycleReviews(t *testing.T) {
	ctx := store.WithActor(t.Context(), "review")
	st, eng, mem := engineWorld(t)
	rules, err := guest.Compile(guest.Config{Rules: []guest.RuleConfig{{HomeDomains: []string{"contoso.com"}}},
		Expiry: guest.ExpiryConfig{AfterApproval: 30 * 24 * time.Hour}}, guest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	lc, err := guest.NewLifecycle(guest.LifecycleOptions{Store: st, Rules: rules, Engine: eng, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"gil@x.com", "mia@contoso.com"} {
		if err := st.Write(ctx, func(ctx context.Context, tx store.Tx) error {
			if err := tx.Create(ctx, &store.Resource{Type: "User", ID: u, Unique: u, Data: []byte(`{"id":"` + u + `","userName":"` + u + `"}`)}); err != nil {
				return err
			}
			return lc.OnChanges(ctx, tx, []store.Change{{Type: "User", ID: u}})
		}); err != nil {
			t.Fatal(err)
		}
	}
	settle := func() {
		t.Helper()
		if _, err := lc.RunDue(ctx); err != nil {
			t.Fatal(err)
		}
		settleEngine(t, ctx, eng)
	}
	settle()
	disabled := func() bool {
		t.Helper()
		for _, o := range mem.Snapshot() {
			if o.Attrs["login"] == "gil@x.com" {
				return o.Disabled
			}
		}
		t.Fatal("no account of gil")
		return false
	}
	rec := func() guest.Record {
		t.Helper()
		r, err := lc.Guest(ctx, "gil@x.com")
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := rec(); !r.Expiry.IsZero() {
		t.Fatalf("before any review: expiry %v", r.Expiry)
	}
	if err := lc.Approve(ctx, "gil@x.com", now); err != nil {
		t.Fatal(err)
	}
	if r := rec(); !r.Expiry.Equal(now.Add(30*24*time.Hour)) || r.Why != "expiry.afterApproval" {
		t.Fatalf("after the approval: %v by %s", r.Expiry, r.Why)
	}
	now = now.Add(24 * time.Hour)
	if err := lc.Deny(ctx, "gil@x.com", now); err != nil {
		t.Fatal(err)
	}
	settle()
	if r := rec(); r.Status() != "blocked" || r.Why != "denied in an access review" || r.Next == nil || r.Next.Kind != guest.Delete {
		t.Fatalf("after the denial: %s by %s, next %+v", r.Status(), r.Why, r.Next)
	}
	if !disabled() {
		t.Fatal("the denied guest is not disabled")
	}
	if _, err := lc.Extend(ctx, "gil@x.com", now.Add(90*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	settle()
	if r := rec(); r.Status() != "active" || disabled() {
		t.Fatalf("after the extension: %s, disabled %v", r.Status(), disabled())
	}
	if err := lc.Approve(ctx, "mia@contoso.com", now); err != nil {
		t.Fatal(err)
	}
	if _, err := lc.Guest(ctx, "mia@contoso.com"); !errors.Is(err, guest.ErrNotGuest) {
		t.Fatalf("a member's approval made a record: %v", err)
	}
}

// TestLifecycleGroupRename: a group renamed to the group of a guest rule
// makes every one of its members a guest, the first included (a change
// of the group itself carries no member delta: its members are read).
func TestLifecycleGroupRename(t *testing.T) {
	ctx := store.WithActor(t.Context(), "scim")
	st, eng, _ := engineWorld(t)
	rules, err := guest.Compile(guest.Config{Rules: []guest.RuleConfig{{Group: "Contractors"}},
		Expiry: guest.ExpiryConfig{Lifetime: 72 * time.Hour}}, guest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	lc, err := guest.NewLifecycle(guest.LifecycleOptions{Store: st, Rules: rules, Engine: eng})
	if err != nil {
		t.Fatal(err)
	}
	write := func(fn func(ctx context.Context, tx store.Tx) error) {
		t.Helper()
		if err := st.Write(ctx, fn); err != nil {
			t.Fatal(err)
		}
	}
	write(func(ctx context.Context, tx store.Tx) error {
		for _, u := range []string{"ann", "ben"} {
			if err := tx.Create(ctx, &store.Resource{Type: "User", ID: u, Unique: u, Data: []byte(`{"id":"` + u + `","userName":"` + u + `"}`)}); err != nil {
				return err
			}
		}
		if err := tx.Create(ctx, &store.Resource{Type: "Group", ID: "g", Unique: "temp", Data: []byte(`{"id":"g","displayName":"Temp"}`)}); err != nil {
			return err
		}
		var ms []store.Member
		for _, u := range []string{"ann", "ben"} {
			ms = append(ms, store.Member{Value: u, Data: []byte(`{"value":"` + u + `"}`), Index: []store.IndexEntry{{Path: "members.value", Str: u}}})
		}
		_, err := tx.AddMembers(ctx, "Group", "g", ms)
		return err
	})
	write(func(ctx context.Context, tx store.Tx) error {
		g, err := tx.Get(ctx, "Group", "g")
		if err != nil {
			return err
		}
		if err := tx.Update(ctx, &store.Resource{Type: "Group", ID: "g", Unique: "contractors", Version: g.Version,
			Data: []byte(`{"id":"g","displayName":"Contractors"}`)}); err != nil {
			return err
		}
		return lc.OnChanges(ctx, tx, []store.Change{{Type: "Group", ID: "g"}})
	})
	for _, u := range []string{"ann", "ben"} {
		if r, err := lc.Guest(ctx, u); err != nil || r.Rule != "rules[0].group" {
			t.Errorf("%s after the rename: %+v %v; want a guest by the group rule", u, r, err)
		}
	}
}
