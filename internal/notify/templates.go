package notify

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"sync"
	texttemplate "text/template"
)

// The default templates (package directory templates/), one per event
// the workflows and alerts send. Each names the keys its data must hold
// (a map[string]any) in a comment at its top.
const (
	// TemplateWelcome: the first-day email to the new user
	// (displayName, userName, startDate).
	TemplateWelcome = "welcome"
	// TemplatePreHireTAP: the new hire's Temporary Access Pass, to the
	// manager (managerDisplayName, displayName, userName, startDate, tap
	// (a TAP), tapExpires).
	TemplatePreHireTAP = "prehire_tap"
	// TemplateMover: a move, to the manager (managerDisplayName,
	// displayName, userName, changes: a list of maps with attribute, from
	// and to).
	TemplateMover = "mover"
	// TemplateLeaver: a leaver's last day, to the manager
	// (managerDisplayName, displayName, userName, lastDay).
	TemplateLeaver = "leaver"
	// TemplateAlertRaised: an alert begins (rule, summary, since).
	TemplateAlertRaised = "alert_raised"
	// TemplateAlertResolved: an alert ends (rule, summary, since,
	// resolved).
	TemplateAlertResolved = "alert_resolved"
	// TemplateTaskFailed: a workflow task failed (workflow, task,
	// displayName, userName, target, attempts, error).
	TemplateTaskFailed = "task_failed"
	// TemplateGuestExpiry: a guest's access expires soon, to the sponsor
	// (manager) and the guest (managerDisplayName, displayName, userName,
	// expiry, daysLeft, deleteOn, rule, why).
	TemplateGuestExpiry = "guest_expiry"
	// TemplateReviewStarted: an access review instance started, to each
	// reviewer and the review's channels (reviewName, description (for
	// reviewers), reviewerDisplayName ("" for a channel), items, pending,
	// endDate, daysLeft, lastDay, url ("" without a reviewer page)).
	TemplateReviewStarted = "review_started"
	// TemplateReviewReminder: a reminder halfway through an access review
	// and on its last day (lastDay true), to the reviewers with pending
	// items and the review's channels (the keys of review_started).
	TemplateReviewReminder = "review_reminder"
)

//go:embed templates/*.txt templates/*.html
var defaults embed.FS

// Templates renders notifications from templates, each named NAME and
// made of up to two files:
//
//   - NAME.txt, a text/template that defines "subject" and "text" (the
//     email's subject and text body; a webhook message's title and text);
//   - NAME.html, optional, an html/template whose output is the email's
//     HTML body (contextual escaping: data cannot inject markup).
//
// NAME is lower-case letters, digits, '_' and '-'. The defaults are
// embedded; a directory's files replace those of the same name and add
// new ones. Rendering fails on a key missing from the data
// (missingkey=error), naming the template and the key.
type Templates struct {
	text map[string]*texttemplate.Template
	html map[string]*htmltemplate.Template
}

var templateName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// LoadTemplates returns the default templates overlaid with those of dir
// ("" for the defaults alone). Every file of dir must be a valid NAME.txt
// or NAME.html, and every NAME.html have its NAME.txt (here or among the
// defaults).
func LoadTemplates(dir string) (*Templates, error) {
	t := &Templates{text: map[string]*texttemplate.Template{}, html: map[string]*htmltemplate.Template{}}
	sub, _ := fs.Sub(defaults, "templates")
	if err := t.load(sub, "embedded"); err != nil {
		return nil, err // a bug: TestDefaultTemplates
	}
	if dir != "" {
		if err := t.load(os.DirFS(dir), dir); err != nil {
			return nil, err
		}
	}
	for name := range t.html {
		if t.text[name] == nil {
			return nil, fmt.Errorf("templates %s: %s.html has no %s.txt", dir, name, name)
		}
	}
	return t, nil
}

