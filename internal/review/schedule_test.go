package review_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/review"
	"github.com/scimgate/scimgate/internal/store"
)

// TestMonthlyInstances: a monthly review ending after 3 occurrences,
// run day by day over five months on the fake clock: an instance starts
// on each start date (the 31st clamped to the month's last day) with a
// snapshot of the group's members at that time, ends after its duration
// (decisions then refused), and no fourth one starts; a service started
// again over the same store (a restart) creates no instance twice.
func TestMonthlyInstances(t *testing.T) {
	t0 := time.Date(2026, 1, 25, 0, 0, 0, 0, time.UTC)
	w := newWorld(t, t0, "")
	ada := w.user("ada@contoso.example", "", nil)
	bob := w.user("bob@contoso.example", "", nil)
	sales := w.group("Sales", ada, bob)
	def := review.Config{Name: "sales-monthly", Resource: review.ResourceConfig{Group: "sales"},
		Reviewers:  review.ReviewersConfig{Type: review.ReviewersSelf},
		Recurrence: review.RecurrenceConfig{Pattern: review.PatternMonthly, DurationDays: 7, StartDate: "2026-01-31", Occurrences: 3}}
	w.start([]review.Config{def})
	if got := w.svc.Definitions()[0].NextStart; !got.Equal(time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("next start %v", got)
	}
	var cy string
	for day := t0; day.Before(t0.AddDate(0, 5, 0)); day = day.Add(12 * time.Hour) {
		if day.Equal(time.Date(2026, 2, 15, 0, 0, 0, 0, time.UTC)) {
			cy = w.user("cy@contoso.example", "", nil)
			w.members(sales, "add", cy)
		}
		if day.Equal(time.Date(2026, 3, 3, 0, 0, 0, 0, time.UTC)) {
			w.start([]review.Config{def}) // a restart in the middle of an instance
		}
		w.at(day)
	}
	var got []string
	for _, in := range w.instances("sales-monthly") {
		got = append(got, fmt.Sprintf("#%d %s..%s %s %d items", in.Occurrence, in.Start.Format(time.DateOnly), in.End.Format(time.DateOnly),
			in.Status, in.Progress.Total))
	}
	want := []string{
		"#1 2026-01-31..2026-02-07 Completed 2 items",
		"#2 2026-02-28..2026-03-07 Completed 3 items",
		"#3 2026-03-31..2026-04-07 Completed 3 items",
	}
	if !slices.Equal(got, want) {
		t.Errorf("instances:\n got %q\nwant %q", got, want)
	}
	if next := w.svc.Definitions()[0].NextStart; !next.IsZero() {
		t.Errorf("after the last occurrence, next start %v", next)
	}
	first := w.instances("sales-monthly")[0]
	if first.EndedBy != "schedule" || !first.Ended.Equal(first.End) {
		t.Errorf("first instance ended %v by %q", first.Ended, first.EndedBy)
	}
	err := w.svc.Decide(t.Context(), ada, first.ID, []review.Decision{{Item: 1, Decision: review.Approve}})
	if !errors.Is(err, review.ErrNotInProgress) {
		t.Errorf("a decision after the end: %v", err)
	}
	if _, err := w.svc.Items(t.Context(), 999); !errors.Is(err, review.ErrNotFound) {
		t.Errorf("items of no instance: %v", err)
	}
	if _, err := w.svc.Instances(t.Context(), "nope"); !errors.Is(err, review.ErrNotFound) {
		t.Errorf("instances of no review: %v", err)
	}
}

// TestMissedWindow: an instance whose whole window passed while the
// gateway was down is skipped; the next starts on time.
func TestMissedWindow(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	w := newWorld(t, t0, "")
	w.group("Ops", w.user("ada@contoso.example", "", nil))
	w.start([]review.Config{{Name: "ops-weekly", Resource: review.ResourceConfig{Group: "Ops"},
		Reviewers:  review.ReviewersConfig{Type: review.ReviewersSelf},
		Recurrence: review.RecurrenceConfig{Pattern: review.PatternWeekly, DurationDays: 3, StartDate: "2026-03-02"}}})
	w.at(t0.AddDate(0, 0, 10)) // down from day 0 to 10: weeks 1 and 2 passed (week 2 ended on day 10)
	if ins := w.instances("ops-weekly"); len(ins) != 0 {
		t.Fatalf("instances of missed windows: %+v", ins)
	}
	w.at(t0.AddDate(0, 0, 14).Add(time.Hour))
	ins := w.instances("ops-weekly")
	if len(ins) != 1 || ins[0].Occurrence != 3 || !ins[0].Start.Equal(t0.AddDate(0, 0, 14)) || ins[0].Status != store.ReviewInProgress {
		t.Fatalf("instances %+v", ins)
	}
}
