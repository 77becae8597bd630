package review

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/scimgate/scimgate/targets"
)

// Config is one access review definition (an entry of reviews: in YAML),
// with the names of Entra's accessReviewScheduleDefinition where they fit.
type Config struct {
	// Name identifies the review (1-63 letters, digits, '.', '_' or '-').
	Name                    string `yaml:"name" json:"name"`
	DescriptionForAdmins    string `yaml:"descriptionForAdmins" json:"descriptionForAdmins,omitempty"`
	DescriptionForReviewers string `yaml:"descriptionForReviewers" json:"descriptionForReviewers,omitempty"`
	// Scope is whose access is reviewed: everyone (default) or guestsOnly.
	Scope    string         `yaml:"scope" json:"scope,omitempty"`
	Resource ResourceConfig `yaml:"resource" json:"resource"`
	// InactiveDays, when set, reviews only the users known to be inactive
	// for that many days (1 to 730), and is the threshold of the
	// recommendations (default 30).
	InactiveDays int             `yaml:"inactiveDays" json:"inactiveDays,omitempty"`
	Reviewers    ReviewersConfig `yaml:"reviewers" json:"reviewers"`
	// FallbackReviewers decide the items whose reviewers are missing (a
	// user without a manager): userNames or email addresses.
	FallbackReviewers []string `yaml:"fallbackReviewers" json:"fallbackReviewers,omitempty"`
	// SecondStage, when set, makes each instance a review in two stages
	// (Entra's multi-stage review): the first stage (the reviewers
	// above, for recurrence.durationDays) then the second, whose
	// reviewers confirm the items the first stage left or decided as
	// decisionsToNextStage says.
	SecondStage *StageConfig     `yaml:"secondStage" json:"secondStage,omitempty"`
	Recurrence  RecurrenceConfig `yaml:"recurrence" json:"recurrence"`
	Settings    SettingsConfig   `yaml:"settings" json:"settings"`
}

// StageConfig is the second stage of a review (Entra's stageSettings).
// At the end of the first stage, the items whose first decision is one
// of DecisionsToNextStage move to the second stage: their first decision
// is kept beside them (the second stage's reviewers see it), their
// reviewers become the second stage's (resolved then, as at the start),
// and they are not reviewed again until the second stage's reviewers
// decide; the other items keep their first decision as final. The
// default decision applies at the end of the second stage.
type StageConfig struct {
	// Reviewers and FallbackReviewers are the second stage's, as the
	// review's are for the first.
	Reviewers         ReviewersConfig `yaml:"reviewers" json:"reviewers"`
	FallbackReviewers []string        `yaml:"fallbackReviewers" json:"fallbackReviewers,omitempty"`
	// DurationDays is how long the second stage runs (at least 1); an
	// instance runs recurrence.durationDays and then this.
	DurationDays int `yaml:"durationDays" json:"durationDays"`
	// DecisionsToNextStage are the first stage's decisions whose items
	// move to the second stage: approve, deny, dontKnow, notReviewed
	// (default approve and notReviewed: the second stage confirms what
	// the first approved or left).
	DecisionsToNextStage []string `yaml:"decisionsToNextStage" json:"decisionsToNextStage,omitempty"`
}

// ResourceConfig is what is reviewed: exactly one of its fields.
type ResourceConfig struct {
	// Group: the memberships of a SCIM group (its id or displayName,
	// case-insensitive); a denial removes the user from the group in
	// every target that holds it.
	Group string `yaml:"group" json:"group,omitempty"`
	// Target: the users provisioned to a target, one decision per user;
	// a denial removes the user's account there as the target's
	// lifecycle says.
	Target string `yaml:"target" json:"target,omitempty"`
}

