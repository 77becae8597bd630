package policy

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"

	"github.com/scimgate/scimgate/scim"
	"github.com/scimgate/scimgate/targets"
)

// Policy is a compiled configuration. It is immutable and safe for
// concurrent use.
type Policy struct {
	targets []*Target
}

// Target is the compiled policy of one target.
type Target struct {
	name        string
	fingerprint string
	lifecycle   Lifecycle
	adopt       bool
	orphans     Orphans
	schedule    time.Duration // between reconciliations; 0: on demand only
	users       *objectPolicy // nil: the target receives no users
	groups      *objectPolicy // nil: the target receives no groups
}

// Lifecycle is a target's validated lifecycle settings, with defaults
// filled in; the engine acts on them.
type Lifecycle struct {
	OutOfScope        Action
	DeleteGracePeriod time.Duration
	DisableSupported  bool
	DeletionGuard     DeletionGuard
	Preview           bool
}

// DeletionGuard is the validated accidental-deletion guard.
type DeletionGuard struct {
	Enabled   bool
	Threshold int           // more than Threshold deletes/disables ...
	Window    time.Duration // ... within Window are held
}

// Targets lists the targets in configuration order.
func (p *Policy) Targets() []*Target { return slices.Clone(p.targets) }

// Target finds a target by name.
func (p *Policy) Target(name string) (*Target, bool) {
	for _, t := range p.targets {
		if t.name == name {
			return t, true
		}
	}
	return nil, false
}

// Name is the target's name.
func (t *Target) Name() string { return t.name }

// Fingerprint identifies what the target's configuration makes the engine
// plan (scope, mapping, lifecycle; not preview): two targets with the same
// fingerprint plan the same operations for the same identities.
func (t *Target) Fingerprint() string { return t.fingerprint }

