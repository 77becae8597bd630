package store

import (
	"time"
)

// GuestRecord is the guest lifecycle's state of one user.
type GuestRecord struct {
	User string
	// Due is when the lifecycle looks at the user next; zero: only when
	// the user changes.
	Due  time.Time
	Data []byte
}

// GuestQuery selects guest records, by user.
type GuestQuery struct {
	// Due selects the records due at or before it (not zero), earliest
	// first.
	Due   time.Time
	Limit int // 0: no limit
}