// ReviewersConfig says who reviews each item.
type ReviewersConfig struct {
	// Type is manager (the enterprise extension's manager of each user),
	// named (Named), self (each user reviews their own access), or
	// groupOwners (a group's review: the group's owners in Entra, whose
	// object id is the SCIM group's externalId; snapshotted at each
	// start; needs the entra section).
	Type string `yaml:"type" json:"type"`
	// Named are the reviewers of type named: userNames or email
	// addresses (an address that is no SCIM user's reviews too).
	Named []string `yaml:"named" json:"named,omitempty"`
}

// RecurrenceConfig is when the instances run.
type RecurrenceConfig struct {
	// Pattern is oneTime (default), weekly, monthly, quarterly,
	// semiAnnual or annual.
	Pattern string `yaml:"pattern" json:"pattern,omitempty"`
	// DurationDays is how long each instance runs (at least 1; for a
	// recurring review no longer than its shortest period).
	DurationDays int `yaml:"durationDays" json:"durationDays"`
	// StartDate is when the first instance starts: a date (midnight
	// UTC) or an RFC 3339 time.
	StartDate string `yaml:"startDate" json:"startDate"`
	// EndDate (a date: through its end, or a time) and Occurrences end
	// the series; neither: it never ends.
	EndDate     string `yaml:"endDate" json:"endDate,omitempty"`
	Occurrences int    `yaml:"occurrences" json:"occurrences,omitempty"`
}

// SettingsConfig are what happens at the end, and the notices.
type SettingsConfig struct {
	// JustificationRequired: approve and deny need a justification.
	JustificationRequired bool `yaml:"justificationRequired" json:"justificationRequired,omitempty"`
	// DefaultDecision applies to the items not reviewed at the end:
	// noChange (default), deny, approve, or recommendation.
	DefaultDecision string `yaml:"defaultDecision" json:"defaultDecision,omitempty"`
	// AutoApply applies the results at the end; else an administrator
	// applies them.
	AutoApply bool `yaml:"autoApply" json:"autoApply,omitempty"`
	// DeniedGuests is what a denial does to a guest: removeAssignment
	// (default: as for anyone) or blockThenDelete (the guest lifecycle
	// blocks the guest everywhere, then deletes it after its grace
	// period); the latter only with scope guestsOnly.
	DeniedGuests string `yaml:"deniedGuests" json:"deniedGuests,omitempty"`
	// Reminders go to the reviewers with pending items halfway through
	// an instance and on its last day (default true).
	Reminders *bool `yaml:"reminders" json:"reminders,omitempty"`
	// Channels are webhook channels of the notifications section that
	// receive the start and reminder notices too.
	Channels []string `yaml:"channels" json:"channels,omitempty"`
}

// The values of the configuration.
const (
	ScopeEveryone   = "everyone"
	ScopeGuestsOnly = "guestsOnly"

	ReviewersManager = "manager"
	ReviewersNamed   = "named"
	ReviewersSelf    = "self"
	// ReviewersGroupOwners: Entra's "Group owner(s)" (reviewers ./owners).
	ReviewersGroupOwners = "groupOwners"

	PatternOneTime    = "oneTime"
	PatternWeekly     = "weekly"
	PatternMonthly    = "monthly"
	PatternQuarterly  = "quarterly"
	PatternSemiAnnual = "semiAnnual"
	PatternAnnual     = "annual"

	DefaultNoChange       = "noChange"
	DefaultDeny           = "deny"
	DefaultApprove        = "approve"
	DefaultRecommendation = "recommendation"

	DeniedGuestsRemove          = "removeAssignment"
	DeniedGuestsBlockThenDelete = "blockThenDelete"

	StageApprove     = "approve"
	StageDeny        = "deny"
	StageDontKnow    = "dontKnow"
	StageNotReviewed = "notReviewed"
)

// stageDecisions are the values of decisionsToNextStage and the item
// decisions they stand for.
var stageDecisions = map[string]string{StageApprove: Approve, StageDeny: Deny, StageDontKnow: DontKnow, StageNotReviewed: NotReviewed}

// DefaultDecisionsToNextStage are the decisions whose items move to the
// second stage when decisionsToNextStage is not set.
var DefaultDecisionsToNextStage = []string{StageApprove, StageNotReviewed}

