package guest

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/scimgate/scimgate/policy"
	"github.com/scimgate/scimgate/scim"
	"github.com/scimgate/scimgate/targets"
)

// GroupRef names a group a user is a direct member of.
type GroupRef = policy.GroupRef

// Options are the environment the rules compile in.
type Options struct {
	// Policy options of the expression rules: the User resource type with
	// its extensions and the clock of now(), as for the workflows' scopes.
	Policy []policy.Option
	// User is the User resource type the expiry attribute resolves in
	// (with the custom extensions); nil: scim.UserType().
	User *scim.ResourceType
}

// Facts are what the gateway knows of a user beyond the SCIM resource;
// a zero time is unknown, and the expiry it would give does not apply.
type Facts struct {
	// LastApproval is the end of the last access review approving the
	// user (afterApproval).
	LastApproval time.Time
	// LastSignIn is the user's last sign-in, from Entra's signInActivity
	// or a target's last-login attribute (inactivity).
	LastSignIn time.Time
}

// Rules are a compiled Config.
type Rules struct {
	cfg   Config
	rules []rule
	attr  *scim.Attr // expiry.attribute, resolved; nil: none
}

// rule is a compiled RuleConfig.
type rule struct {
	path string // its field path: rules[i].<kind>
	cfg  RuleConfig
	home map[string]bool       // homeDomains, lower case
	cond *policy.UserCondition // expression
}

