package review_test

import (
	"slices"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/guest"
	"github.com/scimgate/scimgate/internal/review"
)

// TestInactiveUsers: with inactiveDays only the users known to be
// inactive that long are reviewed, recommended for denial: by Entra's
// signInActivity (a user Entra says never signed in is inactive since
// created), or, without Entra, by the sign-ins the guest lifecycle
// recorded; a user whose sign-ins nobody knows is not reviewed.
func TestInactiveUsers(t *testing.T) {
	// The store dates users' creation by the real clock: the scenario
	// runs 100 days later.
	t0 := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, 100)
	w := newWorld(t, t0, "")
	w.withGuests(guest.Config{Rules: []guest.RuleConfig{{UPNExternal: true}}, Expiry: guest.ExpiryConfig{Inactivity: 365 * 24 * time.Hour}})
	ids := []string{}
	for _, u := range []string{"ada@contoso.example", "bob@contoso.example", "cy@contoso.example", "dee@contoso.example", "gia_x.com#EXT#@contoso.example"} {
		ids = append(ids, w.user(u, "", nil))
	}
	w.group("Lab", ids...)
	w.signIn.set("ada@contoso.example", t0.AddDate(0, 0, -10))
	w.signIn.set("bob@contoso.example", t0.AddDate(0, 0, -90))
	w.signIn.set("dee@contoso.example", time.Time{})
	w.signIn.set("gia_x.com#EXT#@contoso.example", t0.AddDate(0, 0, -75))
	w.settle()
	if _, err := w.guests.RunDue(t.Context()); err != nil { // reads gia's sign-ins into her record
		t.Fatal(err)
	}
	def := review.Config{Name: "lab-inactive", Resource: review.ResourceConfig{Group: "Lab"}, InactiveDays: 60,
		Reviewers:  review.ReviewersConfig{Type: review.ReviewersSelf},
		Recurrence: review.RecurrenceConfig{DurationDays: 3, StartDate: t0.Format(time.DateOnly)}}
	dee, err := w.st.Get(t.Context(), "User", ids[3])
	if err != nil {
		t.Fatal(err)
	}
	created := dee.Created.UTC().Format(time.DateOnly)
	for _, tc := range []struct {
		name  string
		entra bool
		want  []string
	}{
		{"entra", true, []string{
			"bob@contoso.example: Deny (no sign-in for 90 days (last " + t0.AddDate(0, 0, -90).Format(time.DateOnly) + ")) [" + ids[1] + "] NotReviewed ",
			"dee@contoso.example: Deny (never signed in (created " + created + ")) [" + ids[3] + "] NotReviewed ",
			"gia_x.com#EXT#@contoso.example: Deny (no sign-in for 75 days (last " + t0.AddDate(0, 0, -75).Format(time.DateOnly) + ")) [" + ids[4] + "] NotReviewed ",
		}},
		{"the guest lifecycle's records", false, []string{
			"gia_x.com#EXT#@contoso.example: Deny (no sign-in for 75 days (last " + t0.AddDate(0, 0, -75).Format(time.DateOnly) + ")) [" + ids[4] + "] NotReviewed ",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := def
			d.Name += "-" + map[bool]string{true: "entra", false: "records"}[tc.entra]
			w.start([]review.Config{d}, func(o *review.Options) {
				if !tc.entra {
					o.Entra = nil
				}
			})
			w.at(t0)
			if got := sorted(w.items(w.instances(d.Name)[0].ID)); !slices.Equal(got, tc.want) {
				t.Errorf("items:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}
