package review_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/guest"
	"github.com/scimgate/scimgate/internal/review"
	"github.com/scimgate/scimgate/internal/store"
)

// TestAdminDecideAndRevert: an administrator decides items on the
// reviewers' behalf (recorded and audited as the administrator's) while
// the instance is in progress and after its end until the results are
// applied, then no more; the review's required justification holds for
// them too. An applied denial is reverted one item at a time: the
// account in a target comes back (crm, disabled), as does a group's
// membership (Sales in crm); only applied denials revert, and a later
// Apply leaves a reverted item alone.
func TestAdminDecideAndRevert(t *testing.T) {
	t0 := time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)
	w := newWorld(t, t0, appPolicy)
	ctx := store.WithActor(t.Context(), "admin: root")
	mia := w.user("mia@contoso.example", "", nil)
	ada := w.user("ada@contoso.example", mia, nil)
	bob := w.user("bob@contoso.example", mia, nil)
	cy := w.user("cy@contoso.example", mia, nil)
	w.group("crm-users", ada, bob, cy)
	w.group("Sales", ada, bob)
	w.settle()
	oneTime := review.RecurrenceConfig{DurationDays: 7, StartDate: t0.Format(time.RFC3339)}
	w.start([]review.Config{
		{Name: "crm-access", Resource: review.ResourceConfig{Target: "crm"}, Reviewers: review.ReviewersConfig{Type: review.ReviewersManager},
			Recurrence: oneTime, Settings: review.SettingsConfig{JustificationRequired: true}},
		{Name: "sales-members", Resource: review.ResourceConfig{Group: "Sales"}, Reviewers: review.ReviewersConfig{Type: review.ReviewersSelf},
			Recurrence: oneTime, Settings: review.SettingsConfig{AutoApply: true}},
	})
	w.at(t0)
	crm, sales := w.instances("crm-access")[0], w.instances("sales-members")[0]
	ada1, bob1, cy1 := w.item(crm.ID, "ada@contoso.example"), w.item(crm.ID, "bob@contoso.example"), w.item(crm.ID, "cy@contoso.example")

	for _, c := range []struct {
		name string
		ds   []review.Decision
		want error
	}{
		{"no justification", []review.Decision{{Item: ada1, Decision: review.Deny}}, review.ErrBadDecision},
		{"no such item", []review.Decision{{Item: ada1, Decision: review.Deny, Justification: "x"}, {Item: 99, Decision: review.Deny, Justification: "x"}}, review.ErrNotFound},
		{"not a decision", []review.Decision{{Item: ada1, Decision: "Maybe", Justification: "x"}}, review.ErrBadDecision},
		{"nothing", nil, review.ErrBadDecision},
	} {
		if err := w.svc.AdminDecide(ctx, crm.ID, c.ds); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if got := w.items(crm.ID); strings.Contains(strings.Join(got, "\n"), "Deny [") {
		t.Fatalf("a refused batch changed items: %q", got)
	}
	if err := w.svc.AdminDecide(ctx, 999, []review.Decision{{Item: 1, Decision: review.Approve}}); !errors.Is(err, review.ErrNotFound) {
		t.Errorf("unknown instance: %v", err)
	}
	// In progress: on mia's behalf.
	if err := w.svc.AdminDecide(ctx, crm.ID, []review.Decision{{Item: ada1, Decision: review.Deny, Justification: "left the team"},
		{Item: bob1, Decision: review.Approve, Justification: "still needed"}}); err != nil {
		t.Fatal(err)
	}
	bobSales := w.item(sales.ID, "bob@contoso.example")
	if err := w.svc.AdminDecide(ctx, sales.ID, []review.Decision{{Item: bobSales, Decision: review.Deny}}); err != nil {
		t.Fatal(err)
	}
	// Ended, not applied (apply by an administrator): still decidable.
	w.at(t0.AddDate(0, 0, 7))
	if in, _ := w.svc.Instance(ctx, crm.ID); in.Status != store.ReviewCompleted {
		t.Fatalf("crm after its end: %s", in.Status)
	}
	if err := w.svc.AdminDecide(ctx, crm.ID, []review.Decision{{Item: cy1, Decision: review.Deny, Justification: "contract over"}}); err != nil {
		t.Fatalf("after the end, before apply: %v", err)
	}
	its, err := w.svc.Items(ctx, crm.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range its {
		if it.ReviewedBy != "admin: root" || it.ReviewedAt.IsZero() {
			t.Errorf("item %d: reviewed by %q at %v, want the administrator", it.Index, it.ReviewedBy, it.ReviewedAt)
		}
	}
	if _, err := w.svc.Apply(ctx, crm.ID); err != nil {
		t.Fatal(err)
	}
	w.settle()
	if err := w.svc.AdminDecide(ctx, crm.ID, []review.Decision{{Item: cy1, Decision: review.Approve, Justification: "x"}}); !errors.Is(err, review.ErrApplied) {
		t.Errorf("after apply: %v, want ErrApplied", err)
	}
	if a, c := w.account("crm", "ada@contoso.example"), w.account("crm", "cy@contoso.example"); a != "disabled" || c != "disabled" {
		t.Fatalf("denied in crm: ada %s, cy %s", a, c)
	}
	// Sales: bob denied by the administrator, applied at the end.
	if got := w.groupMembers("crm", "Sales"); !slices.Equal(got, []string{"ada@contoso.example"}) {
		t.Fatalf("Sales in crm: %q, want bob removed", got)
	}

	// Reverts.
	if _, err := w.svc.Revert(ctx, crm.ID, bob1); !errors.Is(err, review.ErrNotApplied) {
		t.Errorf("revert of an approval: %v, want ErrNotApplied", err)
	}
	if _, err := w.svc.Revert(ctx, crm.ID, 99); !errors.Is(err, review.ErrNotFound) {
		t.Errorf("revert of no item: %v, want ErrNotFound", err)
	}
	it, err := w.svc.Revert(ctx, crm.ID, ada1)
	if err != nil {
		t.Fatal(err)
	}
	if it.ApplyResult != review.Reverted || it.Decision != review.Deny || !strings.HasPrefix(it.ApplyDetail, "reverted by admin: root: 1 review hold(s) released") {
		t.Errorf("reverted item: %+v", it)
	}
	w.settle()
	if a, c := w.account("crm", "ada@contoso.example"), w.account("crm", "cy@contoso.example"); a != "enabled" || c != "disabled" {
		t.Errorf("after reverting ada: ada %s, cy %s; want ada enabled, cy still disabled", a, c)
	}
	if _, err := w.svc.Revert(ctx, crm.ID, ada1); !errors.Is(err, review.ErrNotApplied) {
		t.Errorf("a second revert: %v, want ErrNotApplied", err)
	}
	if _, err := w.svc.Apply(ctx, crm.ID); err != nil {
		t.Fatal(err)
	}
	w.settle()
	if a := w.account("crm", "ada@contoso.example"); a != "enabled" {
		t.Errorf("apply again re-applied the reverted denial: ada %s", a)
	}

	if _, err := w.svc.Revert(ctx, sales.ID, bobSales); err != nil {
		t.Fatal(err)
	}
	w.settle()
	if got := w.groupMembers("crm", "Sales"); !slices.Equal(got, []string{"ada@contoso.example", "bob@contoso.example"}) {
		t.Errorf("Sales in crm after the revert: %q, want bob back", got)
	}
	entries, err := w.st.Audit(ctx, store.AuditQuery{Limit: 200})
	if err != nil {
		t.Fatal(err)
	}
	var acts []string
	for _, e := range entries {
		if e.Actor == "admin: root" && (e.Action == "review decide" || e.Action == "review revert") {
			acts = append(acts, e.Action+" "+e.ID)
		}
	}
	slices.Sort(acts)
	if want := []string{"review decide " + ada, "review decide " + bob, "review decide " + bob, "review decide " + cy,
		"review revert " + ada, "review revert " + bob}; !slices.Equal(acts, want) {
		t.Errorf("audit:\n got %q\nwant %q", acts, want)
	}
}

// TestRevertDeniedGuest: a guest denied with blockThenDelete is blocked
// in every target at the end; reverting the item withdraws the guest
// lifecycle's denial: the guest is unblocked everywhere and not deleted
// after the grace period.
func TestRevertDeniedGuest(t *testing.T) {
	t0 := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	w := newWorld(t, t0, `
targets:
  - name: crm
    users:
      scope: {all: true}
      mapping: [{target: userName, source: userName}]
  - name: wiki
    users:
      scope: {all: true}
      mapping: [{target: userName, source: userName}]
`)
	rules := guest.Config{Rules: []guest.RuleConfig{{UPNExternal: true}}, Expiry: guest.ExpiryConfig{Lifetime: 2 * 8760 * time.Hour}, Grace: 30 * 24 * time.Hour}
	w.withGuests(rules)
	const gus = "gus_fabrikam.com#EXT#@contoso.example"
	mia := w.user("mia@contoso.example", "", nil)
	w.user(gus, mia, nil)
	w.settle()
	w.start([]review.Config{{Name: "crm-guests", Scope: review.ScopeGuestsOnly, Resource: review.ResourceConfig{Target: "crm"},
		Reviewers:  review.ReviewersConfig{Type: review.ReviewersManager},
		Recurrence: review.RecurrenceConfig{DurationDays: 14, StartDate: "2026-01-05"},
		Settings:   review.SettingsConfig{AutoApply: true, DeniedGuests: review.DeniedGuestsBlockThenDelete}}},
		func(o *review.Options) {
			c, err := guest.Compile(rules, guest.Options{})
			if err != nil {
				t.Fatal(err)
			}
			o.IsGuest = func(u map[string]any, gs []guest.GroupRef) bool { ok, _ := c.Classify(u, gs); return ok }
		})
	w.at(t0)
	in := w.instances("crm-guests")[0]
	idx := w.item(in.ID, gus)
	if err := w.svc.Decide(t.Context(), mia, in.ID, []review.Decision{{Item: idx, Decision: review.Deny}}); err != nil {
		t.Fatal(err)
	}
	w.at(t0.AddDate(0, 0, 14))
	state := func() string { return w.account("crm", gus) + ", " + w.account("wiki", gus) }
	if got := state(); got != "disabled, disabled" {
		t.Fatalf("gus after the end: %s, want blocked in both", got)
	}
	ctx := store.WithActor(t.Context(), "admin: root")
	it, err := w.svc.Revert(ctx, in.ID, idx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(it.ApplyDetail, "the guest lifecycle's denial withdrawn") {
		t.Errorf("apply detail %q", it.ApplyDetail)
	}
	w.at(t0.AddDate(0, 0, 15))
	if got := state(); got != "enabled, enabled" {
		t.Errorf("gus after the revert: %s, want unblocked in both", got)
	}
	w.at(t0.AddDate(0, 0, 14+31))
	if got := state(); got != "enabled, enabled" {
		t.Errorf("gus after the grace period: %s, want kept", got)
	}
}
