package workflow

import (
	"bytes"
	"fmt"
	htmltemplate "html/template"
	"maps"
	"slices"
	"strings"
	"text/template"

	"github.com/scimgate/scimgate/internal/notify"
)

// builtinEmails are the emails a task names with template:, each a
// subject and a text (Go text/template over Data).
var builtinEmails = map[string][2]string{
	"welcome": {"Welcome, {{.User.DisplayName}}",
		"Hello {{.User.DisplayName}},\n\nwelcome! Your account {{.User.UserName}} is ready.\n"},
	"onboardingReminder": {"{{.User.DisplayName}} starts soon",
		"Hello {{.Manager.DisplayName}},\n\n{{.User.DisplayName}} ({{.User.UserName}}) starts on {{.Trigger.Date}}. Please prepare their first days.\n"},
	"temporaryAccessPass": {"Temporary Access Pass for {{.User.DisplayName}}",
		"Hello {{.Manager.DisplayName}},\n\n{{.User.DisplayName}} ({{.User.UserName}}) signs in for the first time with this Temporary Access Pass:\n\n    {{.TAP.Pass}}\n\nValid from {{.TAP.Start}} for {{.TAP.LifetimeMinutes}} minutes{{if .TAP.UsableOnce}}, once{{end}}. Hand it over in person.\n"},
	"mover": {"{{.User.DisplayName}} is moving",
		"Hello {{.Manager.DisplayName}},\n\n{{.User.DisplayName}} ({{.User.UserName}}) moves{{if .Trigger.Attribute}}: {{.Trigger.Attribute}} changed from {{printf \"%q\" .Trigger.From}} to {{printf \"%q\" .Trigger.To}}{{end}}.\n"},
	"beforeLastDay": {"{{.User.DisplayName}} leaves soon",
		"Hello {{.Manager.DisplayName}},\n\n{{.User.DisplayName}} ({{.User.UserName}}) leaves on {{.Trigger.Date}}.\n"},
	"lastDay": {"Goodbye, {{.User.DisplayName}}",
		"Hello {{.User.DisplayName}},\n\ntoday is your last day. Thank you!\n"},
	"afterLastDay": {"{{.User.DisplayName}} has left",
		"Hello {{.Manager.DisplayName}},\n\n{{.User.DisplayName}} ({{.User.UserName}}) left on {{.Trigger.Date}}; their account was disabled.\n"},
}

// BuiltinEmails names the built-in emails, sorted.
func BuiltinEmails() []string { return slices.Sorted(maps.Keys(builtinEmails)) }

// emailTemplate is a task's compiled email.
type emailTemplate struct {
	subject, text *template.Template
	html          *htmltemplate.Template // nil: text only
}

// compileEmail compiles a task's email: its built-in template (or def),
// with its own subject, text and html over it.
func compileEmail(c TaskConfig, def, f string, add func(path, format string, args ...any)) *emailTemplate {
	name := c.Template
	if name == "" {
		name = def
	}
	var subject, text string
	if name != "" {
		b, ok := builtinEmails[name]
		if !ok {
			add(f+".template", "%q: want one of %s", name, strings.Join(BuiltinEmails(), ", "))
		}
		subject, text = b[0], b[1]
	}
	if c.Subject != "" {
		subject = c.Subject
	}
	if c.Text != "" {
		text = c.Text
	}
	if subject == "" || text == "" {
		if name == "" {
			add(f, "set template, or subject and text")
		}
		return nil
	}
	e := &emailTemplate{subject: checkTemplate(subject, f+".subject", add), text: checkTemplate(text, f+".text", add)}
	if c.HTML != "" {
		h, err := htmltemplate.New(f + ".html").Option("missingkey=zero").Parse(c.HTML)
		if err != nil {
			add(f+".html", "%v", err)
		}
		e.html = h
	}
	return e
}

// Person is a user as templates see them: names, never secrets.
type Person struct {
	ID          string `json:"id"`
	UserName    string `json:"userName"`
	DisplayName string `json:"displayName"`
	Email       string `json:"email,omitempty"`
}

// TAPData is the Temporary Access Pass in the email that delivers it.
type TAPData struct {
	Pass            string
	Start           string
	LifetimeMinutes int
	UsableOnce      bool
}

// Data is what email templates render.
type Data struct {
	Workflow string
	Category string
	User     Person
	Manager  Person
	Trigger  Trigger
	TAP      TAPData
}

// render renders the email to to.
func (e *emailTemplate) render(to []string, d Data) (notify.Email, error) {
	var out notify.Email
	out.To = to
	for _, p := range []struct {
		t   *template.Template
		dst *string
	}{{e.subject, &out.Subject}, {e.text, &out.Text}} {
		var b bytes.Buffer
		if err := p.t.Execute(&b, d); err != nil {
			return notify.Email{}, fmt.Errorf("rendering the email: %w", err)
		}
		*p.dst = b.String()
	}
	out.Subject = strings.Join(strings.Fields(out.Subject), " ") // one header line
	if e.html != nil {
		var b bytes.Buffer
		if err := e.html.Execute(&b, d); err != nil {
			return notify.Email{}, fmt.Errorf("rendering the email: %w", err)
		}
		out.HTML = b.String()
	}
	return out, nil
}
