package store

import (
	"errors"
)

// ErrSchemaTooNew: the database was migrated by a newer scimgate than this
// one; it refuses to touch it.
var ErrSchemaTooNew = errors.New("store: database schema is newer than this scimgate")
