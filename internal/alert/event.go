package alert

import (
	"fmt"
	"strconv"
	"time"
)

// Event is what an alert's notifications say: the data of the templates.
// It is kept with the episode (store.Alert.Detail), so that the
// resolution names what the raising named. It carries names and counts,
// never secrets.
type Event struct {
	Rule string `json:"rule"`
	Kind string `json:"kind"`
	Key  string `json:"key"`
	// Resolved: the notification of the episode's end.
	Resolved bool `json:"resolved,omitempty"`
	// At is when the alert was raised (resolved, for a resolution).
	At time.Time `json:"at"`
	// Summary is one line saying what happened.
	Summary string `json:"summary"`

	Target string `json:"target,omitempty"`
	// Since: targetDown, when the target went down.
	Since time.Time `json:"since,omitzero"`
	// For: targetDown, the rule's duration.
	For time.Duration `json:"for,omitempty"`
	// Count: the operations held, the dead letters, the orphans and
	// drifted accounts.
	Count     int `json:"count,omitempty"`
	Threshold int `json:"threshold,omitempty"`
	// Reconciliation is the id of the reconciliation's report.
	Reconciliation string `json:"reconciliation,omitempty"`

	// Source of a group change: SCIM or Entra.
	Source string `json:"source,omitempty"`
	// Group is the group's displayName (its id when unknown); User the
	// user's userName (SCIM) or userPrincipalName (Entra), else its
	// displayName or id.
	Group   string `json:"group,omitempty"`
	GroupID string `json:"groupId,omitempty"`
	User    string `json:"user,omitempty"`
	UserID  string `json:"userId,omitempty"`

	Workflow  string `json:"workflow,omitempty"`
	Run       int64  `json:"run,omitempty"`
	TaskIndex int    `json:"taskIndex,omitempty"`
	Task      string `json:"task,omitempty"` // the task's kind
	Error     string `json:"error,omitempty"`
}

// Facts are the event's details as name, value pairs, in a fixed order.
func (ev Event) Facts() [][2]string {
	var out [][2]string
	add := func(name, v string) {
		if v != "" {
			out = append(out, [2]string{name, v})
		}
	}
	state := "raised"
	if ev.Resolved {
		state = "resolved"
	}
	add("Rule", ev.Rule)
	add("Kind", ev.Kind)
	add("State", state)
	add("At", ev.At.UTC().Format(time.RFC3339))
	add("Target", ev.Target)
	if !ev.Since.IsZero() {
		add("Down since", ev.Since.UTC().Format(time.RFC3339))
	}
	if ev.For > 0 {
		add("For", ev.For.String())
	}
	if ev.Count > 0 {
		add("Count", strconv.Itoa(ev.Count))
	}
	if ev.Threshold > 0 {
		add("Threshold", strconv.Itoa(ev.Threshold))
	}
	add("Reconciliation", ev.Reconciliation)
	add("Source", ev.Source)
	add("Group", ev.Group)
	if ev.GroupID != ev.Group {
		add("Group id", ev.GroupID)
	}
	add("User", ev.User)
	if ev.UserID != ev.User {
		add("User id", ev.UserID)
	}
	add("Workflow", ev.Workflow)
	if ev.Run > 0 {
		add("Run", strconv.FormatInt(ev.Run, 10))
		add("Task", fmt.Sprintf("%d (%s)", ev.TaskIndex, ev.Task))
	}
	add("Error", ev.Error)
	return out
}

// templateData is the data of the notifications templates alert_raised
// and alert_resolved: rule, kind, summary, since (when the alert was
// raised), resolved (when it ended; resolutions), and facts, the event's
// details as a list of {name, value}.
func (ev Event) templateData(raised time.Time) map[string]any {
	facts := []map[string]string{}
	for _, f := range ev.Facts() {
		facts = append(facts, map[string]string{"name": f[0], "value": f[1]})
	}
	m := map[string]any{"rule": ev.Rule, "kind": ev.Kind, "summary": ev.Summary, "facts": facts,
		"since": raised.UTC().Format(time.RFC3339)}
	if ev.Resolved {
		m["resolved"] = ev.At.UTC().Format(time.RFC3339)
	}
	return m
}

// maxError bounds the error text an event carries.
const maxError = 300

func shorten(s string) string {
	if len(s) <= maxError {
		return s
	}
	return s[:maxError] + "…"
}