// DefaultInactiveDays is the threshold of the recommendations without
// InactiveDays: Entra's 30 days.
const DefaultInactiveDays = 30

// patterns are the recurrence patterns: months between instances (days
// for weekly), and the shortest period in days (the longest duration).
var patterns = map[string]struct{ months, days, maxDuration int }{
	PatternOneTime:    {0, 0, 730},
	PatternWeekly:     {0, 7, 7},
	PatternMonthly:    {1, 0, 28},
	PatternQuarterly:  {3, 0, 89},
	PatternSemiAnnual: {6, 0, 181},
	PatternAnnual:     {12, 0, 365},
}

// Validate reports every problem of the definition that needs nothing
// else of the configuration, each a targets.FieldError at its path
// ("recurrence.durationDays"), joined. The configuration checks what it
// names (the target, the guest lifecycle, the channels).
func (c Config) Validate() error {
	var errs []error
	add := func(path, format string, args ...any) {
		errs = append(errs, targets.FieldError(path, format, args...))
	}
	if err := targets.CheckName(c.Name); err != nil {
		add("name", "%v", err)
	}
	if n := len([]rune(c.DescriptionForReviewers)); n > 256 {
		add("descriptionForReviewers", "%d characters: at most 256 (it goes into the emails)", n)
	}
	switch c.Scope {
	case "", ScopeEveryone, ScopeGuestsOnly:
	default:
		add("scope", "%q: want %s or %s", c.Scope, ScopeEveryone, ScopeGuestsOnly)
	}
	switch r := c.Resource; {
	case r.Group == "" && r.Target == "":
		add("resource", "set one of group (its members) or target (the users provisioned to it)")
	case r.Group != "" && r.Target != "":
		add("resource", "set only one of group and target (one resource per review; define several reviews)")
	}
	if c.InactiveDays < 0 || c.InactiveDays > 730 {
		add("inactiveDays", "%d: want 1 to 730 days (0: every user)", c.InactiveDays)
	}
	validateReviewers("", c.Reviewers, c.FallbackReviewers, c.Resource.Target != "", add)
	c.Recurrence.validate(add)
	if st := c.SecondStage; st != nil {
		validateReviewers("secondStage.", st.Reviewers, st.FallbackReviewers, c.Resource.Target != "", add)
		if st.DurationDays < 1 {
			add("secondStage.durationDays", "required: at least 1 day")
		} else if p, ok := patterns[c.Recurrence.pattern()]; ok && c.Recurrence.DurationDays >= 1 && c.Recurrence.DurationDays <= p.maxDuration &&
			c.Recurrence.DurationDays+st.DurationDays > p.maxDuration {
			add("secondStage.durationDays", "%d: the two stages' %d days are more than the %d days of %s (an instance ends before the next starts)",
				st.DurationDays, c.Recurrence.DurationDays+st.DurationDays, p.maxDuration, c.Recurrence.pattern())
		}
		seen := map[string]bool{}
		for i, dec := range st.DecisionsToNextStage {
			path := fmt.Sprintf("secondStage.decisionsToNextStage[%d]", i)
			switch {
			case stageDecisions[dec] == "":
				add(path, "%q: want %s, %s, %s or %s", dec, StageApprove, StageDeny, StageDontKnow, StageNotReviewed)
			case seen[dec]:
				add(path, "%q: listed twice", dec)
			}
			seen[dec] = true
		}
	}
	s := c.Settings
	switch s.DefaultDecision {
	case "", DefaultNoChange, DefaultDeny, DefaultApprove, DefaultRecommendation:
	default:
		add("settings.defaultDecision", "%q: want %s, %s, %s or %s", s.DefaultDecision, DefaultNoChange, DefaultDeny, DefaultApprove, DefaultRecommendation)
	}
	switch s.DeniedGuests {
	case "", DeniedGuestsRemove:
	case DeniedGuestsBlockThenDelete:
		if c.Scope != ScopeGuestsOnly {
			add("settings.deniedGuests", "%s only with scope %s", DeniedGuestsBlockThenDelete, ScopeGuestsOnly)
		}
	default:
		add("settings.deniedGuests", "%q: want %s or %s", s.DeniedGuests, DeniedGuestsRemove, DeniedGuestsBlockThenDelete)
	}
	for i, ch := range s.Channels {
		if ch == "" {
			add(fmt.Sprintf("settings.channels[%d]", i), "empty")
		}
	}
	return errors.Join(errs...)
}

