package guest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

const day = 24 * time.Hour

// t0 is the fake clock's origin; the guest expires 30 days later.
var (
	t0     = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	expiry = t0.Add(30 * day)
)

// planRules: notices 14 and 3 days before expiry (given out of order:
// the index is the configured one), the default grace of 30 days.
func planRules(t *testing.T) *Rules {
	return compile(t, "rules: [{userType: Guest}]\nexpiry: {lifetime: 720h}\nnotices: [72h, 336h]\n")
}

// guest is a guest on the fake clock: each tick plans at now, performs
// (records) the due steps, and returns them as "kind" or "notice[i]".
type guest struct {
	r     *Rules
	state State
}

func (g *guest) tick(expiry, now time.Time) []string {
	var done []string
	for _, s := range g.r.Plan(expiry, now, g.state) {
		if s.At.After(now) {
			break
		}
		g.state = g.state.Apply(s)
		if s.Kind == Notice {
			done = append(done, fmt.Sprintf("notice[%d]", s.Notice))
		} else {
			done = append(done, string(s.Kind))
		}
	}
	return done
}

// TestPlanSequence runs guests through the fake clock: each step of a
// sequence moves the clock (and maybe the expiry) and names the steps due.
func TestPlanSequence(t *testing.T) {
	type tick struct {
		name   string
		now    time.Time
		expiry time.Time // zero: no expiry (a member)
		want   string    // the steps done, comma-separated
	}
	extended := expiry.Add(60 * day) // moved before the block
	rehired := expiry.Add(100 * day) // moved after the block
	for _, tc := range []struct {
		name  string
		start State
		ticks []tick
	}{
		{"nearing expiry, expired, past grace", State{}, []tick{
			{"created", t0, expiry, ""},
			{"a day before the 14-day notice", expiry.Add(-15 * day), expiry, ""},
			{"14 days before", expiry.Add(-14 * day), expiry, "notice[1]"},
			{"13 days before: sent once", expiry.Add(-13 * day), expiry, ""},
			{"3 days before", expiry.Add(-3 * day), expiry, "notice[0]"},
			{"2 days before: sent once", expiry.Add(-2 * day), expiry, ""},
			{"a second before expiry", expiry.Add(-time.Second), expiry, ""},
			{"expired", expiry, expiry, "block"},
			{"blocked, within grace", expiry.Add(29 * day), expiry, ""},
			{"past grace", expiry.Add(30 * day), expiry, "delete"},
			{"deleted: nothing more", expiry.Add(31 * day), expiry, ""},
			{"deleted, even extended", expiry.Add(32 * day), expiry.Add(90 * day), ""},
		}},
		{"extended before the block", State{}, []tick{
			{"14 days before", expiry.Add(-14 * day), expiry, "notice[1]"},
			{"3 days before", expiry.Add(-3 * day), expiry, "notice[0]"},
			{"extended by 60 days", expiry.Add(-2 * day), extended, ""},
			{"the old expiry passes", expiry, extended, ""},
			{"14 days before the new date: notified again", extended.Add(-14 * day), extended, "notice[1]"},
			{"3 days before the new date", extended.Add(-3 * day), extended, "notice[0]"},
			{"the new date", extended, extended, "block"},
		}},
		{"extended between the notices", State{}, []tick{
			{"14 days before", expiry.Add(-14 * day), expiry, "notice[1]"},
			{"extended by 5 days, 10 days before", expiry.Add(-10 * day), expiry.Add(5 * day), ""},
			{"14 days before the new date", expiry.Add(-9 * day), expiry.Add(5 * day), "notice[1]"},
			{"3 days before the new date", expiry.Add(2 * day), expiry.Add(5 * day), "notice[0]"},
		}},
		{"extended after the block (rehire)", State{}, []tick{
			{"expired, never seen before: block only", expiry.Add(time.Hour), expiry, "block"},
			{"extended by 100 days", expiry.Add(10 * day), rehired, "unblock"},
			{"unblocked once", expiry.Add(11 * day), rehired, ""},
			{"the old delete date passes", expiry.Add(30 * day), rehired, ""},
			{"14 days before the new date", rehired.Add(-14 * day), rehired, "notice[1]"},
			{"3 days before the new date", rehired.Add(-3 * day), rehired, "notice[0]"},
			{"the new date", rehired, rehired, "block"},
			{"past the new grace", rehired.Add(30 * day), rehired, "delete"},
		}},
		{"extended after the block to 2 days ahead", State{}, []tick{
			{"expired", expiry, expiry, "block"},
			{"extended to 2 days from now: unblock, and the 3-day notice", expiry.Add(day), expiry.Add(3 * day), "unblock,notice[0]"},
			{"the new date", expiry.Add(3 * day), expiry.Add(3 * day), "block"},
		}},
		{"found 2 days before expiry: the 3-day notice only", State{}, []tick{
			{"first seen", expiry.Add(-2 * day), expiry, "notice[0]"},
			{"expired", expiry, expiry, "block"},
		}},
		{"found 10 days before expiry: the 14-day notice late, then the 3-day one", State{}, []tick{
			{"first seen", expiry.Add(-10 * day), expiry, "notice[1]"},
			{"3 days before", expiry.Add(-3 * day), expiry, "notice[0]"},
		}},
		{"found past grace: block then delete at once", State{}, []tick{
			{"first seen", expiry.Add(40 * day), expiry, "block,delete"},
			{"nothing more", expiry.Add(41 * day), expiry, ""},
		}},
		{"a member who was a guest", State{}, []tick{
			{"a member", t0, time.Time{}, ""},
			{"still a member, long after", expiry.Add(100 * day), time.Time{}, ""},
		}},
		{"a guest becomes a member before expiry", State{}, []tick{
			{"14 days before", expiry.Add(-14 * day), expiry, "notice[1]"},
			{"a member now", expiry.Add(-5 * day), time.Time{}, ""},
			{"the old expiry passes", expiry, time.Time{}, ""},
		}},
		{"a blocked guest becomes a member", State{}, []tick{
			{"expired", expiry, expiry, "block"},
			{"a member now", expiry.Add(day), time.Time{}, "unblock"},
			{"the old grace passes", expiry.Add(31 * day), time.Time{}, ""},
		}},
		{"the expiry moves earlier after the block", State{}, []tick{
			{"expired", expiry, expiry, "block"},
			{"the attribute moves 10 days earlier: delete earlier", expiry.Add(20 * day), expiry.Add(-10 * day), "delete"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := &guest{r: planRules(t), state: tc.start}
			for _, tk := range tc.ticks {
				if got := strings.Join(g.tick(tk.expiry, tk.now), ","); got != tk.want {
					t.Fatalf("%s (now %v, expiry %v): did %q, want %q (state %+v)", tk.name, tk.now, tk.expiry, got, tk.want, g.state)
				}
			}
		})
	}
}

// TestPlanSchedule checks the whole schedule Plan returns: what is next
// and when, as `scimgate guests` would show it.
func TestPlanSchedule(t *testing.T) {
	r := planRules(t)
	notice := func(i int, before time.Duration) Step {
		return Step{Kind: Notice, At: expiry.Add(-before), Notice: i, Expiry: expiry}
	}
	block := Step{Kind: Block, At: expiry, Expiry: expiry}
	del := Step{Kind: Delete, At: expiry.Add(DefaultGrace), Expiry: expiry}
	sent14 := State{NoticesFor: expiry, Sent: []int{1}}
	for _, tc := range []struct {
		name  string
		now   time.Time
		state State
		want  []Step
	}{
		{"new guest", t0, State{}, []Step{notice(1, 14*day), notice(0, 3*day), block, del}},
		{"14-day notice sent", expiry.Add(-10 * day), sent14, []Step{notice(0, 3*day), block, del}},
		{"notices sent for another expiry", expiry.Add(-20 * day), State{NoticesFor: expiry.Add(-day), Sent: []int{0, 1}}, []Step{notice(1, 14*day), notice(0, 3*day), block, del}},
		{"blocked", expiry.Add(day), State{Blocked: true}, []Step{del}},
		{"blocked, extended", expiry.Add(-20 * day), State{Blocked: true}, []Step{{Kind: Unblock, At: expiry.Add(-20 * day), Expiry: expiry}, notice(1, 14*day), notice(0, 3*day), block, del}},
		{"deleted", t0, State{Deleted: true}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := r.Plan(expiry, tc.now, tc.state)
			if !slices.EqualFunc(got, tc.want, func(a, b Step) bool {
				return a.Kind == b.Kind && a.At.Equal(b.At) && a.Notice == b.Notice && a.Expiry.Equal(b.Expiry)
			}) {
				t.Errorf("Plan =\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}
}

// TestApply checks the state transitions, and that recording a step twice
// (a retry after a crash) changes nothing more.
func TestApply(t *testing.T) {
	n1 := Step{Kind: Notice, Notice: 1, Expiry: expiry}
	s := State{}.Apply(n1).Apply(n1)
	if !s.NoticesFor.Equal(expiry) || !slices.Equal(s.Sent, []int{1}) {
		t.Errorf("after notice[1] twice: %+v", s)
	}
	s2 := s.Apply(Step{Kind: Notice, Notice: 0, Expiry: expiry})
	if !slices.Equal(s2.Sent, []int{1, 0}) || !slices.Equal(s.Sent, []int{1}) {
		t.Errorf("notice[0] after: %+v (and the earlier state changed: %+v)", s2, s)
	}
	s3 := s2.Apply(Step{Kind: Notice, Notice: 0, Expiry: expiry.Add(day)})
	if !s3.NoticesFor.Equal(expiry.Add(day)) || !slices.Equal(s3.Sent, []int{0}) {
		t.Errorf("a notice for a new expiry: %+v", s3)
	}
	if s := s3.Apply(Step{Kind: Block}); !s.Blocked {
		t.Errorf("block: %+v", s)
	} else if s := s.Apply(Step{Kind: Unblock}); s.Blocked {
		t.Errorf("unblock: %+v", s)
	} else if s := s.Apply(Step{Kind: Block}).Apply(Step{Kind: Delete}); !s.Deleted || s.Blocked {
		t.Errorf("delete: %+v", s)
	}
}
