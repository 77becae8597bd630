package store

import (
	"time"
)

// The actions of holds.
const (
	// HoldDisable keeps the account disabled, HoldEnable enabled, whatever
	// the user's active attribute says.
	HoldDisable = "disable"
	HoldEnable  = "enable"
	// HoldDelete keeps the account deleted (deprovisioned) from the
	// target, whatever its scope says.
	HoldDelete = "delete"
	// HoldAdd keeps the user a member of the hold's group in the target,
	// HoldRemove keeps it out of it, whatever the group's members in SCIM
	// are.
	HoldAdd    = "add"
	HoldRemove = "remove"
)

// Hold is one hold. (User, Source, Target, Group) is unique.
type Hold struct {
	User   string // the user's id
	Source string // who holds: "workflow", "guest", "review"
	Target string // the target; "" every target
	Group  string // "" the account; else the membership of this group (its id) in Target
	Action string // HoldDisable, HoldEnable, HoldDelete (account); HoldAdd, HoldRemove (membership)
	// Basis is the fact in SCIM that the hold overrode when it was set:
	// the user's active attribute (account holds), or its membership of
	// Group. The hold lapses when the fact changes: a newer decision in
	// SCIM wins. Nil: the hold stays until it is released.
	Basis   *bool
	Reason  string
	Created time.Time
}

// HoldQuery selects holds, ordered by user, source, target and group. Its
// fields filter when set.
type HoldQuery struct {
	User, Source, Target, Group string
	// Users, when set, selects the holds of these users (at most 500).
	Users []string
	// Account selects the account holds (Group ""), Membership those of
	// groups.
	Account, Membership bool
	// Exact: User, Source, Target and Group all filter, "" included (one
	// hold).
	Exact bool
}
