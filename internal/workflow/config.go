// Package workflow runs lifecycle workflows: joiner, mover and leaver
// tasks (emails, webhooks, Entra actions, target actions) for users, on a
// date of the user (time triggers), on a change of the user (event
// triggers) or on demand, each (workflow, user, occurrence) at most once.
//
// Everything durable lives in the gateway's store: the engine's planner
// calls Runner.OnChanges in the transaction that consumes the change
// journal, so a run is created in the same transaction as the change that
// caused it; the schedule of time triggers, the runs and their tasks are
// rows that RunDue advances one committed step at a time, so a crash
// (kill -9) at any point neither loses a run nor repeats a done task.
package workflow

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/scimgate/scimgate/internal/notify"
	"github.com/scimgate/scimgate/policy"
	"github.com/scimgate/scimgate/targets"
)

// Config is one workflow of the configuration (workflows: in YAML).
type Config struct {
	Name     string `yaml:"name" json:"name"`
	Category string `yaml:"category" json:"category"` // joiner, mover, leaver, custom
	// Enabled defaults to true; the admin API overrides it.
	Enabled *bool `yaml:"enabled" json:"enabled,omitempty"`
	// Preview records what each task would do without doing it.
	Preview bool `yaml:"preview" json:"preview,omitempty"`
	// Scope is a CEL condition over the user (as a target's scope
	// expression); empty: every user.
	Scope   string        `yaml:"scope" json:"scope,omitempty"`
	Trigger TriggerConfig `yaml:"trigger" json:"trigger"`
	Tasks   []TaskConfig  `yaml:"tasks" json:"tasks"`
}

// TriggerConfig is exactly one of its fields.
type TriggerConfig struct {
	Time     *TimeTrigger  `yaml:"time" json:"time,omitempty"`
	Event    *EventTrigger `yaml:"event" json:"event,omitempty"`
	OnDemand bool          `yaml:"onDemand" json:"onDemand,omitempty"`
}

// TimeTrigger runs the workflow OffsetDays after a date of the user.
type TimeTrigger struct {
	// Attribute is employeeHireDate, employeeLeaveDateTime (read from the
	// user, the enterprise extension or a custom extension), meta.created,
	// or "<extension URN>:<attribute>".
	Attribute  string `yaml:"attribute" json:"attribute"`
	OffsetDays int    `yaml:"offsetDays" json:"offsetDays"`
	// Window is how late a due run still runs (the gateway was down, the
	// date was set in the past); older ones are recorded as skipped.
	// Default 24h.
	Window time.Duration `yaml:"window" json:"window,omitempty"`
}

// EventTrigger runs the workflow on a change of the user.
type EventTrigger struct {
	// On is created, attributeChanged, activated, deactivated, deleted,
	// addedToGroup or removedFromGroup.
	On string `yaml:"on" json:"on"`
	// Attribute (attributeChanged) is the attribute: "department",
	// "title", "name.givenName", "<extension URN>:<attribute>"; From and
	// To, when set, are the old and new values it must have
	// (case-insensitive).
	Attribute string `yaml:"attribute" json:"attribute,omitempty"`
	From      string `yaml:"from" json:"from,omitempty"`
	To        string `yaml:"to" json:"to,omitempty"`
	// Group (addedToGroup, removedFromGroup) is a group id or displayName;
	// empty: any group.
	Group string `yaml:"group" json:"group,omitempty"`
}

