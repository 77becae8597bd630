package store

import (
	"time"
)

// Reconciliation is the kept report of one reconciliation of a target: the
// engine's JSON, which the store does not interpret, in two parts, so that
// a list of reports does not read every report's items.
type Reconciliation struct {
	Seq     int64
	ID      string // the run's id, unique
	Target  string
	DryRun  bool
	Started time.Time
	// Summary is the report without its items; Items are its items, nil
	// when a query did not read them.
	Summary, Items []byte
}

// ReconciliationQuery selects kept reports, newest first.
type ReconciliationQuery struct {
	Target string // only this target ("" any)
	// ID selects one report, and reads its Items.
	ID string
	// NoDryRuns leaves dry runs out.
	NoDryRuns bool
	Limit     int
}
