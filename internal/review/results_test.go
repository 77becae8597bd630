package review_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/review"
	"github.com/scimgate/scimgate/internal/store"
)

// flakyEngine fails the holds of one user until told otherwise.
type flakyEngine struct {
	review.Engine
	user string
	down bool
}

func (f *flakyEngine) Hold(ctx context.Context, h store.Hold, sticky bool) (bool, error) {
	if f.down && h.User == f.user {
		return false, errors.New("database is locked")
	}
	return f.Engine.Hold(ctx, h, sticky)
}

// TestApplyResults: each item records its apply result: Applied, NotFound
// (the user was deleted in SCIM since the start), Failed with the error;
// an administrator's apply retries the failed ones only.
func TestApplyResults(t *testing.T) {
	t0 := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	w := newWorld(t, t0, `
targets:
  - name: crm
    users:
      scope: {all: true}
      mapping: [{target: userName, source: userName}]
    lifecycle: {outOfScope: delete}
`)
	w.user("ada@contoso.example", "", nil)
	bob := w.user("bob@contoso.example", "", nil)
	cy := w.user("cy@contoso.example", "", nil)
	w.settle()
	eng := &flakyEngine{Engine: w.eng, user: bob, down: true}
	w.start([]review.Config{{Name: "crm", Resource: review.ResourceConfig{Target: "crm"},
		Reviewers:  review.ReviewersConfig{Type: review.ReviewersNamed, Named: []string{"auditor@contoso.example"}},
		Recurrence: review.RecurrenceConfig{DurationDays: 2, StartDate: "2026-09-01"},
		Settings:   review.SettingsConfig{DefaultDecision: review.DefaultDeny, AutoApply: true}}},
		func(o *review.Options) { o.Engine = eng })
	w.at(t0)
	in := w.instances("crm")[0]
	w.scim("DELETE", "/Users/"+cy, nil)
	w.at(t0.AddDate(0, 0, 2))
	results := func() []string {
		its, err := w.svc.Items(t.Context(), in.ID)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, it := range its {
			out = append(out, it.UserName+": "+it.ApplyResult+": "+it.ApplyDetail)
		}
		return out
	}
	want := []string{
		"ada@contoso.example: Applied: account deleted in crm",
		"bob@contoso.example: Failed: database is locked",
		`cy@contoso.example: NotFound: user "` + cy + `": store: resource not found`,
	}
	if got := results(); !slices.Equal(got, want) {
		t.Errorf("results:\n got %q\nwant %q", got, want)
	}
	if got := w.account("crm", "ada@contoso.example") + ", " + w.account("crm", "bob@contoso.example"); got != "gone, enabled" {
		t.Errorf("crm: %s", got)
	}
	if got, _ := w.svc.Instance(t.Context(), in.ID); got.Status != store.ReviewApplied {
		t.Errorf("status %s", got.Status)
	}
	eng.down = false
	if n, err := w.svc.Apply(store.WithActor(t.Context(), "admin: ops"), in.ID); err != nil || n != 1 {
		t.Fatalf("Apply = %d, %v", n, err)
	}
	w.settle()
	want[1] = "bob@contoso.example: Applied: account deleted in crm"
	if got := results(); !slices.Equal(got, want) {
		t.Errorf("after the retry:\n got %q\nwant %q", got, want)
	}
	if got := w.account("crm", "bob@contoso.example"); got != "gone" {
		t.Errorf("bob in crm: %s", got)
	}
}