// validateReviewers reports the problems of a stage's reviewers and
// fallback reviewers, at their paths after prefix.
func validateReviewers(prefix string, r ReviewersConfig, fallback []string, target bool, add func(path, format string, args ...any)) {
	switch r.Type {
	case ReviewersManager, ReviewersSelf:
		if len(r.Named) > 0 {
			add(prefix+"reviewers.named", "only with type %s", ReviewersNamed)
		}
	case ReviewersNamed:
		if len(r.Named) == 0 {
			add(prefix+"reviewers.named", "required with type %s: userNames or email addresses", ReviewersNamed)
		}
	case ReviewersGroupOwners:
		if len(r.Named) > 0 {
			add(prefix+"reviewers.named", "only with type %s", ReviewersNamed)
		}
		if target {
			add(prefix+"reviewers.type", "%s only for a group's review (resource.group): a target has no owners", ReviewersGroupOwners)
		}
	case "":
		add(prefix+"reviewers.type", "required: %s, %s, %s or %s", ReviewersManager, ReviewersNamed, ReviewersSelf, ReviewersGroupOwners)
	default:
		add(prefix+"reviewers.type", "%q: want %s, %s, %s or %s", r.Type, ReviewersManager, ReviewersNamed, ReviewersSelf, ReviewersGroupOwners)
	}
	for i, n := range r.Named {
		if strings.TrimSpace(n) == "" {
			add(fmt.Sprintf("%sreviewers.named[%d]", prefix, i), "empty")
		}
	}
	for i, n := range fallback {
		if strings.TrimSpace(n) == "" {
			add(fmt.Sprintf("%sfallbackReviewers[%d]", prefix, i), "empty")
		}
	}
}

func (r RecurrenceConfig) validate(add func(path, format string, args ...any)) {
	p, ok := patterns[r.pattern()]
	if !ok {
		add("recurrence.pattern", "%q: want oneTime, weekly, monthly, quarterly, semiAnnual or annual", r.Pattern)
	}
	switch {
	case r.DurationDays < 1:
		add("recurrence.durationDays", "required: at least 1 day")
	case ok && r.DurationDays > p.maxDuration:
		add("recurrence.durationDays", "%d: at most %d days for %s (an instance ends before the next starts)", r.DurationDays, p.maxDuration, r.pattern())
	}
	start, err := parseWhen(r.StartDate)
	switch {
	case r.StartDate == "":
		add("recurrence.startDate", "required: a date (2026-01-05) or a time (2026-01-05T09:00:00Z)")
	case err != nil:
		add("recurrence.startDate", "%q: want a date (2026-01-05) or a time (2026-01-05T09:00:00Z)", r.StartDate)
	}
	if r.EndDate != "" {
		end, err := parseWhen(r.EndDate)
		switch {
		case err != nil:
			add("recurrence.endDate", "%q: want a date (2026-12-31) or a time (2026-12-31T18:00:00Z)", r.EndDate)
		case !start.IsZero() && end.Before(start):
			add("recurrence.endDate", "%s is before startDate", r.EndDate)
		}
	}
	if r.Occurrences < 0 {
		add("recurrence.occurrences", "%d: must be positive", r.Occurrences)
	}
	if r.EndDate != "" && r.Occurrences != 0 {
		add("recurrence", "set at most one of endDate and occurrences")
	}
	if r.pattern() == PatternOneTime && (r.EndDate != "" || r.Occurrences != 0) {
		add("recurrence", "endDate and occurrences are for a recurring pattern")
	}
}

