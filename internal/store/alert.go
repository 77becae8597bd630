package store

import (
	"time"
)

// Alert is the current (Active) or last episode of an alert.
type Alert struct {
	Rule string
	Key  string
	// Episode numbers the episodes of (Rule, Key): 1, 2, ...
	Episode  int
	Active   bool
	Raised   time.Time
	Resolved time.Time // zero while Active
	// Detail is the alert package's JSON: what its notifications say.
	Detail []byte
}

// The events of alert notices.
const (
	AlertRaised   = "raised"
	AlertResolved = "resolved"
)

// AlertNotice is a notification of an episode's raising or resolution to
// one destination, queued until it is sent.
type AlertNotice struct {
	Seq     int64
	Rule    string
	Key     string
	Episode int
	Event   string // AlertRaised or AlertResolved
	// Payload is the alert package's JSON: the rendered message and its
	// destination.
	Payload   []byte
	Attempts  int
	NextAt    time.Time // when the next attempt is due
	LastError string
	// Failed: sending failed for good; the notice is kept for the record
	// and not tried again.
	Failed  bool
	Created time.Time
}

// AlertQuery selects alerts, ordered by rule and key.
type AlertQuery struct {
	Rule   string // "" any
	Active bool   // only the active ones
	Limit  int    // <= 0: no limit
}

// AlertNoticeQuery selects notices in Seq order.
type AlertNoticeQuery struct {
	// Due, when set, selects the notices that are not Failed and whose
	// NextAt is not after it.
	Due   time.Time
	Limit int // <= 0: no limit
}