func (t *Templates) load(fsys fs.FS, where string) error {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return fmt.Errorf("templates %s: %w", where, err)
	}
	for _, e := range entries {
		file := e.Name()
		name, ext := strings.TrimSuffix(file, path.Ext(file)), path.Ext(file)
		if e.IsDir() || (ext != ".txt" && ext != ".html") || !templateName.MatchString(name) {
			return fmt.Errorf("templates %s: %s: want only files NAME.txt or NAME.html (NAME: a-z, 0-9, _ and -)", where, file)
		}
		b, err := fs.ReadFile(fsys, file)
		if err != nil {
			return fmt.Errorf("templates %s: %w", where, err)
		}
		if ext == ".html" {
			h, err := htmltemplate.New(file).Option("missingkey=error").Parse(string(b))
			if err != nil {
				return fmt.Errorf("templates %s: %w", where, err)
			}
			t.html[name] = h
			continue
		}
		x, err := texttemplate.New(file).Option("missingkey=error").Parse(string(b))
		if err != nil {
			return fmt.Errorf("templates %s: %w", where, err)
		}
		for _, part := range []string{"subject", "text"} {
			if x.Lookup(part) == nil {
				return fmt.Errorf("templates %s: %s does not define %q", where, file, part)
			}
		}
		t.text[name] = x
	}
	return nil
}

// Names returns the names of the templates, sorted.
func (t *Templates) Names() []string {
	names := make([]string, 0, len(t.text))
	for name := range t.text {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Render renders the email of the template name with data: Subject and
// Text from NAME.txt, HTML from NAME.html if there is one. To is left to
// the caller.
func (t *Templates) Render(name string, data any) (Email, error) {
	x := t.text[name]
	if x == nil {
		return Email{}, fmt.Errorf("notify: no template %q", name)
	}
	var e Email
	var b bytes.Buffer
	for _, part := range []struct {
		name string
		dst  *string
	}{{"subject", &e.Subject}, {"text", &e.Text}} {
		b.Reset()
		if err := x.ExecuteTemplate(&b, part.name, data); err != nil {
			return Email{}, fmt.Errorf("notify: template %q: %w", name, err)
		}
		*part.dst = b.String()
	}
	e.Subject = strings.TrimSpace(e.Subject)
	if strings.ContainsAny(e.Subject, "\r\n") {
		return Email{}, fmt.Errorf("notify: template %q: the subject has a line break", name)
	}
	e.Text = strings.TrimSpace(e.Text) + "\n"
	if h := t.html[name]; h != nil {
		b.Reset()
		if err := h.Execute(&b, data); err != nil {
			return Email{}, fmt.Errorf("notify: template %q: %w", name, err)
		}
		e.HTML = b.String()
	}
	return e, nil
}

// RenderMessage renders the webhook message of the template name with
// data: the subject as its title, the text as its text. Facts are left to
// the caller. A TAP never goes to a webhook: data that holds one (a map
// value) is refused.
func (t *Templates) RenderMessage(name string, data any) (Message, error) {
	if m, ok := data.(map[string]any); ok {
		for k, v := range m {
			if _, ok := v.(TAP); ok {
				return Message{}, fmt.Errorf("notify: template %q: %s is a Temporary Access Pass, which is never sent to a webhook", name, k)
			}
		}
	}
	e, err := t.Render(name, data)
	if err != nil {
		return Message{}, err
	}
	return Message{Title: e.Subject, Text: strings.TrimSuffix(e.Text, "\n")}, nil
}

// TAP is a Temporary Access Pass in template data: the one secret a
// template may carry. Templates show it with {{.tap.Reveal}}; otherwise
// it formats, logs and marshals as "[REDACTED]", so data logged by
// mistake does not disclose it.
type TAP struct{ pass string }

// NewTAP wraps a Temporary Access Pass.
func NewTAP(pass string) TAP { return TAP{pass: pass} }

// Reveal returns the pass.
func (t TAP) Reveal() string { return t.pass }

const redacted = "[REDACTED]"

// String returns "[REDACTED]".
func (TAP) String() string { return redacted }

// GoString returns "[REDACTED]".
func (TAP) GoString() string { return redacted }

// LogValue returns "[REDACTED]".
func (TAP) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText returns "[REDACTED]".
func (TAP) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// defaultTemplates are the embedded templates, loaded once.
var defaultTemplates = sync.OnceValue(func() *Templates {
	t, err := LoadTemplates("")
	if err != nil {
		panic(err) // the embedded templates are tested (TestDefaultTemplates)
	}
	return t
})

// DefaultTemplates returns the built-in templates.
func DefaultTemplates() *Templates { return defaultTemplates() }

// DefaultTemplateNames returns the names of the built-in templates, sorted.
func DefaultTemplateNames() []string { return defaultTemplates().Names() }
