package store

import (
	"time"
)

// Lease is a named lease: the replica Holder holds it until Expires.
// Epoch grows by one each time the lease changes holder, so that work
// done under a lease can be told from a later holder's.
type Lease struct {
	Name    string
	Holder  string
	Epoch   int64
	Expires time.Time
}