// fingerprint returns a digest of tc without its preview setting, "" when
// tc does not marshal (a value built in Go that JSON cannot hold; YAML's
// always can).
func fingerprint(tc TargetConfig) string {
	tc.Lifecycle.Preview = false
	tc.Orphans, tc.Reconcile = "", nil // reconciliation, not planning
	b, err := json.Marshal(tc)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Lifecycle is the target's lifecycle settings.
func (t *Target) Lifecycle() Lifecycle { return t.lifecycle }

// ReceivesUsers reports whether the target is configured for users.
func (t *Target) ReceivesUsers() bool { return t.users != nil }

// ReceivesGroups reports whether the target is configured for groups
// (and so for memberships).
func (t *Target) ReceivesGroups() bool { return t.groups != nil }

// ScopeRule shows the scope of users (groups false) or groups (true) as
// evaluated: the group condition and the CEL of the filters and of the
// expression, ANDed. "" when the target does not receive that type.
func (t *Target) ScopeRule(groups bool) string {
	op := t.users
	if groups {
		op = t.groups
	}
	if op == nil {
		return ""
	}
	return op.scope.rule
}

// Matching returns the matching attributes of the target's users (groups:
// of its groups), in order of precedence; none when it has no matching.
func (t *Target) Matching(groups bool) []string {
	op := t.users
	if groups {
		op = t.groups
	}
	if op == nil {
		return nil
	}
	return slices.Clone(op.matching)
}

// Attributes returns the target attributes the mapping of the target's
// users (groups: of its groups) writes, in mapping order; none when it
// does not receive them.
func (t *Target) Attributes(groups bool) []string {
	op := t.users
	if groups {
		op = t.groups
	}
	if op == nil {
		return nil
	}
	out := make([]string, len(op.mappings))
	for i, m := range op.mappings {
		out[i] = m.target
	}
	return out
}

// ReadsGroupMembers reports whether the scope or the mapping of the
// target's groups may read their members (group.members): only then does
// the engine load a group's members to evaluate it.
func (t *Target) ReadsGroupMembers() bool { return t.groups != nil && t.groups.readsMembers }

// ReadsUserGroups reports whether the scope or the mapping of the target's
// users may read their groups (a scope by groups, user.groups): only then
// can a change of a group's members or name change how a member user is
// provisioned.
func (t *Target) ReadsUserGroups() bool { return t.users != nil && t.users.readsGroups }

// Adopt reports whether an account found by the matching attributes and
// linked to no other identity is adopted (else it is a conflict).
func (t *Target) Adopt() bool { return t.adopt }

// Orphans is what a reconciliation does with an account that no identity
// matches (default OrphansReport).
func (t *Target) Orphans() Orphans { return t.orphans }

// ReconcileSchedule is the time between two scheduled reconciliations of
// the target; 0 when it is reconciled on demand only.
func (t *Target) ReconcileSchedule() time.Duration { return t.schedule }

// objectPolicy is the compiled scope and mapping of one object type.
type objectPolicy struct {
	kind     *kind
	scope    scope
	mappings []mapping
	matching []string // target attributes, in order of precedence
	// readsMembers: the scope or a mapping may read the object's members
	// (group.members), which the engine then loads.
	readsMembers bool
	// readsGroups: the scope or a mapping may read the user's groups
	// (user.groups, or a scope by groups).
	readsGroups bool
}

type scope struct {
	all     bool
	groups  map[string]bool // lower-cased group ids and displayNames; nil: no condition
	filters cel.Program     // nil: no filters
	expr    cel.Program     // nil: no expression
	rule    string

	// What Explain shows: the parts as configured, each filter with its
	// clauses compiled one by one, and the attribute values the
	// expression reads.
	field     string   // "targets[0].users.scope"
	groupList []string // the groups as configured
	filterX   []filterExpl
	exprText  string
	exprRefs  []valueRef
}

// filterExpl is one scoping filter compiled clause by clause for Explain.
type filterExpl struct {
	name    string
	clauses []clauseExpl
}

// clauseExpl is one clause for Explain: its text, its own program and
// the attribute it reads.
type clauseExpl struct {
	text string
	prog cel.Program
	attr valueRef
}

// valueRef reads one attribute value for Explain: a clause's attribute or
// a chain of selections an expression reads (user.name.givenName).
type valueRef struct {
	path   string
	prog   cel.Program
	secret bool // a password or secret: its value is never shown
}

type mapping struct {
	target      string
	field       string      // "users.mapping[2]", for errors
	prog        cel.Program // nil for a constant
	constant    any
	def         any
	onCreate    bool
	ignoreEmpty bool // the expression is IgnoreFlowIfNullOrEmpty(...)
	sensitive   bool // the expression uses RandomString or Redact

	// For Explain: how the value is given (MappingSource, MappingConstant
	// or MappingExpression) and the source path or expression; secret: the
	// value is never shown (sensitive, or it reads a password or secret).
	from, text string
	secret     bool
}

// kind is "user" or "group": the CEL variable, its resource type and
// the CEL environment expressions of that kind compile in.
type kind struct {
	name string
	rt   *scim.ResourceType
	tree *node
	env  *cel.Env
	lib  *library
}

// Option configures Compile.
type Option func(*options)

type options struct {
	user, group *scim.ResourceType
	now         func() time.Time
	rand        io.Reader
}

// WithResourceTypes gives the User and Group resource types the gateway
// serves (with their custom extensions); the defaults (also for nil) are
// scim.UserType() and scim.GroupType().
func WithResourceTypes(user, group *scim.ResourceType) Option {
	return func(o *options) {
		if user != nil {
			o.user = user
		}
		if group != nil {
			o.group = group
		}
	}
}

// WithClock sets the clock of Now() (default time.Now).
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}

// WithRand sets the random source of RandomString and Guid (default
// crypto/rand). Tests pass a seeded source for repeatable values.
func WithRand(r io.Reader) Option {
	return func(o *options) { o.rand = r }
}

// maxExpressionLength is Entra's limit on an expression's length.
const maxExpressionLength = 10000

