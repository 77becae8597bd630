package store

import (
	"time"
)

// The statuses of workflow runs and tasks.
const (
	WorkflowPending = "pending"
	WorkflowRunning = "running"
	// WorkflowWaiting: a webhook task waits for its callback (until
	// NextAt).
	WorkflowWaiting = "waiting"
	WorkflowDone    = "done"
	WorkflowFailed  = "failed"
	WorkflowSkipped = "skipped"
)

// WorkflowRun is one run of a workflow for one user. (Workflow, User,
// Occurrence) is unique: each occurrence runs at most once.
type WorkflowRun struct {
	ID         int64
	Workflow   string
	User       string // the user's id
	Occurrence string // what the run is for: a date, an event
	Status     string // WorkflowPending, Running, Done, Failed, Skipped
	Preview    bool   // the tasks are recorded, not done
	// Trigger is the workflow engine's JSON: what caused the run.
	Trigger []byte
	// NextAt is when the run's next task is due (pending and running runs).
	NextAt           time.Time
	Created, Updated time.Time
}

// WorkflowTask is one task of a run.
type WorkflowTask struct {
	Run       int64
	Index     int // 0-based position in the workflow
	Kind      string
	Status    string // WorkflowPending, Running, Done, Failed, Skipped
	Attempts  int    // attempts so far
	NextAt    time.Time
	LastError string
	Result    string // what the task did (or would do, in preview)
	Updated   time.Time
}

// WorkflowSchedule is the next due time of a time-triggered workflow for
// one user: one per (Workflow, User).
type WorkflowSchedule struct {
	Workflow   string
	User       string
	Occurrence string
	Due        time.Time
}

// WorkflowRunQuery selects runs, newest first.
type WorkflowRunQuery struct {
	Workflow string // "" any
	User     string // "" any
	Status   string // "" any
	// Due selects the pending and running runs whose NextAt is not after
	// it, oldest due first.
	Due   time.Time
	Limit int
}

// WorkflowScheduleQuery selects schedules, earliest due first.
type WorkflowScheduleQuery struct {
	Workflow string    // "" any
	User     string    // "" any
	Before   time.Time // zero: any; else due before it
	Limit    int
}
