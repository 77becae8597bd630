// Package entratarget is the target connector of type entra: it applies
// the gateway's decisions to Microsoft Entra ID itself, through Microsoft
// Graph (package internal/entra).
//
// By default it never creates users: every user in the target's scope is
// matched to an existing Entra user by the engine's matching
// (users.matching, for instance [userPrincipalName], each a property Graph
// filters on: see entra.FilterProperties), and the Entra object id becomes
// the anchor. A user that matches no Entra user is a permanent error (a
// dead letter). With create_users it creates one (userPrincipalName
// mapped; displayName from the mapping or the alias; a random initial
// password the user must change, never stored or logged).
// On the matched user it:
//   - keeps membership of Entra groups from rules (groups: [{group, when}],
//     when a CEL expression over the SCIM user, as in scope expressions):
//     the gateway turns the rules into the user attribute memberOf (the
//     groups whose rule holds) and the connector adds the user to those
//     groups and removes it from the other groups the rules name, in one
//     JSON batch; groups no rule names are never touched;
//   - writes the properties listed in write_back (jobTitle, department,
//     employeeId...) from the target's mapping;
//   - disables and enables the account (accountEnabled) when disable is
//     set, and deletes it on the lifecycle's delete when delete is set;
//     without delete, a delete only takes the user out of the rules'
//     groups.
//
// The connection to Entra (tenant, credentials, Graph URL, features) is
// the gateway's entra section; the registry hands its client to every
// entra target.
package entratarget

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/scimgate/scimgate/internal/entra"
	"github.com/scimgate/scimgate/targets"
)

// Type is the target type of this connector.
const Type = "entra"

// MemberOf is the user attribute the gateway derives from the group
// rules: the groups (as the rules name them) the user belongs in.
const MemberOf = "memberOf"

// WriteBackProperties are the Entra user properties write_back may list.
var WriteBackProperties = []string{"userPrincipalName", "displayName", "givenName", "surname", "jobTitle", "department", "employeeId"}

// Config is the configuration of an entra target:
//
//	type: entra
//	config:
//	  groups:
//	    - {group: Sales, when: 'user.enterprise.department == "Sales"'}
//	    - {group: 0b5f1c2e-..., when: 'user.enterprise.department == "Marketing"'}
//	  write_back: [jobTitle, department]
//	  disable: true     # lifecycle disable sets accountEnabled false
//	  delete: false     # lifecycle delete deletes the Entra user
type Config struct {
	// Groups are the membership rules.
	Groups []Rule `yaml:"groups"`
	// WriteBack lists the Entra user properties that the target's
	// mapping writes (one of WriteBackProperties).
	WriteBack []string `yaml:"write_back"`
	// Disable applies the lifecycle's disable and enable to the Entra
	// account (features.enable_disable).
	Disable bool `yaml:"disable"`
	// Delete applies the lifecycle's delete to the Entra account
	// (features.delete_users); without it a delete removes the user from
	// the rules' groups and leaves the account.
	Delete bool `yaml:"delete"`
	// CreateUsers creates a user that matches no Entra user
	// (features.create_users); the mapping must write userPrincipalName.
	CreateUsers bool `yaml:"create_users"`

	// Client is the gateway's Entra client (its entra section), set by
	// the registry; nil when the configuration has no entra section.
	Client *entra.Client `yaml:"-"`
}

// Rule puts users into an Entra group while an expression holds.
type Rule struct {
	// Group is the group's object id, or its displayName (unique in the
	// tenant).
	Group string `yaml:"group"`
	// When is a CEL expression over the SCIM user (variable user).
	When string `yaml:"when"`
}

var (
	_ targets.Config  = (*Config)(nil)
	_ targets.Deriver = (*Config)(nil)
)

var guid = regexp.MustCompile(`^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$`)

// Validate reports every invalid field. It reads nothing.
func (c *Config) Validate() error {
	var errs []error
	for j, r := range c.Groups {
		f := fmt.Sprintf("groups[%d]", j)
		if strings.TrimSpace(r.Group) == "" {
			errs = append(errs, targets.FieldError(f+".group", "required: the group's object id or displayName"))
		} else if strings.ContainsFunc(r.Group, func(r rune) bool { return r < 0x20 }) {
			errs = append(errs, targets.FieldError(f+".group", "control character in the group name"))
		}
		if strings.TrimSpace(r.When) == "" {
			errs = append(errs, targets.FieldError(f+".when", "required: a CEL expression over the user (for all users: 'true')"))
		}
	}
	seen := map[string]bool{}
	for j, p := range c.WriteBack {
		f := fmt.Sprintf("write_back[%d]", j)
		switch {
		case !slices.Contains(WriteBackProperties, p):
			errs = append(errs, targets.FieldError(f, "%q cannot be written (one of %s)", p, strings.Join(WriteBackProperties, ", ")))
		case seen[p]:
			errs = append(errs, targets.FieldError(f, "%q listed twice", p))
		}
		seen[p] = true
	}
	return errors.Join(errs...)
}

// Provides returns the connector's capabilities: lookups (matching is how
// it finds users), disable when configured, no groups of its own.
func (c *Config) Provides() targets.Capabilities {
	return targets.Capabilities{Disable: c.Disable, Lookup: true}
}

// Derived returns the attribute memberOf as a CEL expression built from
// the rules: the list of the groups whose rule holds for the user, each
// named as its rules name it. None without rules.
func (c *Config) Derived() []targets.Derived {
	if len(c.Groups) == 0 {
		return nil
	}
	var order []string
	when := map[string][]string{}
	for _, r := range c.Groups {
		if _, ok := when[r.Group]; !ok {
			order = append(order, r.Group)
		}
		when[r.Group] = append(when[r.Group], "("+r.When+")")
	}
	parts := make([]string, len(order))
	for i, g := range order {
		parts[i] = fmt.Sprintf("(%s ? [%s] : [])", strings.Join(when[g], " || "), strconv.Quote(g))
	}
	return []targets.Derived{{Field: "groups", Attribute: MemberOf, Expression: strings.Join(parts, " + ")}}
}

// groupNames returns the distinct groups of the rules, in order.
func (c *Config) groupNames() []string {
	var out []string
	for _, r := range c.Groups {
		if !slices.Contains(out, r.Group) {
			out = append(out, r.Group)
		}
	}
	return out
}
