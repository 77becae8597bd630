package review_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/review"
)

// TestNotices: at the start every reviewer gets a notice (the manager,
// the fallback reviewer of a user without a manager, who is no SCIM user
// but an address), and the channel; each once, however often RunDue
// runs; halfway and on the last day the reviewers with pending items get
// a reminder; a reviewer an item is reassigned to gets the start notice;
// a notice refused for good is recorded and never tried again, one that
// failed for now is sent at the next run; with reminders off only the
// start notices go.
func TestNotices(t *testing.T) {
	t0 := time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)
	w := newWorld(t, t0, "")
	mia := w.user("mia@contoso.example", "", nil)
	nina := w.user("nina@contoso.example", "", nil)
	oli := w.user("oli", "", nil) // no email address
	ada := w.user("ada@contoso.example", mia, nil)
	bob := w.user("bob@contoso.example", mia, nil)
	cy := w.user("cy@contoso.example", "", nil)
	pat := w.user("pat@contoso.example", oli, nil)
	w.group("Finance", ada, bob, cy, pat)
	def := review.Config{Name: "finance", Resource: review.ResourceConfig{Group: "Finance"},
		Reviewers: review.ReviewersConfig{Type: review.ReviewersManager}, FallbackReviewers: []string{"Audit@Contoso.example"},
		Recurrence: review.RecurrenceConfig{DurationDays: 10, StartDate: t0.Format(time.RFC3339)},
		Settings:   review.SettingsConfig{Channels: []string{"ops"}}}
	w.mail.fail = func(to string) error {
		if to == "audit@contoso.example" && w.mail.tries[to] == 1 {
			return transient("421 try again later")
		}
		return nil
	}
	w.start([]review.Config{def})
	w.at(t0)
	in := w.instances("finance")[0]
	if got, want := w.items(in.ID), []string{
		"ada@contoso.example: Approve (no sign-in information) [" + mia + "] NotReviewed ",
		"bob@contoso.example: Approve (no sign-in information) [" + mia + "] NotReviewed ",
		"cy@contoso.example: Approve (no sign-in information) [audit@contoso.example] NotReviewed ",
		"pat@contoso.example: Approve (no sign-in information) [" + oli + "] NotReviewed ",
	}; !slices.Equal(sorted(got), want) {
		t.Fatalf("items:\n got %q\nwant %q", got, want)
	}
	// The address's notice failed for now; oli has no address: recorded.
	want := []string{"mia@contoso.example: Access review finance: 2 decision(s) to make by 2026-05-14 09:00 UTC"}
	if got := w.mail.take(); !slices.Equal(got, want) {
		t.Errorf("start notices:\n got %q\nwant %q", got, want)
	}
	if got := w.mail.takePosts(); !slices.Equal(got, []string{"ops: Access review finance: 4 decision(s) to make by 2026-05-14 09:00 UTC"}) {
		t.Errorf("channel: %q", got)
	}
	w.at(t0.Add(time.Hour))
	if got := w.mail.take(); !slices.Equal(got, []string{"audit@contoso.example: Access review finance: 1 decision(s) to make by 2026-05-14 09:00 UTC"}) {
		t.Errorf("the retried notice: %q", got)
	}
	w.at(t0.Add(2 * time.Hour))
	if got := w.mail.take(); len(got) != 0 || len(w.mail.takePosts()) != 0 {
		t.Errorf("notices sent again: %q", got)
	}
	// Mia decides Ada and hands Bob to Nina; the auditor decides Cy.
	ctx := t.Context()
	if err := w.svc.Decide(ctx, mia, in.ID, []review.Decision{{Item: w.item(in.ID, "ada@contoso.example"), Decision: review.Approve}}); err != nil {
		t.Fatal(err)
	}
	if err := w.svc.Reassign(ctx, mia, in.ID, []int{w.item(in.ID, "bob@contoso.example")}, "NINA@contoso.example"); err != nil {
		t.Fatal(err)
	}
	if got := w.items(in.ID)[w.item(in.ID, "bob@contoso.example")-1]; got != "bob@contoso.example: Approve (no sign-in information) ["+nina+"] NotReviewed " {
		t.Errorf("reassigned item: %s", got)
	}
	w.at(t0.Add(3 * time.Hour))
	if got := w.mail.take(); !slices.Equal(got, []string{"nina@contoso.example: Access review finance: 1 decision(s) to make by 2026-05-14 09:00 UTC"}) {
		t.Errorf("after the reassignment: %q", got)
	}
	// Halfway (day 5): the reviewers with pending items.
	w.at(t0.AddDate(0, 0, 5).Add(-time.Minute))
	if got := w.mail.take(); len(got) != 0 {
		t.Errorf("before halfway: %q", got)
	}
	w.at(t0.AddDate(0, 0, 5))
	want = []string{
		"audit@contoso.example: Reminder: access review finance has 1 decision(s) pending",
		"nina@contoso.example: Reminder: access review finance has 1 decision(s) pending",
	}
	if got := w.mail.take(); !slices.Equal(got, want) {
		t.Errorf("halfway:\n got %q\nwant %q", got, want)
	}
	if got := w.mail.takePosts(); !slices.Equal(got, []string{"ops: Reminder: access review finance has 3 decision(s) pending"}) {
		t.Errorf("channel halfway: %q", got)
	}
	if err := w.svc.Decide(ctx, "audit@contoso.example", in.ID, []review.Decision{{Item: w.item(in.ID, "cy@contoso.example"),
		Decision: review.Deny, Justification: "left"}}); err != nil {
		t.Fatal(err)
	}
	// The last day: Nina only (the auditor has nothing pending).
	w.at(t0.AddDate(0, 0, 9))
	if got := w.mail.take(); !slices.Equal(got, []string{"nina@contoso.example: Reminder: access review finance ends on 2026-05-14 09:00 UTC"}) {
		t.Errorf("last day: %q", got)
	}
	w.at(t0.AddDate(0, 0, 9).Add(time.Hour))
	if got := w.mail.take(); len(got) != 0 {
		t.Errorf("last-day reminder again: %q", got)
	}
	if w.mail.tries["oli"] != 0 {
		t.Errorf("an email to oli's non-address was tried")
	}
	notices, err := w.st.ReviewNotices(ctx, in.ID)
	if err != nil {
		t.Fatal(err)
	}
	var oliNotices []string
	for _, n := range notices {
		if n.Recipient == oli {
			oliNotices = append(oliNotices, n.Kind+": "+n.Error)
		}
	}
	if want := []string{"started: reviewer oli has no email address: permanent failure", "halfway: reviewer oli has no email address: permanent failure",
		"lastDay: reviewer oli has no email address: permanent failure"}; !slices.Equal(oliNotices, want) {
		t.Errorf("oli's notices:\n got %q\nwant %q", oliNotices, want)
	}
	w.at(t0.AddDate(0, 0, 10))
	if got := w.instances("finance")[0]; got.Status != "Completed" || len(w.mail.take()) != 0 {
		t.Errorf("at the end: %s", got.Status)
	}

	// Reminders off: the start notice only.
	w2 := newWorld(t, t0, "")
	w2.group("Finance", w2.user("ada@contoso.example", w2.user("mia@contoso.example", "", nil), nil))
	off := false
	def.Settings = review.SettingsConfig{Reminders: &off}
	w2.start([]review.Config{def})
	for d := range 11 {
		w2.at(t0.AddDate(0, 0, d))
	}
	if got := w2.mail.take(); !slices.Equal(got, []string{"mia@contoso.example: Access review finance: 1 decision(s) to make by 2026-05-14 09:00 UTC"}) {
		t.Errorf("reminders off: %q", got)
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// TestRemind: an administrator's reminder goes out now to the reviewers
// with pending items (not to one who decided everything), again each
// time it is asked for, and is refused once the instance has ended.
func TestRemind(t *testing.T) {
	t0 := time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)
	w := newWorld(t, t0, "")
	mia := w.user("mia@contoso.example", "", nil)
	nina := w.user("nina@contoso.example", "", nil)
	ada := w.user("ada@contoso.example", mia, nil)
	bob := w.user("bob@contoso.example", nina, nil)
	w.group("Finance", ada, bob)
	w.start([]review.Config{{Name: "finance", Resource: review.ResourceConfig{Group: "Finance"},
		Reviewers:  review.ReviewersConfig{Type: review.ReviewersManager},
		Recurrence: review.RecurrenceConfig{DurationDays: 10, StartDate: t0.Format(time.RFC3339)}}})
	w.at(t0)
	w.mail.take() // the start notices
	in := w.instances("finance")[0]
	ctx := t.Context()
	if err := w.svc.Decide(ctx, nina, in.ID, []review.Decision{{Item: w.item(in.ID, "bob@contoso.example"), Decision: review.Approve}}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		n, err := w.svc.Remind(ctx, in.ID)
		if err != nil || n != 1 {
			t.Fatalf("Remind: %d, %v; want 1 sent", n, err)
		}
		if got := w.mail.take(); len(got) != 1 || !strings.HasPrefix(got[0], "mia@contoso.example: ") {
			t.Fatalf("reminders %q, want one to mia", got)
		}
	}
	if err := w.svc.Stop(ctx, in.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.Remind(ctx, in.ID); !errors.Is(err, review.ErrNotInProgress) {
		t.Fatalf("Remind after the end: %v", err)
	}
	if _, err := w.svc.Remind(ctx, 999); !errors.Is(err, review.ErrNotFound) {
		t.Fatalf("Remind of no instance: %v", err)
	}
}
