package guest

import (
	"cmp"
	"slices"
	"time"
)

// Kind is what a Step does.
type Kind string

// The kinds of steps.
const (
	// Notice tells the guest's sponsor or manager (and the guest) that
	// access expires at Step.Expiry.
	Notice Kind = "notice"
	// Block disables the guest everywhere it is provisioned.
	Block Kind = "block"
	// Unblock enables a blocked guest again: its expiry moved past now
	// (an extension, a rehire) or it is no guest any more.
	Unblock Kind = "unblock"
	// Delete removes the guest everywhere it is provisioned.
	Delete Kind = "delete"
)

// Step is one step of a guest's schedule.
type Step struct {
	Kind Kind
	// At is when the step is due.
	At time.Time
	// Notice is the index in Config.Notices of a Notice step.
	Notice int
	// Expiry is the expiry the step was planned for (zero for the
	// Unblock of a user with none).
	Expiry time.Time
}

// State is what the gateway has done for a guest, recorded with Apply
// after each step. The zero State is a guest nothing was done for yet.
type State struct {
	Blocked bool
	Deleted bool
	// NoticesFor is the expiry the notices of Sent were sent for.
	NoticesFor time.Time
	// Sent are the indexes in Config.Notices of the notices sent for
	// NoticesFor.
	Sent []int
}

// Apply returns the state after step was performed.
func (s State) Apply(step Step) State {
	switch step.Kind {
	case Notice:
		if !s.NoticesFor.Equal(step.Expiry) {
			s.NoticesFor, s.Sent = step.Expiry, nil
		}
		if !slices.Contains(s.Sent, step.Notice) {
			s.Sent = append(slices.Clip(s.Sent), step.Notice)
		}
	case Block:
		s.Blocked = true
	case Unblock:
		s.Blocked = false
	case Delete:
		s.Blocked, s.Deleted = false, true
	}
	return s
}

// Plan returns the steps ahead of a user whose access expires at expiry
// (zero: none, as for a user who is not a guest), in the order to perform
// them: those at or before now are due, the first later one is when to
// plan again. See the package documentation for the state machine.
func (r *Rules) Plan(expiry, now time.Time, state State) []Step {
	if state.Deleted {
		return nil
	}
	var steps []Step
	if state.Blocked {
		if !expiry.After(now) && !expiry.IsZero() {
			return []Step{{Kind: Delete, At: expiry.Add(r.cfg.grace()), Expiry: expiry}}
		}
		steps = append(steps, Step{Kind: Unblock, At: now, Expiry: expiry})
	}
	if expiry.IsZero() {
		return steps
	}
	if expiry.After(now) {
		steps = append(steps, r.notices(expiry, now, state)...)
	}
	return append(steps,
		Step{Kind: Block, At: expiry, Expiry: expiry},
		Step{Kind: Delete, At: expiry.Add(r.cfg.grace()), Expiry: expiry})
}

// notices are the notices still to send for expiry, by time: those not
// sent for this expiry and not superseded by a later notice whose time
// has passed too.
func (r *Rules) notices(expiry, now time.Time, state State) []Step {
	var sent []int
	if state.NoticesFor.Equal(expiry) {
		sent = state.Sent
	}
	order := make([]int, len(r.cfg.Notices))
	for i := range order {
		order[i] = i
	}
	// The longest lead first: the earliest notice first.
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(r.cfg.Notices[b], r.cfg.Notices[a]) })
	last := -1 // the position in order of the latest notice whose time has passed
	for k, i := range order {
		if !expiry.Add(-r.cfg.Notices[i]).After(now) {
			last = k
		}
	}
	var out []Step
	for k, i := range order {
		if k < last || slices.Contains(sent, i) {
			continue
		}
		out = append(out, Step{Kind: Notice, At: expiry.Add(-r.cfg.Notices[i]), Notice: i, Expiry: expiry})
	}
	return out
}
