package store

import (
	"time"
)

// ReviewSession is a session of the reviewer page (package
// internal/reviewweb), kept by the SHA-256 of its random id: the id
// itself is only in the browser's cookie, so the table's rows cannot be
// replayed. A session is valid until Expires (absolute), unless revoked;
// the page also ends it after a while without a request (LastSeen).
type ReviewSession struct {
	Hash     string // hex SHA-256 of the session id
	Reviewer string // the reviewer's key; "" in an admin's session
	Admin    string // the admin credential's name; "" in a reviewer's
	Created  time.Time
	LastSeen time.Time
	Expires  time.Time
	Revoked  time.Time // zero while not revoked
}
