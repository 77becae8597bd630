// Package alert raises alerts on the gateway's conditions (the deletion
// guard holding, a target down, dead letters, a user added to a watched
// group, a workflow task failing, reconciliation drift), once per episode,
// and resolves them when the condition ends, notifying through
// notify.Sender both times.
//
// An alert is a rule's condition for one key (a target, a user in a group,
// a workflow task). Its episode lives in the store: it is raised once when
// the condition starts, stays raised without more notifications while the
// condition holds (also across restarts), and is resolved once when it
// ends; a later start is a new episode. The notifications are queued in
// the transaction that raises or resolves, and sent afterwards with
// retries and backoff, so a failing channel never raises an alert twice.
package alert

import (
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/scimgate/scimgate/targets"
)

// The kinds of rules.
const (
	KindDeletionGuard      = "deletionGuard"      // a target's deletion guard holds operations
	KindTargetDown         = "targetDown"         // a target down longer than For
	KindDeadLetters        = "deadLetters"        // a target's dead letters >= Threshold
	KindPrivilegedGroup    = "privilegedGroup"    // a user added to a watched group
	KindWorkflowTaskFailed = "workflowTaskFailed" // a workflow task failed
	KindReconcileDrift     = "reconcileDrift"     // a reconciliation's orphans and drift >= Threshold
)

// Kinds lists the kinds of rules.
var Kinds = []string{KindDeletionGuard, KindTargetDown, KindDeadLetters, KindPrivilegedGroup, KindWorkflowTaskFailed,
	KindReconcileDrift}

// DefaultInterval is how often the Evaluator's loop evaluates the rules
// when Config.Interval is zero.
const DefaultInterval = time.Minute

// Config is the alerts section of the configuration (alerts: in YAML).
type Config struct {
	// Interval is how often the rules are evaluated (default 1m).
	Interval time.Duration `yaml:"interval" json:"interval,omitempty"`
	Rules    []Rule        `yaml:"rules" json:"rules"`
}

// Rule is one alert rule. The parameters a kind does not use must be
// left out.
type Rule struct {
	// Name identifies the rule in notifications and metrics (default: the
	// kind); unique.
	Name string `yaml:"name" json:"name,omitempty"`
	Kind string `yaml:"kind" json:"kind"`
	// For: targetDown, how long a target must be down (required).
	For time.Duration `yaml:"for" json:"for,omitempty"`
	// Threshold: deadLetters, the dead letters of a target; reconcileDrift,
	// the orphans and drifted accounts of a target's last reconciliation
	// (required, at least 1).
	Threshold int `yaml:"threshold" json:"threshold,omitempty"`
	// Groups: privilegedGroup, the SCIM groups watched, by id or
	// displayName (case-insensitive).
	Groups []string `yaml:"groups" json:"groups,omitempty"`
	// EntraGroups: privilegedGroup, Entra groups watched, by object id:
	// their members are read on each evaluation and compared with the
	// members seen the time before.
	EntraGroups []string `yaml:"entraGroups" json:"entraGroups,omitempty"`
	// Workflows: workflowTaskFailed, only the tasks of these workflows
	// (default: every workflow).
	Workflows []string `yaml:"workflows" json:"workflows,omitempty"`
	// Email lists the addresses notified; Webhooks the webhook channels
	// (of the notifications configuration). At least one of them.
	Email    []string `yaml:"email" json:"email,omitempty"`
	Webhooks []string `yaml:"webhooks" json:"webhooks,omitempty"`
}

var ruleName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

// RuleName returns the rule's name: Name, or the kind.
func (r Rule) RuleName() string {
	if r.Name != "" {
		return r.Name
	}
	return r.Kind
}