// TaskConfig is one task; its arguments depend on its kind.
type TaskConfig struct {
	Task            string `yaml:"task" json:"task"`
	ContinueOnError bool   `yaml:"continueOnError" json:"continueOnError,omitempty"`

	// sendEmail, and the email of entraTemporaryAccessPass: To is user,
	// manager or addresses (then Addresses); Template names a template of
	// the notifications section (built in: welcome, prehire_tap, mover,
	// leaver; or a file of its templates_dir). entraTemporaryAccessPass
	// takes prehire_tap by default.
	To        string   `yaml:"to" json:"to,omitempty"`
	Addresses []string `yaml:"addresses" json:"addresses,omitempty"`
	Template  string   `yaml:"template" json:"template,omitempty"`

	// webhook: a JSON payload signed with HMAC-SHA256 (X-Scimgate-Signature:
	// sha256=<hex>) with the secret of SecretEnv or SecretFile.
	URL string `yaml:"url" json:"url,omitempty"`
	// Callback: the payload carries a callback URL, and the task waits
	// until the receiver calls it (completed or failed) or
	// CallbackTimeout (default 24h) passes: a custom task extension that
	// completes asynchronously.
	Callback        bool          `yaml:"callback" json:"callback,omitempty"`
	CallbackTimeout time.Duration `yaml:"callbackTimeout" json:"callbackTimeout,omitempty"`
	SecretEnv       string        `yaml:"secret_env" json:"secret_env,omitempty"`
	SecretFile      string        `yaml:"secret_file" json:"secret_file,omitempty"`
	Timeout         time.Duration `yaml:"timeout" json:"timeout,omitempty"`

	// entraAddToGroups, entraRemoveFromGroups: group object ids;
	// targetAddToGroups, targetRemoveFromGroups: SCIM groups, by id or
	// displayName.
	Groups []string `yaml:"groups" json:"groups,omitempty"`

	// entraTemporaryAccessPass: the pass's lifetime (10 to 43200 minutes,
	// default 60) and one-time use; EmailTo is manager (default) or user.
	LifetimeMinutes int    `yaml:"lifetimeMinutes" json:"lifetimeMinutes,omitempty"`
	OneTimeUse      bool   `yaml:"oneTimeUse" json:"oneTimeUse,omitempty"`
	EmailTo         string `yaml:"emailTo" json:"emailTo,omitempty"`

	// targetDisable, targetEnable, targetAddToGroups,
	// targetRemoveFromGroups, targetRemoveFromAllGroups, reprovision: the
	// target's name.
	Target string `yaml:"target" json:"target,omitempty"`
}

// The categories, trigger events and task kinds.
var (
	categories = []string{"joiner", "mover", "leaver", "custom"}
	events     = []string{"created", "attributeChanged", "activated", "deactivated", "deleted", "addedToGroup", "removedFromGroup"}
	taskKinds  = []string{"sendEmail", "webhook", "entraAddToGroups", "entraRemoveFromGroups", "entraRemoveFromAllGroups",
		"entraEnable", "entraDisable", "entraDelete", "entraRevokeSessions", "entraTemporaryAccessPass",
		"targetDisable", "targetEnable", "targetAddToGroups", "targetRemoveFromGroups", "targetRemoveFromAllGroups", "reprovision"}
)

// DefaultWindow is a time trigger's default window.
const DefaultWindow = 24 * time.Hour

// Workflow is a compiled workflow.
type Workflow struct {
	cfg   Config
	scope *policy.UserCondition // nil: every user
	tasks []*task
}

// Name returns the workflow's name.
func (w *Workflow) Name() string { return w.cfg.Name }

// Config returns the workflow's configuration.
func (w *Workflow) Config() Config { return w.cfg }

// window is the time trigger's window.
func (w *Workflow) window() time.Duration {
	if w.cfg.Trigger.Time.Window > 0 {
		return w.cfg.Trigger.Time.Window
	}
	return DefaultWindow
}

// task is a compiled task.
type task struct {
	cfg      TaskConfig
	template string // sendEmail, entraTemporaryAccessPass: a notify template
	secret   string // webhook: read at Compile
}

