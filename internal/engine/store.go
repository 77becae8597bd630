package engine

import "github.com/scimgate/scimgate/internal/store"

// Store is the part of the store the engine uses: the resources it plans,
// the journal it follows, the outboxes it delivers, the provisioned state
// it records, the reconciliation reports it reads back (AuditLog) and the
// holds it honours. Preview and ObjectStates read through it and
// never write.
type Store interface {
	store.Resources
	store.Writer
	store.Journal
	store.Outboxes
	store.ProvisionedState
	store.AuditLog
	store.Holds
}