// Validate reports every problem of c, joined, each a *targets.ConfigError with
// its path relative to the alerts section. It changes nothing.
func (c Config) Validate() error {
	var errs []error
	add := func(path, format string, args ...any) {
		errs = append(errs, targets.FieldError(path, format, args...))
	}
	if c.Interval < 0 {
		add("interval", "must not be negative")
	}
	seen := map[string]int{}
	for i, r := range c.Rules {
		f := fmt.Sprintf("rules[%d]", i)
		if !slices.Contains(Kinds, r.Kind) {
			add(f+".kind", "%q: want one of %s", r.Kind, strings.Join(Kinds, ", "))
		}
		switch name := r.RuleName(); {
		case r.Name != "" && !ruleName.MatchString(r.Name):
			add(f+".name", "%q: letters, digits, '.', '_' and '-', starting with a letter or digit, at most 128", r.Name)
		case name == "":
		default:
			if j, dup := seen[strings.ToLower(name)]; dup {
				add(f+".name", "duplicate rule name %q (also rules[%d]; a rule without a name is named after its kind)", name, j)
			} else {
				seen[strings.ToLower(name)] = i
			}
		}
		uses := func(field string, set bool, kinds ...string) {
			if set && !slices.Contains(kinds, r.Kind) && slices.Contains(Kinds, r.Kind) {
				add(f+"."+field, "not used by kind %s (only by %s)", r.Kind, strings.Join(kinds, ", "))
			}
		}
		uses("for", r.For != 0, KindTargetDown)
		uses("threshold", r.Threshold != 0, KindDeadLetters, KindReconcileDrift)
		uses("groups", len(r.Groups) > 0, KindPrivilegedGroup)
		uses("entraGroups", len(r.EntraGroups) > 0, KindPrivilegedGroup)
		uses("workflows", len(r.Workflows) > 0, KindWorkflowTaskFailed)
		switch r.Kind {
		case KindTargetDown:
			if r.For <= 0 {
				add(f+".for", "required: how long a target must be down, e.g. 1h")
			}
		case KindDeadLetters, KindReconcileDrift:
			if r.Threshold < 1 {
				add(f+".threshold", "required: at least 1")
			}
		case KindPrivilegedGroup:
			if len(r.Groups) == 0 && len(r.EntraGroups) == 0 {
				add(f+".groups", "required: the watched groups (groups, entraGroups or both)")
			}
			for j, g := range r.Groups {
				if strings.TrimSpace(g) == "" {
					add(fmt.Sprintf("%s.groups[%d]", f, j), "empty group id or displayName")
				}
			}
			for j, g := range r.EntraGroups {
				if _, err := uuid.Parse(g); err != nil || len(g) != 36 {
					add(fmt.Sprintf("%s.entraGroups[%d]", f, j), "%q: not an Entra object id (a GUID)", g)
				}
			}
		case KindWorkflowTaskFailed:
			for j, w := range r.Workflows {
				if strings.TrimSpace(w) == "" {
					add(fmt.Sprintf("%s.workflows[%d]", f, j), "empty workflow name")
				}
			}
		}
		if len(r.Email) == 0 && len(r.Webhooks) == 0 {
			add(f+".email", "a rule needs a channel: email addresses, webhooks or both")
		}
		for j, a := range r.Email {
			if addr, err := mail.ParseAddress(a); err != nil || addr.Address != a {
				add(fmt.Sprintf("%s.email[%d]", f, j), "%q: not an email address (a bare address, like ops@example.com)", a)
			}
		}
		for j, w := range r.Webhooks {
			if strings.TrimSpace(w) == "" {
				add(fmt.Sprintf("%s.webhooks[%d]", f, j), "empty webhook channel name")
			}
		}
	}
	return errors.Join(errs...)
}

// Webhooks returns the webhook channels the rules name, in order, each
// once: the wiring checks them against the notifications configuration.
func (c Config) Webhooks() []string {
	var out []string
	for _, r := range c.Rules {
		for _, w := range r.Webhooks {
			if !slices.Contains(out, w) {
				out = append(out, w)
			}
		}
	}
	return out
}