// CompileOptions are the environment the workflows compile in.
type CompileOptions struct {
	// Policy options: the User resource type with its extensions, the
	// clock of now() in scopes.
	Policy []policy.Option
	// Targets are the names of the gateway's targets (target tasks).
	Targets []string
	// Entra: an entra section is configured (Entra tasks).
	Entra bool
	// Email: the gateway can send email (sendEmail and
	// entraTemporaryAccessPass, which emails the pass); without it those
	// tasks are configuration errors.
	Email bool
	// Templates are the names of the email templates (notify.Templates);
	// nil: any name (they are checked when the gateway starts).
	Templates []string
	// ReadSecret reads a webhook's secret (default targets.ReadSecret).
	ReadSecret func(field, inline, env, file string) (string, error)
}

// Compile validates every workflow and compiles it. The error joins one
// *FieldError per problem, named workflows[i].<field>.
func Compile(cfgs []Config, o CompileOptions) ([]*Workflow, error) {
	if o.ReadSecret == nil {
		o.ReadSecret = targets.ReadSecret
	}
	var errs []error
	add := func(path, format string, args ...any) {
		errs = append(errs, targets.FieldError(path, format, args...)) // at its path: "workflows[2].tasks[0].groups"
	}
	seen := map[string]int{}
	var out []*Workflow
	for i, c := range cfgs {
		f := fmt.Sprintf("workflows[%d]", i)
		w := &Workflow{cfg: c}
		if err := targets.CheckName(c.Name); err != nil {
			add(f+".name", "%v", err)
		} else if j, dup := seen[strings.ToLower(c.Name)]; dup {
			add(f+".name", "duplicate workflow name %q (also workflows[%d]; names differing only in case are the same)", c.Name, j)
		} else {
			seen[strings.ToLower(c.Name)] = i
		}
		if !slices.Contains(categories, c.Category) {
			add(f+".category", "%q: want one of %s", c.Category, strings.Join(categories, ", "))
		}
		if c.Scope != "" {
			sc, err := policy.CompileUserCondition(c.Scope, f+".scope", o.Policy...)
			if err != nil {
				var fe *policy.FieldError
				for _, e := range joined(err) {
					if errors.As(e, &fe) {
						add(fe.Path, "%s", fe.Msg)
					} else {
						add(f+".scope", "%v", e)
					}
				}
			}
			w.scope = sc
		}
		validateTrigger(c.Trigger, f+".trigger", add)
		if len(c.Tasks) == 0 {
			add(f+".tasks", "a workflow needs at least one task")
		}
		for j, tc := range c.Tasks {
			w.tasks = append(w.tasks, compileTask(tc, fmt.Sprintf("%s.tasks[%d]", f, j), o, add))
		}
		out = append(out, w)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func joined(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func validateTrigger(t TriggerConfig, f string, add func(path, format string, args ...any)) {
	n := 0
	if t.Time != nil {
		n++
		if !dateAttribute(t.Time.Attribute) {
			add(f+".time.attribute", "%q: want employeeHireDate, employeeLeaveDateTime, meta.created or <extension URN>:<attribute>", t.Time.Attribute)
		}
		if t.Time.OffsetDays < -3650 || t.Time.OffsetDays > 3650 {
			add(f+".time.offsetDays", "%d: must be between -3650 and 3650", t.Time.OffsetDays)
		}
		if t.Time.Window < 0 {
			add(f+".time.window", "must not be negative")
		}
	}
	if t.Event != nil {
		n++
		e := t.Event
		if !slices.Contains(events, e.On) {
			add(f+".event.on", "%q: want one of %s", e.On, strings.Join(events, ", "))
		}
		switch e.On {
		case "attributeChanged":
			if e.Attribute == "" {
				add(f+".event.attribute", "required with on: attributeChanged")
			}
		case "addedToGroup", "removedFromGroup":
			if e.Attribute != "" || e.From != "" || e.To != "" {
				add(f+".event", "attribute, from and to apply to on: attributeChanged only")
			}
		default:
			if e.Attribute != "" || e.From != "" || e.To != "" || e.Group != "" {
				add(f+".event", "on: %s takes no attribute, from, to or group", e.On)
			}
		}
		if e.Group != "" && e.On != "addedToGroup" && e.On != "removedFromGroup" && e.On != "" {
			add(f+".event.group", "applies to on: addedToGroup and removedFromGroup only")
		}
	}
	if t.OnDemand {
		n++
	}
	if n != 1 {
		add(f, "set exactly one of time, event and onDemand")
	}
}

// dateAttribute reports whether a is a date attribute a time trigger
// accepts.
func dateAttribute(a string) bool {
	switch a {
	case "employeeHireDate", "employeeLeaveDateTime", "meta.created":
		return true
	}
	urn, attr := splitURN(a)
	return urn != "" && attr != ""
}

// splitURN splits "<URN>:<attribute>" at the last colon; urn is "" when a
// is not a URN path.
func splitURN(a string) (urn, attr string) {
	if !strings.HasPrefix(strings.ToLower(a), "urn:") {
		return "", a
	}
	i := strings.LastIndex(a, ":")
	return a[:i], a[i+1:]
}

func compileTask(c TaskConfig, f string, o CompileOptions, add func(path, format string, args ...any)) *task {
	t := &task{cfg: c}
	if !slices.Contains(taskKinds, c.Task) {
		add(f+".task", "%q: want one of %s", c.Task, strings.Join(taskKinds, ", "))
		return t
	}
	if strings.HasPrefix(c.Task, "entra") && !o.Entra {
		add(f+".task", "%s needs the entra section of the configuration", c.Task)
	}
	if (c.Task == "sendEmail" || c.Task == "entraTemporaryAccessPass") && !o.Email {
		add(f+".task", "%s sends email: it needs the email settings of the notifications section of the configuration", c.Task)
	}
	// The arguments each kind takes; any other set is an error.
	allowed := map[string][]string{
		"sendEmail":                 {"to", "addresses", "template"},
		"webhook":                   {"url", "secret_env", "secret_file", "timeout", "callback", "callbackTimeout"},
		"entraAddToGroups":          {"groups"},
		"entraRemoveFromGroups":     {"groups"},
		"entraTemporaryAccessPass":  {"lifetimeMinutes", "oneTimeUse", "emailTo", "template", "subject", "text", "html"},
		"targetDisable":             {"target"},
		"targetEnable":              {"target"},
		"targetAddToGroups":         {"target", "groups"},
		"targetRemoveFromGroups":    {"target", "groups"},
		"targetRemoveFromAllGroups": {"target"},
		"reprovision":               {"target"},
	}[c.Task]
	for _, a := range setArgs(c) {
		if !slices.Contains(allowed, a) {
			add(f+"."+a, "%s takes no %s", c.Task, a)
		}
	}
	switch c.Task {
	case "sendEmail":
		switch c.To {
		case "user", "manager":
		case "addresses":
			if len(c.Addresses) == 0 {
				add(f+".addresses", "required with to: addresses")
			}
			for k, a := range c.Addresses {
				if !strings.Contains(a, "@") || strings.ContainsAny(a, " \r\n<>,") {
					add(fmt.Sprintf("%s.addresses[%d]", f, k), "%q is not an email address", a)
				}
			}
		default:
			add(f+".to", "%q: want user, manager or addresses", c.To)
		}
		if c.To != "addresses" && len(c.Addresses) > 0 {
			add(f+".addresses", "only with to: addresses")
		}
		t.template = compileTemplate(c.Template, "", f, o, add)
	case "webhook":
		u, err := url.Parse(c.URL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			add(f+".url", "must be an http or https URL")
		}
		if c.Timeout < 0 || c.Timeout > 5*time.Minute {
			add(f+".timeout", "must be between 0 (default 30s) and 5m")
		}
		if c.CallbackTimeout < 0 || c.CallbackTimeout > 30*24*time.Hour {
			add(f+".callbackTimeout", "must be between 0 (default 24h) and 720h")
		} else if c.CallbackTimeout != 0 && !c.Callback {
			add(f+".callbackTimeout", "only with callback: true")
		}
		if c.SecretEnv != "" && c.SecretFile != "" {
			add(f+".secret_file", "give only one of secret_env and secret_file")
			break
		}
		secret, err := o.ReadSecret("secret", "", c.SecretEnv, c.SecretFile)
		if err != nil {
			var ce *targets.ConfigError
			if errors.As(err, &ce) {
				add(f+"."+ce.Field, "%v", ce.Err)
			} else {
				add(f+".secret_env", "%v", err)
			}
		}
		t.secret = secret
	case "entraAddToGroups", "entraRemoveFromGroups":
		if len(c.Groups) == 0 {
			add(f+".groups", "list at least one group object id")
		}
		for k, g := range c.Groups {
			if !guid(g) {
				add(fmt.Sprintf("%s.groups[%d]", f, k), "%q is not a group object id (a GUID)", g)
			}
		}
	case "entraTemporaryAccessPass":
		if c.LifetimeMinutes != 0 && (c.LifetimeMinutes < 10 || c.LifetimeMinutes > 43200) {
			add(f+".lifetimeMinutes", "%d: must be 10 to 43200 (default 60)", c.LifetimeMinutes)
		}
		if c.EmailTo != "" && c.EmailTo != "manager" && c.EmailTo != "user" {
			add(f+".emailTo", "%q: want manager (default) or user", c.EmailTo)
		}
		t.template = compileTemplate(c.Template, notify.TemplatePreHireTAP, f, o, add)
	case "targetDisable", "targetEnable", "targetAddToGroups", "targetRemoveFromGroups", "targetRemoveFromAllGroups", "reprovision":
		if (c.Task == "targetAddToGroups" || c.Task == "targetRemoveFromGroups") && len(c.Groups) == 0 {
			add(f+".groups", "list at least one SCIM group (its id or displayName)")
		}
		for k, g := range c.Groups {
			if strings.TrimSpace(g) == "" {
				add(fmt.Sprintf("%s.groups[%d]", f, k), "empty")
			}
		}
		if c.Target == "" {
			add(f+".target", "required")
		} else if !slices.ContainsFunc(o.Targets, func(n string) bool { return strings.EqualFold(n, c.Target) }) {
			add(f+".target", "%q: no such target", c.Target)
		}
	}
	return t
}

// setArgs names the arguments set in c, as in YAML.
func setArgs(c TaskConfig) []string {
	var out []string
	for _, a := range []struct {
		name string
		set  bool
	}{
		{"to", c.To != ""}, {"addresses", len(c.Addresses) > 0}, {"template", c.Template != ""},
		{"url", c.URL != ""}, {"callback", c.Callback}, {"callbackTimeout", c.CallbackTimeout != 0}, {"secret_env", c.SecretEnv != ""},
		{"secret_file", c.SecretFile != ""}, {"timeout", c.Timeout != 0}, {"groups", len(c.Groups) > 0},
		{"lifetimeMinutes", c.LifetimeMinutes != 0}, {"oneTimeUse", c.OneTimeUse}, {"emailTo", c.EmailTo != ""},
		{"target", c.Target != ""},
	} {
		if a.set {
			out = append(out, a.name)
		}
	}
	return out
}

func guid(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f', 'A' <= c && c <= 'F':
		default:
			return false
		}
	}
	return true
}

// compileTemplate checks the template name of an email task (def when
// "") against the templates o names; any name when it names none.
func compileTemplate(name, def, f string, o CompileOptions, add func(path, format string, args ...any)) string {
	if name == "" {
		name = def
	}
	switch {
	case name == "":
		add(f+".template", "required: a template of the notifications section (%s, or a file of its templates_dir)",
			strings.Join(notify.DefaultTemplateNames(), ", "))
	case o.Templates != nil && !slices.Contains(o.Templates, name):
		add(f+".template", "%q: want one of %s (the notifications section's templates)", name, strings.Join(o.Templates, ", "))
	}
	return name
}
