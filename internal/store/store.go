// Package store is the contract of scimgate's durable state: SCIM
// resources with the index rows that answer filters, the change journal,
// the provisioning engine's outbox and state, the audit log and the
// records of workflows, alerts, holds, guests and access reviews; the
// types, the sentinel errors, the Store and Tx interfaces and the small
// role interfaces Store is made of, from which each consumer composes the
// interface it uses. The implementation is package sqlstore (SQLite,
// PostgreSQL, MariaDB/MySQL).
//
// The SCIM layer owns the meaning of resources: it hands the store opaque JSON
// plus the index entries it derived from the schema, and compiles SCIM filters
// into Cond trees over those index paths. The store owns durability: every
// Write returns only after its transaction is committed and durable, and
// concurrent Writes share commits (group commit).
package store

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors, checked with errors.Is.
var (
	// ErrNotFound: no resource of that type with that id.
	ErrNotFound = errors.New("store: resource not found")
	// ErrConflict: the resource's Unique key (or id) is already taken within its type.
	ErrConflict = errors.New("store: uniqueness conflict")
	// ErrModified: the resource changed since it was read (optimistic check of Update).
	ErrModified = errors.New("store: resource modified concurrently")
	// ErrClosed: the store is closed.
	ErrClosed = errors.New("store: closed")
	// ErrUnavailable: the storage cannot write (disk full, I/O error,
	// read-only file or directory); nothing of the failed write was
	// committed. It wraps the database's own error.
	ErrUnavailable = errors.New("store: storage cannot write")
	// ErrInvalidText: a string the database cannot hold (PostgreSQL's
	// text holds neither U+0000 nor invalid UTF-8); nothing of the write
	// was committed, and a query with such a literal is refused.
	ErrInvalidText = errors.New("store: the database cannot store or compare this text (U+0000 or invalid UTF-8)")
)

// Resource is one stored SCIM resource.
type Resource struct {
	Type     string    // resource type name: "User", "Group"
	ID       string    // server-assigned id
	Version  int64     // 1 on create, +1 on every update; set by the store
	Created  time.Time // set by the store on Create
	Modified time.Time // set by the store on Create and Update
	// Unique is the case-folded uniqueness key (userName for users,
	// displayName for groups). Unique per Type; "" means none.
	Unique string
	// Data is the resource JSON as the SCIM layer keeps it (without meta).
	Data []byte
	// Index holds the normalised attribute values that filters and sorting use.
	Index []IndexEntry
	// Changed names the attributes a Create sets or an Update changes
	// (attribute paths, never values) for the audit entry of the write;
	// it is not stored.
	Changed []string
}

// IndexEntry is one normalised attribute value of a resource.
type IndexEntry struct {
	// Path is the lower-case attribute path: "username", "name.givenname",
	// "emails.value", "members.value",
	// "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:manager.value".
	Path string
	// Elem numbers the element of a multi-valued attribute that the value
	// belongs to (0, 1, ...); 0 for singular attributes. Conditions inside an
	// Elem node must all hold for the same element.
	Elem int
	// Str is the normalised value: lower-cased unless the attribute is
	// caseExact; booleans "true"/"false"; dateTimes in TimeFormat (UTC), so
	// that string order is time order; numbers in decimal text.
	Str string
	// Num is set for integer and decimal attributes; numeric comparisons use it.
	Num *float64
}

// TimeFormat is the fixed-width UTC layout of normalised dateTime values and
// of the meta.created / meta.lastmodified pseudo-paths.
const TimeFormat = "2006-01-02T15:04:05.000000000Z"

// Op is a comparison operator of a filter.
type Op int

const (
	Eq Op = iota // equal
	Ne           // not equal: true when no value equals (also when absent)
	Co           // contains (substring)
	Sw           // starts with
	Ew           // ends with
	Gt           // greater than
	Ge           // greater or equal
	Lt           // less than
	Le           // less or equal
	Pr           // present: the resource has at least one value at one of Paths
)