// Compile validates cfg and compiles every expression once. The error
// joins one *FieldError per problem; each wraps ErrInvalidConfig.
func Compile(cfg Config, opts ...Option) (*Policy, error) {
	o := options{user: scim.UserType(), group: scim.GroupType(), now: time.Now, rand: rand.Reader}
	for _, opt := range opts {
		opt(&o)
	}
	lib := &library{now: o.now, rand: &randSource{r: o.rand}}
	users, err := newKind("user", o.user, lib)
	if err != nil {
		return nil, err
	}
	groups, err := newKind("group", o.group, lib)
	if err != nil {
		return nil, err
	}
	var p problems
	pol := &Policy{}
	seen := map[string]int{}
	for i, tc := range cfg.Targets {
		field := fmt.Sprintf("targets[%d]", i)
		t := &Target{name: tc.Name, fingerprint: fingerprint(tc)}
		// The gateway's one name rule (package targets): its connectors
		// and its policy accept the same names.
		if err := targets.CheckName(tc.Name); err != nil {
			p.add(field+".name", "%v", err)
		} else if j, dup := seen[targets.NameKey(tc.Name)]; dup {
			p.add(field+".name", "duplicate target name %q (also targets[%d]; names differing only in case are the same)", tc.Name, j)
		} else {
			seen[targets.NameKey(tc.Name)] = i
		}
		if tc.Users == nil && tc.Groups == nil {
			p.add(field, "configure users, groups or both: the target would receive nothing")
		}
		if tc.Users != nil {
			t.users = users.compileObject(*tc.Users, field, "users", &p)
		}
		if tc.Groups != nil {
			t.groups = groups.compileObject(*tc.Groups, field, "groups", &p)
		}
		t.lifecycle = compileLifecycle(tc.Lifecycle, field+".lifecycle", &p)
		t.adopt = tc.Adopt == nil || *tc.Adopt
		t.orphans, t.schedule = compileReconcile(tc, field, &p)
		pol.targets = append(pol.targets, t)
	}
	if len(p) > 0 {
		return nil, p.err()
	}
	return pol, nil
}

func newKind(name string, rt *scim.ResourceType, lib *library) (*kind, error) {
	opts := append([]cel.EnvOption{
		cel.Variable(name, cel.MapType(cel.StringType, cel.DynType)),
		cel.CrossTypeNumericComparisons(true),
	}, lib.envOptions()...)
	env, err := cel.NewEnv(opts...)
	if err != nil {
		return nil, fmt.Errorf("policy: building the CEL environment: %w", err)
	}
	return &kind{name: name, rt: rt, tree: schemaTree(rt), env: env, lib: lib}, nil
}

func (k *kind) compileObject(c ObjectConfig, targetField, typ string, p *problems) *objectPolicy {
	field := targetField + "." + typ
	op := &objectPolicy{kind: k, scope: k.compileScope(c.Scope, field+".scope", p)}
	op.scope.field = field + ".scope"
	if len(c.Mapping) == 0 {
		p.add(field+".mapping", "no mappings: the target would receive %s without attributes", typ)
	}
	seen := map[string]int{}
	for j, mc := range c.Mapping {
		rel := fmt.Sprintf("%s.mapping[%d]", typ, j)
		if mc.Field != "" {
			rel = mc.Field
		}
		mf := targetField + "." + rel
		if mc.Target == "" {
			p.add(mf+".target", "required: the target attribute to set")
		} else {
			if prev, dup := seen[strings.ToLower(mc.Target)]; dup {
				p.add(mf+".target", "duplicate target attribute %q (also mapping[%d])", mc.Target, prev)
			}
			seen[strings.ToLower(mc.Target)] = j
		}
		if m, ok := k.compileMapping(mc, mf, p); ok {
			m.field = fmt.Sprintf("%s (%s)", rel, mc.Target)
			op.mappings = append(op.mappings, m)
		}
	}
	matched := map[string]bool{}
	for j, a := range c.Matching {
		f := fmt.Sprintf("%s.matching[%d]", field, j)
		j, mapped := seen[strings.ToLower(a)]
		switch {
		case matched[strings.ToLower(a)]:
			p.add(f, "duplicate matching attribute %q", a)
		case !mapped:
			p.add(f, "%q is not a target attribute of the mapping: matching compares the values the mapping writes", a)
		case c.Mapping[j].Apply == ApplyOnCreate:
			p.add(f, "%q is mapped on create only: matching needs a value the mapping always writes", a)
		default:
			op.matching = append(op.matching, c.Mapping[j].Target)
		}
		matched[strings.ToLower(a)] = true
	}
	op.readsMembers = strings.Contains(op.scope.rule, "members")
	op.readsGroups = op.scope.groups != nil || strings.Contains(op.scope.rule, "groups")
	for _, m := range op.mappings {
		op.readsMembers = op.readsMembers || strings.Contains(m.text, "members")
		op.readsGroups = op.readsGroups || strings.Contains(m.text, "groups")
	}
	return op
}

