package workflow

import (
	"strings"

	"github.com/scimgate/scimgate/internal/notify"
)

// A workflow's emails are the templates of the notifications section
// (package notify: the built-in welcome, prehire_tap, mover and leaver,
// and the files of its templates_dir): one set of templates for
// workflows and alerts.

// Person is a user as templates see them: names, never secrets.
type Person struct {
	ID          string `json:"id"`
	UserName    string `json:"userName"`
	DisplayName string `json:"displayName"`
	Email       string `json:"email,omitempty"`
}

// Data is what a run knows of its user, for its emails and webhooks.
type Data struct {
	Workflow string
	Category string
	User     Person
	Manager  Person
	Trigger  Trigger
}

// templateData is the data of a task's email template, under the keys
// the notifications templates document: workflow, category, userName,
// displayName, email, managerDisplayName, managerUserName, date (the
// user's date of a time trigger), startDate and lastDay (the same date,
// as joiner and leaver templates name it), changes (an attribute change:
// [{attribute, from, to}]), and for a Temporary Access Pass tap (a
// notify.TAP), tapExpires and tapOnce.
func templateData(d Data) map[string]any {
	m := map[string]any{
		"workflow": d.Workflow, "category": d.Category,
		"userName": d.User.UserName, "displayName": cmpOr(d.User.DisplayName, d.User.UserName), "email": d.User.Email,
		"managerDisplayName": cmpOr(d.Manager.DisplayName, d.Manager.UserName), "managerUserName": d.Manager.UserName,
		"date": d.Trigger.Date, "startDate": d.Trigger.Date, "lastDay": d.Trigger.Date,
		"changes": []map[string]string{},
	}
	if d.Trigger.Attribute != "" && d.Trigger.Kind == "event" {
		m["changes"] = []map[string]string{{"attribute": d.Trigger.Attribute, "from": d.Trigger.From, "to": d.Trigger.To}}
	}
	return m
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// render renders the task's email to to with data.
func (r *Runner) render(t *task, to []string, data map[string]any) (notify.Email, error) {
	m, err := r.opts.Templates.Render(t.template, data)
	if err != nil {
		return notify.Email{}, err
	}
	m.To = to
	m.Subject = strings.Join(strings.Fields(m.Subject), " ") // one header line
	return m, nil
}