// Compile validates cfg (every problem of Validate, of the expressions
// and of the expiry attribute, each a targets.FieldError, joined) and
// compiles it.
func Compile(cfg Config, o Options) (*Rules, error) {
	if o.User == nil {
		o.User = scim.UserType()
	}
	var errs []error
	if err := cfg.Validate(); err != nil {
		errs = append(errs, joined(err)...)
	}
	r := &Rules{cfg: cfg}
	for i, rc := range cfg.Rules {
		f := fmt.Sprintf("rules[%d]", i)
		ru := rule{cfg: rc}
		switch {
		case rc.UserType != "":
			ru.path = f + ".userType"
		case rc.UPNExternal:
			ru.path = f + ".upnExternal"
		case rc.HomeDomains != nil:
			ru.path = f + ".homeDomains"
			ru.home = map[string]bool{}
			for _, d := range rc.HomeDomains {
				ru.home[strings.ToLower(d)] = true
			}
		case rc.Group != "":
			ru.path = f + ".group"
		case rc.Expression != "":
			ru.path = f + ".expression"
		}
		if rc.Expression != "" {
			cond, err := policy.CompileUserCondition(rc.Expression, f+".expression", o.Policy...)
			for _, e := range joined(err) {
				if fe := (*policy.FieldError)(nil); errors.As(e, &fe) {
					errs = append(errs, targets.FieldError(fe.Path, "%s", fe.Msg))
				} else {
					errs = append(errs, targets.FieldError(f+".expression", "%v", e))
				}
			}
			ru.cond = cond
		}
		r.rules = append(r.rules, ru)
	}
	if a := cfg.Expiry.Attribute; a != "" && checkAttribute(a) == nil {
		at, err := o.User.Resolve(a)
		switch {
		case err != nil:
			errs = append(errs, targets.FieldError("expiry.attribute", "%v", err))
		case at.Leaf().AttributeType() != "dateTime" || at.Leaf().MultiValued() || at.Sub != nil && at.Def.MultiValued():
			errs = append(errs, targets.FieldError("expiry.attribute", "%s is not a single-valued dateTime attribute", at))
		default:
			r.attr = &at
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return r, nil
}

// joined splits a joined error into its parts (nil: none).
func joined(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// Config returns the configuration the rules were compiled from.
func (r *Rules) Config() Config { return r.cfg }

// Grace returns the grace period between block and delete.
func (r *Rules) Grace() time.Duration { return r.cfg.grace() }

// Classify reports whether user (a canonical SCIM user) with the groups it
// is a direct member of is a guest, and the field path of the first rule
// that matches ("rules[0].userType"); "" when none does.
func (r *Rules) Classify(user map[string]any, groups []GroupRef) (guest bool, rule string) {
	for _, ru := range r.rules {
		if ru.match(user, groups) {
			return true, ru.path
		}
	}
	return false, ""
}

func (ru *rule) match(user map[string]any, groups []GroupRef) bool {
	c := ru.cfg
	switch {
	case c.UserType != "":
		t, _ := get(user, "userType").(string)
		return strings.EqualFold(t, c.UserType)
	case c.UPNExternal:
		n, _ := get(user, "userName").(string)
		return strings.Contains(strings.ToUpper(n), "#EXT#")
	case ru.home != nil:
		for _, d := range domains(user) {
			if !ru.home[d] {
				return true
			}
		}
		return false
	case c.Group != "":
		for _, g := range groups {
			if g.ID == c.Group || strings.EqualFold(g.DisplayName, c.Group) {
				return true
			}
		}
		return false
	case ru.cond != nil:
		ok, err := ru.cond.Match(user, groups)
		return err == nil && ok
	}
	return false
}

// domains are the lower-case domains of the user's primary and work
// emails and of its userName, where they have one.
func domains(user map[string]any) []string {
	var out []string
	add := func(addr string) {
		if i := strings.LastIndexByte(addr, '@'); i >= 0 && i < len(addr)-1 {
			out = append(out, strings.ToLower(addr[i+1:]))
		}
	}
	emails, _ := get(user, "emails").([]any)
	for _, e := range emails {
		m, _ := e.(map[string]any)
		typ, _ := get(m, "type").(string)
		if get(m, "primary") == true || strings.EqualFold(typ, "work") {
			v, _ := get(m, "value").(string)
			add(v)
		}
	}
	n, _ := get(user, "userName").(string)
	add(n)
	return out
}

// get returns the attribute of m named name, case-insensitively as SCIM
// names are (nil when absent or m is nil).
func get(m map[string]any, name string) any {
	if v, ok := m[name]; ok {
		return v
	}
	for k, v := range m {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return nil
}

// Expiry returns when user's access expires: the earliest of the
// configured expiries that apply, and the field that gave it
// ("expiry.lifetime"). ok is false when none applies.
func (r *Rules) Expiry(user map[string]any, facts Facts) (at time.Time, why string, ok bool) {
	e := r.cfg.Expiry
	consider := func(t time.Time, field string) {
		if !t.IsZero() && (!ok || t.Before(at)) {
			at, why, ok = t.UTC(), field, true
		}
	}
	if e.Lifetime > 0 {
		meta, _ := get(user, "meta").(map[string]any)
		if c, found := dateTime(get(meta, "created")); found {
			consider(c.Add(e.Lifetime), "expiry.lifetime")
		}
	}
	if e.AfterApproval > 0 && !facts.LastApproval.IsZero() {
		consider(facts.LastApproval.Add(e.AfterApproval), "expiry.afterApproval")
	}
	if r.attr != nil {
		if t, found := dateTime(readAttr(user, *r.attr)); found {
			consider(t, "expiry.attribute")
		}
	}
	if e.Inactivity > 0 && !facts.LastSignIn.IsZero() {
		consider(facts.LastSignIn.Add(e.Inactivity), "expiry.inactivity")
	}
	return at, why, ok
}

// readAttr reads a resolved single-valued attribute of user: a core one
// (user[name], user[name][sub]) or an extension's (user[URN][name]).
func readAttr(user map[string]any, a scim.Attr) any {
	m := user
	if a.URN != "" {
		m, _ = get(user, a.URN).(map[string]any)
	}
	v := get(m, a.Def.Name())
	if a.Sub != nil {
		sub, _ := v.(map[string]any)
		v = get(sub, a.Sub.Name())
	}
	return v
}

// dateLayouts are the forms of a SCIM dateTime read, tried in order:
// xsd:dateTime with zone, without (UTC), an SQL DATETIME (UTC; an app's
// last login), a date alone (midnight UTC).
var dateLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999", "2006-01-02"}

// dateTime reads v as a time; false when it is none.
func dateTime(v any) (time.Time, bool) {
	switch v := v.(type) {
	case time.Time:
		return v.UTC(), !v.IsZero()
	case string:
		for _, l := range dateLayouts {
			if t, err := time.Parse(l, strings.TrimSpace(v)); err == nil {
				return t.UTC(), true
			}
		}
	}
	return time.Time{}, false
}