func (k *kind) compileScope(c ScopeConfig, field string, p *problems) scope {
	var sc scope
	var rule []string
	if c.All {
		if len(c.Groups) > 0 || len(c.Filters) > 0 || c.Expression != "" {
			p.add(field+".all", "all: true cannot be combined with groups, filters or expression")
		}
		sc.all = true
		sc.rule = "all"
		return sc
	}
	if len(c.Groups) == 0 && len(c.Filters) == 0 && c.Expression == "" {
		p.add(field, "empty scope: list groups, filters or an expression, or set all: true")
		return sc
	}
	if len(c.Groups) > 0 {
		sc.groups = map[string]bool{}
		for j, g := range c.Groups {
			g = strings.TrimSpace(g)
			if g == "" {
				p.add(fmt.Sprintf("%s.groups[%d]", field, j), "empty group name")
				continue
			}
			if sc.groups[strings.ToLower(g)] {
				p.add(fmt.Sprintf("%s.groups[%d]", field, j), "duplicate group %q", g)
			}
			sc.groups[strings.ToLower(g)] = true
		}
		what := "member of one of"
		if k.name == "group" {
			what = "one of"
		}
		rule = append(rule, fmt.Sprintf("%s %s [%s]", k.name, what, strings.Join(c.Groups, ", ")))
		sc.groupList = c.Groups
	}
	if len(c.Filters) > 0 {
		var ors []string
		ok := true
		for j, f := range c.Filters {
			ff := fmt.Sprintf("%s.filters[%d]", field, j)
			if len(f.Clauses) == 0 {
				p.add(ff+".clauses", "a filter needs at least one clause")
				ok = false
				continue
			}
			var ands []string
			for l, cl := range f.Clauses {
				s, cok := k.clauseCEL(cl, fmt.Sprintf("%s.clauses[%d]", ff, l), p)
				ok = ok && cok
				ands = append(ands, "("+s+")")
			}
			ors = append(ors, strings.Join(ands, " && "))
		}
		if ok {
			text := strings.Join(ors, " || ")
			if len(ors) > 1 {
				text = "(" + strings.Join(ors, ") || (") + ")"
			}
			if prog, ok := k.compile(text, field+".filters", exprScope, p); ok {
				sc.filters = prog.prog
				rule = append(rule, text)
				sc.filterX = k.explainFilters(c.Filters)
			}
		}
	}
	if c.Expression != "" {
		if prog, ok := k.compile(c.Expression, field+".expression", exprScope, p); ok {
			sc.expr = prog.prog
			rule = append(rule, "("+c.Expression+")")
			sc.exprText, sc.exprRefs = c.Expression, k.valueRefs(prog.refs)
		}
	}
	sc.rule = strings.Join(rule, " && ")
	return sc
}

func (k *kind) compileMapping(c MappingConfig, field string, p *problems) (mapping, bool) {
	m := mapping{target: c.Target}
	switch c.Apply {
	case "", ApplyAlways:
	case ApplyOnCreate:
		m.onCreate = true
	default:
		p.add(field+".apply", "unknown value %q; use always or onCreate", c.Apply)
	}
	n := 0
	for _, given := range []bool{c.Source != "", c.Constant != nil, c.Expression != ""} {
		if given {
			n++
		}
	}
	if n != 1 {
		p.add(field, "give exactly one of source, constant and expression")
		return m, false
	}
	switch {
	case c.Constant != nil:
		m.from = MappingConstant
	case c.Source != "":
		m.from, m.text = MappingSource, c.Source
	default:
		m.from, m.text = MappingExpression, c.Expression
	}
	if c.Default != nil {
		if c.Constant != nil {
			p.add(field+".default", "default applies to source and expression mappings; a constant is never null")
		} else if v, err := constantValue(c.Default); err != nil {
			p.add(field+".default", "%v", err)
		} else {
			m.def = v
		}
	}
	switch {
	case c.Constant != nil:
		v, err := constantValue(c.Constant)
		if err != nil {
			p.add(field+".constant", "%v", err)
			return m, false
		}
		m.constant = v
		return m, true
	case c.Source != "":
		ref, err := k.resolvePath(c.Source)
		if err != nil {
			p.add(field+".source", "%v", err)
			return m, false
		}
		prog, ok := k.compile(ref.cel, field+".source", exprMapping, p)
		m.prog, m.secret = prog.prog, prog.secret
		return m, ok
	}
	mode := exprMapping
	if m.onCreate {
		mode = exprOnCreate
	}
	prog, ok := k.compile(c.Expression, field+".expression", mode, p)
	m.prog, m.ignoreEmpty, m.sensitive = prog.prog, prog.ignoreEmpty, prog.sensitive
	m.secret = prog.sensitive || prog.secret
	return m, ok
}

