package review_test

import (
	"slices"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/guest"
	"github.com/scimgate/scimgate/internal/review"
)

// TestDeniedGuests: a quarterly review of crm's guests only (the guest
// lifecycle's rules say who is one): a denied guest is blocked in every
// target at the end, through the guest lifecycle, and deleted after its
// grace period; an approved guest's access counts from the end of the
// review (expiry.afterApproval); members are not reviewed. A guest whose
// access a review denied is not reviewed again in the next quarter.
func TestDeniedGuests(t *testing.T) {
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
	w.withGuests(guest.Config{Rules: []guest.RuleConfig{{UPNExternal: true}},
		Expiry: guest.ExpiryConfig{Lifetime: 2 * 8760 * time.Hour, AfterApproval: 120 * 24 * time.Hour}, Grace: 30 * 24 * time.Hour})
	mia := w.user("mia@contoso.example", "", nil)
	gus := w.user("gus_fabrikam.com#EXT#@contoso.example", mia, nil)
	gwen := w.user("gwen_fabrikam.com#EXT#@contoso.example", mia, nil)
	w.user("ada@contoso.example", mia, nil)
	w.settle()
	w.start([]review.Config{{Name: "crm-guests", Scope: review.ScopeGuestsOnly, Resource: review.ResourceConfig{Target: "crm"},
		Reviewers:  review.ReviewersConfig{Type: review.ReviewersManager},
		Recurrence: review.RecurrenceConfig{Pattern: review.PatternQuarterly, DurationDays: 14, StartDate: "2026-01-05"},
		Settings:   review.SettingsConfig{AutoApply: true, DeniedGuests: review.DeniedGuestsBlockThenDelete}}},
		func(o *review.Options) {
			rules, err := guest.Compile(guest.Config{Rules: []guest.RuleConfig{{UPNExternal: true}}, Expiry: guest.ExpiryConfig{Lifetime: time.Hour}}, guest.Options{})
			if err != nil {
				t.Fatal(err)
			}
			o.IsGuest = func(u map[string]any, gs []guest.GroupRef) bool { ok, _ := rules.Classify(u, gs); return ok }
		})
	w.at(t0)
	in := w.instances("crm-guests")[0]
	if got := sorted(w.items(in.ID)); !slices.Equal(got, []string{
		"gus_fabrikam.com#EXT#@contoso.example: Approve (no sign-in information) [" + mia + "] NotReviewed ",
		"gwen_fabrikam.com#EXT#@contoso.example: Approve (no sign-in information) [" + mia + "] NotReviewed ",
	}) {
		t.Fatalf("items %q", got)
	}
	if err := w.svc.Decide(t.Context(), mia, in.ID, []review.Decision{
		{Item: w.item(in.ID, "gus_fabrikam.com#EXT#@contoso.example"), Decision: review.Deny, Justification: "project over"},
		{Item: w.item(in.ID, "gwen_fabrikam.com#EXT#@contoso.example"), Decision: review.Approve},
	}); err != nil {
		t.Fatal(err)
	}
	w.at(t0.AddDate(0, 0, 13))
	state := func(upn string) string { return w.account("crm", upn) + ", " + w.account("wiki", upn) }
	if got := state("gus_fabrikam.com#EXT#@contoso.example"); got != "enabled, enabled" {
		t.Errorf("gus before the end: %s", got)
	}
	end := t0.AddDate(0, 0, 14)
	w.at(end)
	if got := state("gus_fabrikam.com#EXT#@contoso.example"); got != "disabled, disabled" {
		t.Errorf("gus after the end: %s, want blocked in both targets", got)
	}
	rec, err := w.guests.Guest(t.Context(), gwen)
	if err != nil {
		t.Fatal(err)
	}
	if !rec.LastApproval.Equal(end) || !rec.Expiry.Equal(end.Add(120*24*time.Hour)) || rec.Why != "expiry.afterApproval" {
		t.Errorf("gwen's record: approval %v, expiry %v by %s", rec.LastApproval, rec.Expiry, rec.Why)
	}
	if rec, err := w.guests.Guest(t.Context(), gus); err != nil || !rec.DeniedAt.Equal(end) || rec.Status() != "blocked" {
		t.Errorf("gus's record: denied %v, %s, %v", rec.DeniedAt, rec.Status(), err)
	}
	if got := sorted(w.items(in.ID)); !slices.Equal(got, []string{
		"gus_fabrikam.com#EXT#@contoso.example: Approve (no sign-in information) [" + mia + "] Deny Applied",
		"gwen_fabrikam.com#EXT#@contoso.example: Approve (no sign-in information) [" + mia + "] Approve Applied",
	}) {
		t.Errorf("items at the end %q", got)
	}
	w.at(end.AddDate(0, 0, 29))
	if got := state("gus_fabrikam.com#EXT#@contoso.example"); got != "disabled, disabled" {
		t.Errorf("gus before the grace period's end: %s", got)
	}
	w.at(end.AddDate(0, 0, 30))
	if got := state("gus_fabrikam.com#EXT#@contoso.example"); got != "gone, gone" {
		t.Errorf("gus after the grace period: %s, want deleted in both", got)
	}
	if got := state("gwen_fabrikam.com#EXT#@contoso.example"); got != "enabled, enabled" {
		t.Errorf("gwen: %s", got)
	}
	// The next quarter reviews Gwen only: Gus is gone.
	w.at(time.Date(2026, 4, 5, 0, 0, 0, 0, time.UTC))
	ins := w.instances("crm-guests")
	if len(ins) != 2 {
		t.Fatalf("%d instances", len(ins))
	}
	if got := w.items(ins[1].ID); len(got) != 1 || got[0] != "gwen_fabrikam.com#EXT#@contoso.example: Approve (no sign-in information) ["+mia+"] NotReviewed " {
		t.Errorf("next quarter: %q", got)
	}

}
