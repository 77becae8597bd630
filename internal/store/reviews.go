package store

import (
	"time"
)

// The statuses of review instances (Entra's accessReviewInstance status
// where they match).
const (
	// ReviewInProgress: reviewers decide until the end.
	ReviewInProgress = "InProgress"
	// ReviewCompleted: ended; the decisions are final and not applied
	// (yet).
	ReviewCompleted = "Completed"
	// ReviewApplied: ended, and its results applied.
	ReviewApplied = "Applied"
)

// ReviewInstance is one instance of an access review definition.
// (Definition, Start) is unique: each occurrence starts at most once.
type ReviewInstance struct {
	ID         int64
	Definition string
	Occurrence int // 1-based number of the occurrence in the definition's series
	Status     string
	// Start and End are the scheduled start and end; Ended is when it
	// ended (End, or earlier when stopped), EndedBy who ended it.
	Start, End, Ended time.Time
	EndedBy           string
	// Applied is when its results were last applied, AppliedBy by whom.
	Applied   time.Time
	AppliedBy string
	// Data is the review's JSON: the definition as it was at the start.
	Data []byte
	// Stage is the stage in progress (1, or 2 once a review with a
	// second stage moved its items there); 1 when created with 0.
	Stage int
}

// ReviewItem is one decision of an instance: a user's access to one
// resource (a target's account, or a group's membership).
type ReviewItem struct {
	Instance int64
	Index    int    // 1-based, in the instance
	User     string // the user's id
	// UserName and DisplayName are the user's at the start.
	UserName, DisplayName string
	// ResourceType is ReviewTarget or ReviewGroup; Resource the target's
	// name or the group's id, ResourceName its display name.
	ResourceType, Resource, ResourceName string
	// Guest: the user was a guest at the start.
	Guest bool
	// LastSignIn is the last sign-in known at the start (zero: none).
	LastSignIn time.Time
	// Recommendation (approve, deny) and its reason.
	Recommendation, Reason string
	// Reviewers are who may decide the item (user ids, or email
	// addresses of reviewers who are no SCIM user), sorted.
	Reviewers []string
	// Decision (Entra's: Approve, Deny, DontKnow, NotReviewed), who
	// decided, when, and why.
	Decision      string
	Justification string
	ReviewedBy    string
	ReviewedAt    time.Time
	// ApplyResult is "" (nothing applied), or what applying the decision
	// gave (Applied, NotFound, Failed), ApplyDetail what was done or the
	// error, AppliedAt when.
	ApplyResult, ApplyDetail string
	AppliedAt                time.Time
	// Stage is the stage the item is decided in: 1, or 2 when it moved
	// to the second stage (1 when created with 0). The Stage1 fields
	// keep the first stage's decision of an item that moved.
	Stage                                                 int
	Stage1Decision, Stage1Justification, Stage1ReviewedBy string
	Stage1ReviewedAt                                      time.Time
}

// The resource types of review items.
const (
	ReviewTarget = "target"
	ReviewGroup  = "group"
)

// ReviewNotice records a notice sent for an instance (or refused for
// good: Error), so that each is sent once.
type ReviewNotice struct {
	Instance  int64
	Recipient string // a reviewer, or "channel:<name>"
	Kind      string // started, halfway, lastDay
	At        time.Time
	Error     string
}

// ReviewInstanceQuery selects instances, newest start first.
type ReviewInstanceQuery struct {
	Definition string   // "" any
	Status     []string // nil any
	Start      time.Time
	Limit      int // 0: no limit
}

// ReviewItemQuery selects items, by instance and index.
type ReviewItemQuery struct {
	Instance int64  // 0 any
	Reviewer string // "" any: else only the items this reviewer may decide
	// Status selects the items of instances in this status ("" any).
	Status string
	// Pending selects the items not reviewed.
	Pending bool
	// Index selects one item (with Instance).
	Index int
}

// ReviewCounts are the decisions of an instance's items: by decision,
// and by reviewer and decision.
type ReviewCounts struct {
	Decisions  map[string]int
	ByReviewer map[string]map[string]int
}

// ReviewNotReviewed is the decision of an item nobody decided (yet);
// the store selects the pending items by it.
const ReviewNotReviewed = "NotReviewed"

// ReviewDefinition is an access review defined through the admin API:
// its configuration's JSON (package review), under its case-folded name.
type ReviewDefinition struct {
	Name             string
	Data             []byte
	Created, Updated time.Time
}