// constantValue checks a constant from YAML: a scalar or a list of
// scalars, with integers as int64 (the canonical form).
func constantValue(v any) (any, error) {
	switch x := v.(type) {
	case string, bool, float64:
		return x, nil
	case int:
		return int64(x), nil
	case time.Time:
		// An unquoted YAML date or time: give it back as written.
		if x.Equal(x.Truncate(24*time.Hour)) && x.Location() == time.UTC {
			return x.Format(time.DateOnly), nil
		}
		return formatTimestamp(x), nil
	case []any:
		out := make([]any, 0, len(x))
		for _, e := range x {
			if _, isList := e.([]any); isList {
				return nil, fmt.Errorf("expected a scalar or a list of scalars")
			}
			c, err := constantValue(e)
			if err != nil {
				return nil, err
			}
			out = append(out, c)
		}
		return out, nil
	}
	return nil, fmt.Errorf("expected a scalar or a list of scalars")
}

// minSchedule is the shortest time between scheduled reconciliations: each
// one reads every account of the target.
const minSchedule = time.Minute

// compileReconcile validates a target's orphans and reconcile settings.
func compileReconcile(tc TargetConfig, field string, p *problems) (Orphans, time.Duration) {
	o := tc.Orphans
	switch o {
	case "":
		o = OrphansReport
	case OrphansReport, OrphansDisable, OrphansDelete:
	default:
		p.add(field+".orphans", "unknown setting %q; use report, disable or delete", tc.Orphans)
	}
	var schedule time.Duration
	if tc.Reconcile != nil {
		schedule = tc.Reconcile.Schedule
		switch {
		case schedule < 0:
			p.add(field+".reconcile.schedule", "must not be negative (0 or absent: reconcile on demand only)")
		case schedule > 0 && schedule < minSchedule:
			p.add(field+".reconcile.schedule", "%v is too short: a reconciliation reads every account of the target; schedule at least %v apart", schedule, minSchedule)
		}
	}
	return o, schedule
}

func compileLifecycle(c LifecycleConfig, field string, p *problems) Lifecycle {
	l := Lifecycle{
		OutOfScope:        c.OutOfScope,
		DeleteGracePeriod: c.DeleteGracePeriod,
		DisableSupported:  c.DisableSupported == nil || *c.DisableSupported,
		Preview:           c.Preview,
		DeletionGuard: DeletionGuard{
			Enabled:   !c.DeletionGuard.Off,
			Threshold: DefaultDeletionThreshold,
			Window:    DefaultDeletionWindow,
		},
	}
	switch c.OutOfScope {
	case "":
		l.OutOfScope = ActionDisable
		if !l.DisableSupported {
			p.add(field+".outOfScope", "required when disableSupported is false: delete or none")
		}
	case ActionDisable:
		if !l.DisableSupported {
			p.add(field+".outOfScope", "disable needs a target that can disable (disableSupported is false); use delete or none")
		}
	case ActionDelete, ActionNone:
	default:
		p.add(field+".outOfScope", "unknown action %q; use disable, delete or none", c.OutOfScope)
	}
	if c.DeleteGracePeriod < 0 {
		p.add(field+".deleteGracePeriod", "must not be negative")
	}
	g := c.DeletionGuard
	if g.Threshold != nil {
		if *g.Threshold < 1 {
			p.add(field+".deletionGuard.threshold", "must be at least 1 (set off: true to turn the guard off)")
		}
		l.DeletionGuard.Threshold = *g.Threshold
	}
	if g.Window < 0 {
		p.add(field+".deletionGuard.window", "must not be negative")
	}
	if g.Window > 0 {
		l.DeletionGuard.Window = g.Window
	}
	if g.Off && (g.Threshold != nil || g.Window != 0) {
		p.add(field+".deletionGuard", "off: true cannot be combined with threshold or window")
	}
	return l
}

// ---- expressions ----

type exprMode int

const (
	exprScope    exprMode = iota // must be boolean and repeatable
	exprMapping                  // applied at every evaluation
	exprOnCreate                 // applied only when the object is created
)

type compiled struct {
	prog        cel.Program
	ignoreEmpty bool
	sensitive   bool
	// refs are the chains of selections from the kind's variable that the
	// expression reads (the longest ones, in order of appearance); secret:
	// one of them reads a password or secret attribute.
	refs   []chainRef
	secret bool
}

