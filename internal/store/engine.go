package store

import (
	"time"
)

// Change is one journal entry: the resource Type/ID was created, updated
// or deleted, or its members changed.
type Change struct {
	Seq  int64
	Type string
	ID   string
	// Added and Removed are the member values the change added to or
	// removed from a group (Tx.AddMembers, Tx.RemoveMembers); the delete
	// of a group lists its last members in Removed.
	Added, Removed []string
	// MembersOnly: nothing but the members changed, as Added and Removed
	// say.
	MembersOnly bool
	// Sync names members of a group whose membership is to be planned
	// again though SCIM did not change it (Tx.TouchMembers: a hold was
	// released); nothing else changed.
	Sync []string
}

// Provisioned is the engine's record of one object in one target.
type Provisioned struct {
	Target string
	Type   string
	ID     string
	Anchor string // the target's identifier; "" when not (yet) created there
	State  []byte // the engine's JSON
	// Key is a value the engine finds the object by besides its id (a
	// user's externalId), "" when none.
	Key string
}

// Outbox is one operation queued for a target.
type Outbox struct {
	Seq       int64
	Target    string
	Type      string
	ID        string
	Payload   []byte    // the engine's JSON
	Attempts  int       // failed attempts so far
	NextAt    time.Time // not delivered before
	LastError string
	Dead      bool // a dead letter: never retried automatically
	// Held: held by the deletion guard until released; the object's later
	// operations wait behind it.
	Held bool
	// Created is when the operation was queued (zero for operations queued
	// before the store recorded it).
	Created time.Time
	// ClaimedBy is the replica delivering the operation (Tx.ClaimOutbox),
	// "" when none; its claim stands until ClaimedUntil.
	ClaimedBy    string
	ClaimedUntil time.Time
}

// OutboxStats summarises the queued operations of one target.
type OutboxStats struct {
	Pending int       // pending operations (due), held ones included
	Held    int       // operations held by the deletion guard
	Dead    int       // dead letters
	Oldest  time.Time // Created of the oldest pending operation; zero when none
	// Scheduled operations are queued for later (a leaver's delete after
	// the grace period): their Created is in the future, when they fall
	// due. NextScheduled is the earliest; zero when none.
	Scheduled     int
	NextScheduled time.Time
}