// pattern is the configured pattern or the default.
func (r RecurrenceConfig) pattern() string {
	if r.Pattern == "" {
		return PatternOneTime
	}
	return r.Pattern
}

// parseWhen parses a date (midnight UTC) or an RFC 3339 time.
func parseWhen(s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	return t.UTC(), err
}

// Duration is how long each instance runs: both stages with a second.
func (c Config) Duration() time.Duration {
	days := c.Recurrence.DurationDays
	if c.SecondStage != nil {
		days += c.SecondStage.DurationDays
	}
	return time.Duration(days) * 24 * time.Hour
}

// stage1Duration is how long the first stage runs.
func (c Config) stage1Duration() time.Duration {
	return time.Duration(c.Recurrence.DurationDays) * 24 * time.Hour
}

// toNextStage reports whether an item decided decision in the first
// stage moves to the second.
func (st StageConfig) toNextStage(decision string) bool {
	ds := st.DecisionsToNextStage
	if len(ds) == 0 {
		ds = DefaultDecisionsToNextStage
	}
	return slices.ContainsFunc(ds, func(d string) bool { return stageDecisions[d] == decision })
}

// Occurrence returns the start of the k-th instance (k from 0), and false
// when the series has ended before it. Months are added to the start
// date, clamped to the month's last day (a series starting on the 31st
// runs on the last day of shorter months).
func (c Config) Occurrence(k int) (time.Time, bool) {
	r := c.Recurrence
	start, err := parseWhen(r.StartDate)
	if err != nil || k < 0 {
		return time.Time{}, false
	}
	p := patterns[r.pattern()]
	if r.pattern() == PatternOneTime && k > 0 || r.Occurrences > 0 && k >= r.Occurrences {
		return time.Time{}, false
	}
	at := start
	switch {
	case p.days > 0:
		at = start.AddDate(0, 0, k*p.days)
	case p.months > 0:
		at = addMonths(start, k*p.months)
	}
	if r.EndDate != "" {
		end, err := parseWhen(r.EndDate)
		if err != nil {
			return time.Time{}, false
		}
		if _, dateOnly := time.Parse(time.DateOnly, r.EndDate); dateOnly == nil {
			end = end.AddDate(0, 0, 1) // through the end of the day
			if !at.Before(end) {
				return time.Time{}, false
			}
		} else if at.After(end) {
			return time.Time{}, false
		}
	}
	return at, true
}

// addMonths adds n months to t, clamping the day to the month's last.
func addMonths(t time.Time, n int) time.Time {
	y, m, d := t.Date()
	first := time.Date(y, m+time.Month(n), 1, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), t.Location())
	last := first.AddDate(0, 1, -1).Day()
	return first.AddDate(0, 0, min(d, last)-1)
}

// Current returns the occurrence that started last at or before now: its
// number (from 0) and start; false when none has started. After the
// series' end it is the last one.
func (c Config) Current(now time.Time) (int, time.Time, bool) {
	k, at, ok := -1, time.Time{}, false
	for {
		next, more := c.Occurrence(k + 1)
		if !more || next.After(now) {
			return k, at, ok
		}
		k, at, ok = k+1, next, true
	}
}

// Next returns the first occurrence that starts after now (false: none).
func (c Config) Next(now time.Time) (time.Time, bool) {
	k, _, _ := c.Current(now)
	return c.Occurrence(k + 1)
}

// inactiveDays is the threshold of the recommendations.
func (c Config) inactiveDays() int {
	if c.InactiveDays > 0 {
		return c.InactiveDays
	}
	return DefaultInactiveDays
}

// reminders reports whether reminders are on.
func (s SettingsConfig) reminders() bool { return s.Reminders == nil || *s.Reminders }

// scope is the configured scope or the default.
func (c Config) scope() string {
	if c.Scope == "" {
		return ScopeEveryone
	}
	return c.Scope
}
