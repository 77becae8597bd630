package review_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/review"
	"github.com/scimgate/scimgate/targets"
)

// valid is a complete definition.
func valid() review.Config {
	return review.Config{Name: "crm-quarterly", Resource: review.ResourceConfig{Target: "crm"},
		Reviewers:  review.ReviewersConfig{Type: review.ReviewersManager},
		Recurrence: review.RecurrenceConfig{Pattern: review.PatternQuarterly, DurationDays: 14, StartDate: "2026-01-05"}}
}

// TestConfigValidate: each problem of a definition is reported at its
// field path, all at once; a complete definition passes.
func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*review.Config)
		want []string
	}{
		{"complete", func(*review.Config) {}, nil},
		{"every setting", func(c *review.Config) {
			c.Scope, c.InactiveDays, c.FallbackReviewers = review.ScopeGuestsOnly, 90, []string{"audit@contoso.example"}
			c.Recurrence.Occurrences = 4
			c.Settings = review.SettingsConfig{JustificationRequired: true, DefaultDecision: review.DefaultRecommendation, AutoApply: true,
				DeniedGuests: review.DeniedGuestsBlockThenDelete, Channels: []string{"ops"}}
		}, nil},
		{"nothing", func(c *review.Config) { *c = review.Config{} }, []string{
			"name: required",
			"resource: set one of group (its members) or target (the users provisioned to it)",
			"reviewers.type: required: manager, named, self or groupOwners",
			"recurrence.durationDays: required: at least 1 day",
			"recurrence.startDate: required: a date (2026-01-05) or a time (2026-01-05T09:00:00Z)",
		}},
		{"bad values", func(c *review.Config) {
			c.Name, c.Scope, c.InactiveDays = "crm quarterly", "guests", 731
			c.Resource.Group = "sales"
			c.DescriptionForReviewers = string(make([]rune, 257))
			c.Reviewers = review.ReviewersConfig{Type: review.ReviewersManager, Named: []string{"x"}}
			c.FallbackReviewers = []string{" "}
			c.Recurrence = review.RecurrenceConfig{Pattern: "daily", DurationDays: 3, StartDate: "05/01/2026", EndDate: "2025-13-01", Occurrences: -1}
			c.Settings = review.SettingsConfig{DefaultDecision: "remove", DeniedGuests: "delete", Channels: []string{""}}
		}, []string{
			`name: "crm quarterly": must be 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit`,
			"descriptionForReviewers: 257 characters: at most 256 (it goes into the emails)",
			`scope: "guests": want everyone or guestsOnly`,
			"resource: set only one of group and target (one resource per review; define several reviews)",
			"inactiveDays: 731: want 1 to 730 days (0: every user)",
			"reviewers.named: only with type named",
			"fallbackReviewers[0]: empty",
			`recurrence.pattern: "daily": want oneTime, weekly, monthly, quarterly, semiAnnual or annual`,
			`recurrence.startDate: "05/01/2026": want a date (2026-01-05) or a time (2026-01-05T09:00:00Z)`,
			`recurrence.endDate: "2025-13-01": want a date (2026-12-31) or a time (2026-12-31T18:00:00Z)`,
			"recurrence.occurrences: -1: must be positive",
			"recurrence: set at most one of endDate and occurrences",
			`settings.defaultDecision: "remove": want noChange, deny, approve or recommendation`,
			`settings.deniedGuests: "delete": want removeAssignment or blockThenDelete`,
			"settings.channels[0]: empty",
		}},
		{"group owners of a target", func(c *review.Config) { c.Reviewers.Type = review.ReviewersGroupOwners }, []string{
			"reviewers.type: groupOwners only for a group's review (resource.group): a target has no owners",
		}},
		{"group owners of a group", func(c *review.Config) {
			c.Resource, c.Reviewers.Type, c.FallbackReviewers = review.ResourceConfig{Group: "Sales"}, review.ReviewersGroupOwners, []string{"audit@contoso.example"}
		}, nil},
		{"group owners with names", func(c *review.Config) {
			c.Resource, c.Reviewers = review.ResourceConfig{Group: "Sales"}, review.ReviewersConfig{Type: review.ReviewersGroupOwners, Named: []string{"x"}}
		}, []string{"reviewers.named: only with type named"}},
		{"named without names", func(c *review.Config) { c.Reviewers.Type = review.ReviewersNamed }, []string{
			"reviewers.named: required with type named: userNames or email addresses",
		}},
		{"too long for the pattern", func(c *review.Config) {
			c.Recurrence.Pattern, c.Recurrence.DurationDays = review.PatternMonthly, 29
		}, []string{"recurrence.durationDays: 29: at most 28 days for monthly (an instance ends before the next starts)"}},
		{"end before start", func(c *review.Config) { c.Recurrence.EndDate = "2025-12-31" }, []string{
			"recurrence.endDate: 2025-12-31 is before startDate",
		}},
		{"one time with an end", func(c *review.Config) {
			c.Recurrence.Pattern, c.Recurrence.Occurrences = review.PatternOneTime, 2
		}, []string{"recurrence: endDate and occurrences are for a recurring pattern"}},
		{"second stage", func(c *review.Config) {
			c.SecondStage = &review.StageConfig{Reviewers: review.ReviewersConfig{Type: review.ReviewersNamed, Named: []string{"audit@contoso.example"}},
				FallbackReviewers: []string{"ciso@contoso.example"}, DurationDays: 75,
				DecisionsToNextStage: []string{review.StageApprove, review.StageDontKnow, review.StageNotReviewed}}
		}, nil},
		{"second stage problems", func(c *review.Config) {
			c.SecondStage = &review.StageConfig{Reviewers: review.ReviewersConfig{Type: "owners", Named: []string{""}},
				FallbackReviewers: []string{" "}, DecisionsToNextStage: []string{"approve", "Approve", "approve"}}
		}, []string{
			`secondStage.reviewers.type: "owners": want manager, named, self or groupOwners`,
			"secondStage.reviewers.named[0]: empty",
			"secondStage.fallbackReviewers[0]: empty",
			"secondStage.durationDays: required: at least 1 day",
			`secondStage.decisionsToNextStage[1]: "Approve": want approve, deny, dontKnow or notReviewed`,
			`secondStage.decisionsToNextStage[2]: "approve": listed twice`,
		}},
		{"second stage without reviewers", func(c *review.Config) {
			c.SecondStage = &review.StageConfig{DurationDays: 1}
		}, []string{"secondStage.reviewers.type: required: manager, named, self or groupOwners"}},
		{"two stages too long for the pattern", func(c *review.Config) {
			c.SecondStage = &review.StageConfig{Reviewers: review.ReviewersConfig{Type: review.ReviewersSelf}, DurationDays: 76}
		}, []string{
			"secondStage.durationDays: 76: the two stages' 90 days are more than the 89 days of quarterly (an instance ends before the next starts)",
		}},
		{"block then delete for everyone", func(c *review.Config) { c.Settings.DeniedGuests = review.DeniedGuestsBlockThenDelete }, []string{
			"settings.deniedGuests: blockThenDelete only with scope guestsOnly",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.edit(&c)
			var got []string
			if err := c.Validate(); err != nil {
				for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
					if _, ok := errors.AsType[*targets.ConfigError](e); !ok {
						t.Errorf("%v is not a *targets.ConfigError", e)
					}
					got = append(got, e.Error())
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Validate:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

// TestRecurrence: the starts of each pattern's instances, months clamped
// to their last day, a series ended by a number of occurrences or by a
// date (through its end), and the current and next instance at a time.
func TestRecurrence(t *testing.T) {
	day := func(s string) time.Time {
		t, err := time.Parse(time.DateOnly, s)
		if err != nil {
			panic(err)
		}
		return t
	}
	starts := func(r review.RecurrenceConfig) []string {
		c := valid()
		r.DurationDays = 1
		c.Recurrence = r
		var out []string
		for k := range 8 {
			at, ok := c.Occurrence(k)
			if !ok {
				break
			}
			out = append(out, at.Format(time.DateOnly))
		}
		return out
	}
	for _, tc := range []struct {
		name string
		r    review.RecurrenceConfig
		want []string
	}{
		{"one time", review.RecurrenceConfig{StartDate: "2026-01-05"}, []string{"2026-01-05"}},
		{"weekly, 3 occurrences", review.RecurrenceConfig{Pattern: review.PatternWeekly, StartDate: "2026-01-05", Occurrences: 3},
			[]string{"2026-01-05", "2026-01-12", "2026-01-19"}},
		{"monthly from the 31st", review.RecurrenceConfig{Pattern: review.PatternMonthly, StartDate: "2026-01-31", Occurrences: 5},
			[]string{"2026-01-31", "2026-02-28", "2026-03-31", "2026-04-30", "2026-05-31"}},
		{"monthly through an end date", review.RecurrenceConfig{Pattern: review.PatternMonthly, StartDate: "2026-01-15", EndDate: "2026-04-15"},
			[]string{"2026-01-15", "2026-02-15", "2026-03-15", "2026-04-15"}},
		{"quarterly, leap year", review.RecurrenceConfig{Pattern: review.PatternQuarterly, StartDate: "2027-11-30", Occurrences: 3},
			[]string{"2027-11-30", "2028-02-29", "2028-05-30"}},
		{"semi-annual until a time", review.RecurrenceConfig{Pattern: review.PatternSemiAnnual, StartDate: "2026-03-01T09:00:00Z",
			EndDate: "2027-03-01T08:59:59Z"}, []string{"2026-03-01", "2026-09-01"}},
		{"annual, never ending", review.RecurrenceConfig{Pattern: review.PatternAnnual, StartDate: "2026-02-28"},
			[]string{"2026-02-28", "2027-02-28", "2028-02-28", "2029-02-28", "2030-02-28", "2031-02-28", "2032-02-28", "2033-02-28"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := starts(tc.r); !slices.Equal(got, tc.want) {
				t.Errorf("starts %q, want %q", got, tc.want)
			}
		})
	}
	c := valid()
	c.Recurrence = review.RecurrenceConfig{Pattern: review.PatternMonthly, DurationDays: 10, StartDate: "2026-01-15", Occurrences: 3}
	for _, tc := range []struct {
		now        time.Time
		k          int
		cur, next  string
		ok, nextOK bool
	}{
		{day("2026-01-14"), -1, "0001-01-01", "2026-01-15", false, true},
		{day("2026-01-15"), 0, "2026-01-15", "2026-02-15", true, true},
		{day("2026-03-20"), 2, "2026-03-15", "0001-01-01", true, false},
		{day("2027-01-01"), 2, "2026-03-15", "0001-01-01", true, false},
	} {
		k, cur, ok := c.Current(tc.now)
		next, nextOK := c.Next(tc.now)
		if k != tc.k || cur.Format(time.DateOnly) != tc.cur || ok != tc.ok || next.Format(time.DateOnly) != tc.next || nextOK != tc.nextOK {
			t.Errorf("at %s: current %d %s %v, next %s %v; want %d %s %v, %s %v", tc.now.Format(time.DateOnly), k, cur.Format(time.DateOnly), ok,
				next.Format(time.DateOnly), nextOK, tc.k, tc.cur, tc.ok, tc.next, tc.nextOK)
		}
	}
}