// Cond is a filter over index entries, built by the SCIM layer.
// Implementations: And, Or, Not, Compare, Elem, Const. A query with a
// nil term or an unknown Op is refused with an error.
type Cond interface{ isCond() }

// And holds when every term holds.
type And []Cond

// Or holds when any term holds.
type Or []Cond

// Not negates its term.
type Not struct{ C Cond }

// Const is a fixed truth value (for example a filter on an attribute that
// can never have a value).
type Const bool

// Compare compares the values at Paths with a literal. It holds when some
// value at one of Paths satisfies Op (Ne: when no value equals). Str is
// already normalised like IndexEntry.Str; when Num is set, the comparison is
// numeric on IndexEntry.Num. Strings compare byte by byte, as Go's do
// (also in sorting); literals are never patterns. Paths "id",
// "meta.created" and "meta.lastmodified" compare the resource's own id
// and timestamps (timestamps as TimeFormat strings).
type Compare struct {
	Paths []string
	Op    Op
	Str   string
	Num   *float64
}

// Elem holds when one single element of the multi-valued attribute Root (for
// example "emails") satisfies C; every Compare in C refers to paths under
// Root ("emails.type", "emails.value") of that same element.
type Elem struct {
	Root string
	C    Cond
}

func (And) isCond() {}

func (Or) isCond() {}

func (Not) isCond() {}

func (Const) isCond() {}

func (Compare) isCond() {}

func (Elem) isCond() {}

// Query selects, orders and pages resources of one type.
type Query struct {
	Filter Cond // nil: every resource of the type
	// SortBy is an index path; resources are ordered by their smallest Str
	// value at that path, resources without a value last (first when
	// Descending). "" orders by creation. Ties always break by creation
	// order, so paging is stable.
	SortBy     string
	Descending bool
	StartIndex int // 1-based; values below 1 mean 1
	Count      int // maximum resources returned; 0 returns only Total
}

// Page is the answer to a Query.
type Page struct {
	Total     int        // number of resources matching the filter
	Resources []Resource // the requested page (never nil)
}

// Store is the gateway's durable store: what a backend implements. It is
// the sum of the roles below; a consumer declares the interface it uses,
// made of the roles it needs, rather than taking the whole Store.
type Store interface {
	Resources
	Writer
	Journal
	Outboxes
	ProvisionedState
	AuditLog
	Workflows
	Alerts
	Holds
	Guests
	Reviews
	// Close finishes queued writes and releases the database.
	Close() error
}

// Resources reads SCIM resources and group members.
type Resources interface {
	// Get returns one resource, or ErrNotFound.
	Get(ctx context.Context, typ, id string) (Resource, error)
	// Query answers a filter from the index; cost grows with the size of
	// the answer, not of the store, for selective filters. It stops with
	// ctx's error when ctx ends, also in the middle of a statement.
	Query(ctx context.Context, typ string, q Query) (Page, error)
	// Find returns the ids of the resources of a type matching c, in
	// creation order.
	Find(ctx context.Context, typ string, c Cond) ([]string, error)

	// Group members (see members.go).

	// Members returns up to limit members of typ/id (all when limit <= 0)
	// with Elem > after, in Elem order; ErrNotFound without the resource.
	Members(ctx context.Context, typ, id string, after, limit int) ([]Member, error)
	// MemberOf returns the ids of the resources of typ that have value
	// as a member, in creation order.
	MemberOf(ctx context.Context, typ, value string) ([]string, error)
	// MemberCount returns how many members typ/id has.
	MemberCount(ctx context.Context, typ, id string) (int, error)
}