// compile checks and plans a CEL expression, reporting problems at field
// with line:column and the offending line.
func (k *kind) compile(text, field string, mode exprMode, p *problems) (compiled, bool) {
	var out compiled
	if len(text) > maxExpressionLength {
		p.add(field, "the expression is %d characters long; the limit is %d", len(text), maxExpressionLength)
		return out, false
	}
	parsed, iss := k.env.Parse(text)
	if iss.Err() != nil {
		p.add(field, "%s", k.issueText(iss))
		return out, false
	}
	if iss := k.checkUnsupported(parsed); iss.Err() != nil {
		p.add(field, "%s", k.issueText(iss))
		return out, false
	}
	checked, iss := k.env.Check(parsed)
	if iss.Err() != nil {
		p.add(field, "%s", k.issueText(iss))
		return out, false
	}
	info, iss := k.inspect(checked, mode)
	if iss.Err() != nil {
		p.add(field, "%s", k.issueText(iss))
		return out, false
	}
	if mode == exprScope {
		if t := checked.OutputType(); !t.IsExactType(types.BoolType) && !t.IsExactType(types.DynType) {
			p.add(field, "a scope expression must be a condition (bool), not %s", t)
			return out, false
		}
	}
	prog, err := k.env.Program(checked, cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		p.add(field, "%v", err)
		return out, false
	}
	info.prog = prog
	return info, true
}

// issueText renders CEL issues as "line:col: message" with the source
// line and a caret.
func (k *kind) issueText(iss *cel.Issues) string {
	s := strings.ReplaceAll(iss.String(), "ERROR: <input>:", "")
	s = strings.ReplaceAll(s, " (in container '')", "")
	if strings.Contains(s, "undeclared reference") {
		entra, binding := k.example()
		s += fmt.Sprintf("\n(attributes are read through %s: Entra's [%s] is %s; functions keep their Entra names)",
			k.name, entra, binding)
	}
	if m := noOverload.FindStringSubmatch(s); m != nil {
		if f, ok := k.function(m[1]); ok {
			s += fmt.Sprintf("\n(%s takes %s arguments)", f.name, arityText(f.arities))
		}
	}
	return s
}

var noOverload = regexp.MustCompile(`found no matching overload for '(\w+)'`)

// function finds a library function by name.
func (k *kind) function(name string) (function, bool) {
	for _, f := range k.lib.functions() {
		if f.name == name {
			return f, true
		}
	}
	return function{}, false
}

// arityText describes the argument counts of a function (which are one
// count, two counts, a range, or a range of even counts): "3", "3 or 4",
// "2 to 65", "an even number (4 to 130) of".
func arityText(ar []int) string {
	switch {
	case len(ar) == 1:
		return fmt.Sprint(ar[0])
	case len(ar) == 2:
		return fmt.Sprintf("%d or %d", ar[0], ar[1])
	case ar[1]-ar[0] == 2:
		return fmt.Sprintf("an even number (%d to %d) of", ar[0], ar[len(ar)-1])
	}
	return fmt.Sprintf("%d to %d", ar[0], ar[len(ar)-1])
}

// example gives an Entra attribute reference and its binding.
func (k *kind) example() (string, string) {
	if k.name == "user" {
		return "givenName", "user.name.givenName"
	}
	return "displayName", "group.displayName"
}

// checkUnsupported reports Entra functions the gateway cannot offer.
func (k *kind) checkUnsupported(a *cel.Ast) *cel.Issues {
	iss := cel.NewIssuesWithSourceInfo(common.NewErrors(a.Source()), a.NativeRep().SourceInfo())
	celast.PreOrderVisit(a.NativeRep().Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		if e.Kind() != celast.CallKind {
			return
		}
		if why, ok := unsupportedFunctions[e.AsCall().FunctionName()]; ok {
			iss.ReportErrorAtID(e.ID(), "%s is not supported: %s", e.AsCall().FunctionName(), why)
		}
	}))
	return iss
}

