package plan

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/scimgate/scimgate/internal/guest"
	"github.com/scimgate/scimgate/internal/store"
)

// Guests is the guest lifecycle's part of a plan: the steps due within
// Days days of the plan's time, those already due included.
type Guests struct {
	Days  int         `json:"days"`
	Steps []GuestStep `json:"steps"`
}

// GuestStep is a step of one guest's schedule.
type GuestStep struct {
	At       time.Time `json:"at"`
	Step     string    `json:"step"` // notice, block, unblock, delete
	User     string    `json:"user"`
	UserName string    `json:"userName"`
	// Due: the step's time has passed; the lifecycle performs it on its
	// next run.
	Due bool `json:"due,omitempty"`
	// Expiry is the expiry the step is for, Why the expiry rule that gave
	// it.
	Expiry    *time.Time `json:"expiry,omitempty"`
	Why       string     `json:"why,omitempty"`
	LastError string     `json:"lastError,omitempty"` // the guest's last failed attempt
}

// GuestSteps plans, with rules, the steps of every guest recorded in st
// that fall due by now plus days days, earliest first: what the guest
// lifecycle would do if it ran until then with nothing changing.
func GuestSteps(ctx context.Context, st store.Guests, rules *guest.Rules, now time.Time, days int) (*Guests, error) {
	recs, err := guest.Records(ctx, st)
	if err != nil {
		return nil, err
	}
	until := now.AddDate(0, 0, days)
	out := &Guests{Days: days, Steps: []GuestStep{}}
	for _, r := range recs {
		for i, s := range rules.Plan(r.Expiry, now, r.State) {
			if s.At.After(until) {
				break
			}
			gs := GuestStep{At: s.At.UTC(), Step: string(s.Kind), User: r.User, UserName: r.UserName, Due: !s.At.After(now), Why: r.Why}
			if !s.Expiry.IsZero() {
				e := s.Expiry.UTC()
				gs.Expiry = &e
			}
			if i == 0 {
				gs.LastError = r.LastError
			}
			out.Steps = append(out.Steps, gs)
		}
	}
	slices.SortStableFunc(out.Steps, func(a, b GuestStep) int {
		return cmp.Or(a.At.Compare(b.At), cmp.Compare(a.UserName, b.UserName))
	})
	return out, nil
}

// writeText writes the section "Guest lifecycle" of a plan.
func (g *Guests) writeText(b *strings.Builder) {
	if len(g.Steps) == 0 {
		fmt.Fprintf(b, "Guest lifecycle: no step due %s\n", horizon(g.Days))
		return
	}
	fmt.Fprintf(b, "Guest lifecycle: steps due %s\n", horizon(g.Days))
	for _, s := range g.Steps {
		name := cmp.Or(s.UserName, s.User)
		fmt.Fprintf(b, "  %s  %-7s %s", s.At.Format(time.RFC3339), s.Step, name)
		if s.Expiry != nil {
			fmt.Fprintf(b, " (expiry %s, %s)", s.Expiry.Format(time.RFC3339), s.Why)
		}
		if s.Due {
			b.WriteString(" due now")
		}
		b.WriteByte('\n')
		if s.LastError != "" {
			fmt.Fprintf(b, "    last attempt failed: %s\n", oneLine(s.LastError))
		}
	}
}

// horizon says when the steps of a horizon of n days are due.
func horizon(n int) string {
	switch n {
	case 0:
		return "now"
	case 1:
		return "in the next day"
	}
	return fmt.Sprintf("in the next %d days", n)
}

// oneLine shows text on one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