// Writer changes the store: every write goes through a Tx.
type Writer interface {
	// Write runs fn in a transaction and returns once the transaction is
	// durably committed (fsync'd). If fn returns an error, none of its
	// writes happen and that error is returned. Writes from concurrent
	// callers may share one commit; each sees the effects of those before
	// it. fn must do all its I/O through tx and must not retain it.
	Write(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error
}

// Journal reads the change journal and the engine's cursors in it (see
// engine.go).
type Journal interface {
	// Changes returns up to limit journal entries with Seq > after, in
	// Seq order.
	Changes(ctx context.Context, after int64, limit int) ([]Change, error)
	// Changed is signalled (without blocking; capacity 1) after a commit
	// that recorded changes.
	Changed() <-chan struct{}
	// Cursor returns the position saved under name, 0 when none.
	Cursor(ctx context.Context, name string) (int64, error)
}

// Outboxes reads the operations queued for each target (see engine.go).
type Outboxes interface {
	// Outbox returns up to limit operations of target in Seq order: the
	// pending ones, or with dead the dead letters.
	Outbox(ctx context.Context, target string, dead bool, limit int) ([]Outbox, error)
	// Deliverable returns up to limit pending operations of target in Seq
	// order that are neither held nor queued behind a held operation of
	// their object.
	Deliverable(ctx context.Context, target string, limit int) ([]Outbox, error)
	// HeldOutbox returns up to limit held operations of target in Seq order.
	HeldOutbox(ctx context.Context, target string, limit int) ([]Outbox, error)
	// OutboxStats summarises the operations queued for target: due at
	// now (pending) and scheduled after it.
	OutboxStats(ctx context.Context, target string, now time.Time) (OutboxStats, error)
	// ObjectOutbox returns the operations of one object in a target,
	// pending and dead, in queue order.
	ObjectOutbox(ctx context.Context, target, typ, id string) ([]Outbox, error)
}

// ProvisionedState reads what the engine recorded of the objects it
// provisioned in each target (see engine.go).
type ProvisionedState interface {
	// Provisioned returns the state of one object in one target, or
	// ErrNotFound.
	Provisioned(ctx context.Context, target, typ, id string) (Provisioned, error)
	// ProvisionedByKey returns the records of a target's objects of a type
	// with the given Key.
	ProvisionedByKey(ctx context.Context, target, typ, key string) ([]Provisioned, error)
	// ProvisionedByAnchor returns the records of a target's objects of a
	// type with the given Anchor (one, unless the engine's records are
	// inconsistent); none for the empty anchor.
	ProvisionedByAnchor(ctx context.Context, target, typ, anchor string) ([]Provisioned, error)
	// ProvisionedOf returns every record of a target.
	ProvisionedOf(ctx context.Context, target string) ([]Provisioned, error)

	// The engine's record of the members it put into a group in a
	// target (see provmembers.go).

	// ProvisionedMembers returns the members recorded for group gid in
	// target, sorted.
	ProvisionedMembers(ctx context.Context, target, gid string) ([]string, error)
	// ProvisionedMembersIn returns those of members recorded for group
	// gid in target.
	ProvisionedMembersIn(ctx context.Context, target, gid string, members []string) ([]string, error)
	// ProvisionedGroupsOf returns the groups of target that member is
	// recorded in, sorted.
	ProvisionedGroupsOf(ctx context.Context, target, member string) ([]string, error)
}

// AuditLog reads the audit log and the reports of reconciliations.
type AuditLog interface {
	// Audit returns audit entries, newest first.
	Audit(ctx context.Context, q AuditQuery) ([]AuditEntry, error)
	// Reconciliations returns the kept reports of reconciliations, newest
	// first (see reconcile.go).
	Reconciliations(ctx context.Context, q ReconciliationQuery) ([]Reconciliation, error)
}

// Workflows reads the lifecycle workflows' runs, schedules and states (see
// workflow.go).
type Workflows interface {
	// WorkflowRun returns a run with its tasks in order, or ErrNotFound.
	WorkflowRun(ctx context.Context, id int64) (WorkflowRun, []WorkflowTask, error)
	// WorkflowRuns returns the runs q selects.
	WorkflowRuns(ctx context.Context, q WorkflowRunQuery) ([]WorkflowRun, error)
	// WorkflowRunCounts returns how many runs each workflow has, by
	// status.
	WorkflowRunCounts(ctx context.Context) (map[string]map[string]int, error)
	// WorkflowSchedules returns the schedules q selects.
	WorkflowSchedules(ctx context.Context, q WorkflowScheduleQuery) ([]WorkflowSchedule, error)
	// WorkflowStates returns the administrator's overrides: enabled or
	// not, by workflow.
	WorkflowStates(ctx context.Context) (map[string]bool, error)
}

// Alerts reads the alert episodes and their notifications (see alert.go).
type Alerts interface {
	// Alerts returns the alerts q selects, by rule and key.
	Alerts(ctx context.Context, q AlertQuery) ([]Alert, error)
	// AlertNotices returns the notifications q selects, in Seq order.
	AlertNotices(ctx context.Context, q AlertNoticeQuery) ([]AlertNotice, error)
}

// Holds reads the holds (see holds.go).
type Holds interface {
	// Holds returns the holds q selects.
	Holds(ctx context.Context, q HoldQuery) ([]Hold, error)
}

// Guests reads the guest lifecycle's records (see guests.go).
type Guests interface {
	// Guests returns the guest records q selects.
	Guests(ctx context.Context, q GuestQuery) ([]GuestRecord, error)
	// Guest returns the guest record of user, or ErrNotFound.
	Guest(ctx context.Context, user string) (GuestRecord, error)
}

// Reviews reads the access reviews: instances, items, notices,
// definitions and the reviewer page's sessions (see reviews.go).
type Reviews interface {
	// ReviewInstance returns one instance, or ErrNotFound.
	ReviewInstance(ctx context.Context, id int64) (ReviewInstance, error)
	// ReviewSession returns the reviewer page's session of hash (expired
	// and revoked ones too, until purged), or ErrNotFound.
	ReviewSession(ctx context.Context, hash string) (ReviewSession, error)
	// ReviewInstances returns the instances q selects.
	ReviewInstances(ctx context.Context, q ReviewInstanceQuery) ([]ReviewInstance, error)
	// ReviewItems returns the items q selects, with their reviewers.
	ReviewItems(ctx context.Context, q ReviewItemQuery) ([]ReviewItem, error)
	// ReviewCounts counts the decisions of an instance's items, in all
	// and by reviewer.
	ReviewCounts(ctx context.Context, instance int64) (ReviewCounts, error)
	// ReviewNotices returns the notices recorded for an instance.
	ReviewNotices(ctx context.Context, instance int64) ([]ReviewNotice, error)
	// ReviewDefinitions returns the access reviews defined through the
	// admin API, oldest first (see reviews.go).
	ReviewDefinitions(ctx context.Context) ([]ReviewDefinition, error)
}

// Tx is the view of the store inside Write.
type Tx interface {
	// Get returns one resource, or ErrNotFound.
	Get(ctx context.Context, typ, id string) (Resource, error)
	// Find returns the ids of the resources of typ that match c, in creation order.
	Find(ctx context.Context, typ string, c Cond) ([]string, error)
	// Create inserts r. It sets r.Version to 1 and r.Created/r.Modified.
	// ErrConflict when r.ID or (r.Type, r.Unique) is taken.
	Create(ctx context.Context, r *Resource) error
	// Update replaces the stored resource r.Type/r.ID, whose version must
	// still be r.Version (else ErrModified); it increments r.Version and
	// sets r.Modified. ErrNotFound, ErrConflict as for Create.
	Update(ctx context.Context, r *Resource) error
	// Delete removes a resource, its index entries and its members, or
	// returns ErrNotFound.
	Delete(ctx context.Context, typ, id string) error

	// AddMembers adds members to typ/id (ErrNotFound without it) and
	// returns the values that were not members before, in order; a member
	// already there gets the new Data and Index. When anything changed,
	// the resource's version and Modified advance, and the values added
	// are journalled (Change.Added, MembersOnly) and audited.
	AddMembers(ctx context.Context, typ, id string, ms []Member) ([]string, error)
	// RemoveMembers removes the members with the given values from typ/id
	// and returns those that were members; otherwise as AddMembers.
	RemoveMembers(ctx context.Context, typ, id string, values []string) ([]string, error)
	// Members reads members as Store.Members does.
	Members(ctx context.Context, typ, id string, after, limit int) ([]Member, error)
	// MemberOf returns the ids of the resources of typ that have value
	// as a member, in creation order.
	MemberOf(ctx context.Context, typ, value string) ([]string, error)

	// Create, Update and Delete each append a Change to the journal.
	// The methods below are the provisioning engine's (see engine.go).

	// DeleteChanges removes the journal entries with Seq <= through.
	DeleteChanges(ctx context.Context, through int64) error
	// SetCursor saves pos under name.
	SetCursor(ctx context.Context, name string, pos int64) error
	// Provisioned returns the state of one object in one target, or
	// ErrNotFound.
	Provisioned(ctx context.Context, target, typ, id string) (Provisioned, error)
	// AddProvisionedMembers records members in group gid of target
	// (those already recorded stay as they are).
	AddProvisionedMembers(ctx context.Context, target, gid string, members []string) error
	// RemoveProvisionedMembers drops members from the record of group gid
	// in target; nil members drops them all.
	RemoveProvisionedMembers(ctx context.Context, target, gid string, members []string) error
	// ProvisionedMembers and ProvisionedGroupsOf read as the Store's do.
	ProvisionedMembers(ctx context.Context, target, gid string) ([]string, error)
	ProvisionedGroupsOf(ctx context.Context, target, member string) ([]string, error)
	// PutProvisioned inserts or replaces the state of p's object in p's target.
	PutProvisioned(ctx context.Context, p Provisioned) error
	// DeleteProvisioned removes the state of an object in a target; a
	// missing one is no error.
	DeleteProvisioned(ctx context.Context, target, typ, id string) error
	// Enqueue appends o (its Seq, Attempts, LastError and Dead ignored; a
	// zero Created is the current time) to the outbox and returns its Seq.
	Enqueue(ctx context.Context, o Outbox) (int64, error)
	// UpdateOutbox saves o's Payload, Attempts, NextAt, LastError, Dead,
	// Held and Created and clears its claim, or returns ErrNotFound.
	UpdateOutbox(ctx context.Context, o Outbox) error
	// ClaimOutbox claims the operations seqs for the replica by until
	// until, and returns those it claimed, as stored, in the order of
	// seqs. It claims an operation that is pending (not dead, not held),
	// the first pending one of its object (in Seq order), and claimed by
	// no other replica, or by one whose claim ended before now; it renews
	// by's own claims. Others are skipped (a missing one too). A claim
	// ends with UpdateOutbox or DeleteOutbox, or with a claim until now.
	ClaimOutbox(ctx context.Context, seqs []int64, by string, now, until time.Time) ([]Outbox, error)
	// LastOutbox returns the last operation (highest Seq) of an object in
	// a target that is not a dead letter, or ErrNotFound.
	LastOutbox(ctx context.Context, target, typ, id string) (Outbox, error)
	// HeldOutbox returns up to limit held operations of target in Seq order.
	HeldOutbox(ctx context.Context, target string, limit int) ([]Outbox, error)
	// ObjectOutbox returns the operations of one object in a target,
	// pending and dead, in queue order.
	ObjectOutbox(ctx context.Context, target, typ, id string) ([]Outbox, error)
	// ReleaseHeld clears the held mark of target's operations and returns
	// how many there were.
	ReleaseHeld(ctx context.Context, target string) (int, error)
	// DeleteOutbox removes an operation from the outbox, or ErrNotFound.
	DeleteOutbox(ctx context.Context, seq int64) error
	// GetOutbox returns one operation, ErrNotFound when there is none.
	GetOutbox(ctx context.Context, seq int64) (Outbox, error)
	// DeletePending removes the pending (not dead) operations of an object.
	DeletePending(ctx context.Context, target, typ, id string) error
	// Touch appends a change of an object to the journal without changing
	// it, so that the engine plans it again.
	Touch(ctx context.Context, typ, id string) error
	// TouchMembers appends a change of a group to the journal that names
	// members whose membership is to be planned again (Change.Sync),
	// without changing the group.
	TouchMembers(ctx context.Context, typ, id string, members []string) error
	// Audit appends an audit entry.
	Audit(ctx context.Context, e AuditEntry) error
	// PruneAudit removes the audit entries older than before.
	PruneAudit(ctx context.Context, before time.Time) (int, error)
	// AddReconciliation keeps the report of a reconciliation, and drops
	// the oldest reports of its target beyond the newest keep.
	AddReconciliation(ctx context.Context, r Reconciliation, keep int) error

	// Lifecycle workflows (see workflow.go).

	// CreateWorkflowRun inserts r (setting r.ID) with its tasks and
	// reports true, unless (Workflow, User, Occurrence) already has a
	// run: then it sets r.ID to that run's and reports false.
	CreateWorkflowRun(ctx context.Context, r *WorkflowRun, tasks []WorkflowTask) (bool, error)
	// UpdateWorkflowRun saves r's Status, NextAt and Updated, or returns
	// ErrNotFound.
	UpdateWorkflowRun(ctx context.Context, r WorkflowRun) error
	// UpdateWorkflowTask saves k's Status, Attempts, NextAt, LastError,
	// Result and Updated, or returns ErrNotFound.
	UpdateWorkflowTask(ctx context.Context, k WorkflowTask) error
	// WorkflowRun reads a run as the Store's does.
	WorkflowRun(ctx context.Context, id int64) (WorkflowRun, []WorkflowTask, error)
	// WorkflowSchedule returns the schedule of a workflow for a user, or
	// ErrNotFound.
	WorkflowSchedule(ctx context.Context, workflow, user string) (WorkflowSchedule, error)
	// PutWorkflowSchedule inserts or replaces the schedule of sc's
	// workflow for sc's user.
	PutWorkflowSchedule(ctx context.Context, sc WorkflowSchedule) error
	// DeleteWorkflowSchedule removes a schedule; a missing one is no error.
	DeleteWorkflowSchedule(ctx context.Context, workflow, user string) error
	// AddWorkflowCallback records the token hash of a waiting task's
	// callback; WorkflowCallback finds its task (ErrNotFound when none);
	// DeleteWorkflowCallbacks forgets a task's callbacks.
	AddWorkflowCallback(ctx context.Context, tokenHash string, run int64, idx int) error
	WorkflowCallback(ctx context.Context, tokenHash string) (run int64, idx int, err error)
	DeleteWorkflowCallbacks(ctx context.Context, run int64, idx int) error
	// WorkflowSnapshot returns the snapshot kept for a user, or
	// ErrNotFound.
	WorkflowSnapshot(ctx context.Context, user string) ([]byte, error)
	// PutWorkflowSnapshot inserts or replaces a user's snapshot.
	PutWorkflowSnapshot(ctx context.Context, user string, data []byte) error
	// DeleteWorkflowSnapshot removes a user's snapshot; a missing one is
	// no error.
	DeleteWorkflowSnapshot(ctx context.Context, user string) error
	// SetWorkflowEnabled records the administrator's override of a
	// workflow (nil removes it).
	SetWorkflowEnabled(ctx context.Context, workflow string, enabled *bool) error
	// WorkflowStates reads the overrides as the Store's does.
	WorkflowStates(ctx context.Context) (map[string]bool, error)
	// Holds (see holds.go).

	// Holds returns the holds q selects.
	Holds(ctx context.Context, q HoldQuery) ([]Hold, error)
	// PutHold inserts or replaces the hold of h's (User, Source, Target,
	// Group).
	PutHold(ctx context.Context, h Hold) error
	// DeleteHolds removes the holds q selects (q must select something)
	// and returns how many.
	DeleteHolds(ctx context.Context, q HoldQuery) (int, error)

	// Guests (see guests.go).

	// Guest returns the guest lifecycle's state of user, or ErrNotFound.
	Guest(ctx context.Context, user string) (GuestRecord, error)
	// PutGuest inserts or replaces the state of g.User.
	PutGuest(ctx context.Context, g GuestRecord) error
	// DeleteGuest removes the state of user (none: no error).
	DeleteGuest(ctx context.Context, user string) error

	// Access reviews (see reviews.go).

	// CreateReviewInstance inserts in (setting in.ID) with its items and
	// their reviewers and reports true, unless (Definition, Start)
	// already has an instance: then it sets in.ID to that one's and
	// reports false.
	CreateReviewInstance(ctx context.Context, in *ReviewInstance, items []ReviewItem) (bool, error)
	// UpdateReviewInstance saves in's Status, End, Ended, EndedBy,
	// Applied, AppliedBy and Stage, or returns ErrNotFound.
	UpdateReviewInstance(ctx context.Context, in ReviewInstance) error
	// ReviewInstance and ReviewItems read as the Store's do.
	ReviewInstance(ctx context.Context, id int64) (ReviewInstance, error)
	ReviewItems(ctx context.Context, q ReviewItemQuery) ([]ReviewItem, error)
	// UpdateReviewItem saves it's decision, apply result, reviewers,
	// stage and first stage's decision, or returns ErrNotFound.
	UpdateReviewItem(ctx context.Context, it ReviewItem) error
	// AddReviewNotice records a notice; one already recorded for its
	// (Instance, Recipient, Kind) is kept.
	AddReviewNotice(ctx context.Context, n ReviewNotice) error
	// PutReviewDefinition inserts or replaces the definition named d.Name.
	PutReviewDefinition(ctx context.Context, d ReviewDefinition) error
	// DeleteReviewDefinition deletes the definition named name (ErrNotFound
	// when none); its instances stay.
	DeleteReviewDefinition(ctx context.Context, name string) error
	// UseReviewLink records the one-time sign-in link id as used and
	// reports true, or false when it was used already; the ids of links
	// expired before now are forgotten (they are refused as expired).
	UseReviewLink(ctx context.Context, id string, expires, now time.Time) (bool, error)
	// CreateReviewSession inserts s and purges the sessions expired at
	// s.Created (see reviewsessions.go).
	CreateReviewSession(ctx context.Context, s ReviewSession) error
	// TouchReviewSession sets the LastSeen of the session hash to now
	// (none: no error).
	TouchReviewSession(ctx context.Context, hash string, now time.Time) error
	// RevokeReviewSession revokes the session hash at now (none, or
	// revoked already: no error).
	RevokeReviewSession(ctx context.Context, hash string, now time.Time) error
	// RevokeReviewerSessions revokes every session of reviewer not
	// revoked yet at now and returns how many.
	RevokeReviewerSessions(ctx context.Context, reviewer string, now time.Time) (int, error)

	// Alerts (see alert.go).

	// Alert returns the current or last episode of (rule, key), or
	// ErrNotFound.
	Alert(ctx context.Context, rule, key string) (Alert, error)
	// PutAlert inserts or replaces the episode of a's (Rule, Key).
	PutAlert(ctx context.Context, a Alert) error
	// AddAlertNotice queues n (its Seq ignored; Attempts, LastError and
	// Failed as given) and returns its Seq.
	AddAlertNotice(ctx context.Context, n AlertNotice) (int64, error)
	// UpdateAlertNotice saves n's Attempts, NextAt, LastError and Failed,
	// or returns ErrNotFound.
	UpdateAlertNotice(ctx context.Context, n AlertNotice) error
	// DeleteAlertNotice removes a sent notification, or returns
	// ErrNotFound.
	DeleteAlertNotice(ctx context.Context, seq int64) error
	// AlertState returns the state kept under name, or ErrNotFound.
	AlertState(ctx context.Context, name string) ([]byte, error)
	// PutAlertState inserts or replaces the state kept under name.
	PutAlertState(ctx context.Context, name string, data []byte) error
}