// inspect checks a checked expression: attribute names against the
// schema, where IgnoreFlowIfNullOrEmpty and the volatile functions may
// appear, and whether the value is sensitive.
func (k *kind) inspect(a *cel.Ast, mode exprMode) (compiled, *cel.Issues) {
	var info compiled
	iss := cel.NewIssuesWithSourceInfo(common.NewErrors(a.Source()), a.NativeRep().SourceInfo())
	root := a.NativeRep().Expr()
	celast.PreOrderVisit(root, celast.NewExprVisitor(func(e celast.Expr) {
		if ref, ok := k.chainRef(e); ok {
			info.refs = addRef(info.refs, ref)
			info.secret = info.secret || ref.secret
		}
		switch e.Kind() {
		case celast.SelectKind:
			k.checkStep(e, iss)
		case celast.CallKind:
			call := e.AsCall()
			name := call.FunctionName()
			if name == operators.Index {
				k.checkStep(e, iss)
			}
			switch {
			case name == "IgnoreFlowIfNullOrEmpty" && (mode == exprScope || e.ID() != root.ID()):
				iss.ReportErrorAtID(e.ID(), "IgnoreFlowIfNullOrEmpty must enclose a whole mapping expression")
			case name == "IgnoreFlowIfNullOrEmpty":
				info.ignoreEmpty = true
			case volatileFunctions[name] && mode == exprScope:
				iss.ReportErrorAtID(e.ID(), "%s gives a new value at every evaluation; a scope must give the same answer for the same identity", name)
			case volatileFunctions[name] && mode == exprMapping:
				iss.ReportErrorAtID(e.ID(), "%s gives a new value at every evaluation; set apply: onCreate (Entra's \"only during object creation\")", name)
			}
			if sensitiveFunctions[name] {
				info.sensitive = true
			}
		}
	}))
	return info, iss
}

// step is one selection of a chain rooted at the kind's variable.
type step struct {
	name  string // field or constant string index
	index bool   // constant integer index
}

// chain returns the selections from the kind's variable to e, or ok false
// when e is not such a chain.
func (k *kind) chain(e celast.Expr) (steps []step, ok bool) {
	for {
		switch e.Kind() {
		case celast.IdentKind:
			if e.AsIdent() != k.name {
				return nil, false
			}
			slices.Reverse(steps)
			return steps, true
		case celast.SelectKind:
			steps = append(steps, step{name: e.AsSelect().FieldName()})
			e = e.AsSelect().Operand()
		case celast.CallKind:
			call := e.AsCall()
			if call.FunctionName() != operators.Index || len(call.Args()) != 2 || call.Args()[1].Kind() != celast.LiteralKind {
				return nil, false
			}
			switch lit := call.Args()[1].AsLiteral().(type) {
			case types.String:
				steps = append(steps, step{name: string(lit)})
			case types.Int, types.Uint:
				steps = append(steps, step{index: true})
			default:
				return nil, false
			}
			e = call.Args()[0]
		default:
			return nil, false
		}
	}
}

// checkStep validates the last selection of a chain against the schema
// (earlier selections are checked at their own nodes).
func (k *kind) checkStep(e celast.Expr, iss *cel.Issues) {
	steps, ok := k.chain(e)
	if !ok || len(steps) == 0 {
		return
	}
	n := k.tree
	path := k.name
	for i, s := range steps {
		last := i == len(steps)-1
		switch {
		case n == nil:
			return
		case s.index:
			if n.multi {
				n = n.elem
			} else {
				n = nil
			}
		case n.multi:
			if _, isSub := n.children[s.name]; isSub && last && s.name != "primary" {
				iss.ReportErrorAtID(e.ID(), "%s is multi-valued: %s.%s selects the element of type %q; use %s.work, %s.primary or %s.map(e, e.%s)",
					path, path, s.name, s.name, path, path, path, s.name)
				return
			}
			if n.hasValue {
				n = n.children["value"]
			} else {
				n = n.elem
			}
		case n.isComplex():
			c := n.children[s.name]
			if c == nil {
				if last {
					msg := fmt.Sprintf("%s has no attribute %q", path, s.name)
					if sug := suggest(s.name, n.subNames()); sug != "" {
						msg += fmt.Sprintf("; did you mean %q?", sug)
					}
					iss.ReportErrorAtID(e.ID(), "%s", msg)
				}
				return
			}
			n = c
		default:
			if last {
				iss.ReportErrorAtID(e.ID(), "%s is %s; it has no attribute %q", path, article(n.typ), s.name)
			}
			return
		}
		if s.index {
			path += "[…]"
		} else {
			path += celField(s.name)
		}
	}
}

// suggest finds the name closest to s (ignoring case) within two edits.
func suggest(s string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		if d := editDistance(strings.ToLower(s), strings.ToLower(n)); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
