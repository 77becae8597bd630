package policy

import (
	"cmp"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/cel-go/cel"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
)

// Explanation says how a target's policy decides one user or group: each
// part of the scope with the values it read and whether it decided, and
// where each mapped attribute comes from with its value. It holds no
// secret: the values of sensitive mappings (RandomString, Redact) and of
// password or secret attributes read Redacted. InScope and Error are
// those of the Decision that EvaluateUser or EvaluateGroup gives.
type Explanation struct {
	Target string `json:"target"`
	// Receives: the target is configured for the object's kind; when it
	// is not, nothing else is set.
	Receives bool `json:"receives"`
	InScope  bool `json:"inScope"`
	// Scope lists the parts of the scope in the order they are evaluated:
	// all, or groups, then each filter (any filter may match), then the
	// expression. Every part is evaluated, also those after the one that
	// decided.
	Scope []Check `json:"scope,omitempty"`
	// Attributes are the mappings in configuration order, evaluated only
	// when the object is in scope.
	Attributes []Attribute `json:"attributes,omitempty"`
	// Error is the Decision's error: the decision cannot be acted on.
	Error string `json:"error,omitempty"`
}

// The parts of a scope (Check.Part).
const (
	PartAll        = "all"
	PartGroups     = "groups"
	PartFilter     = "filter"
	PartClause     = "clause"
	PartExpression = "expression"
)

// Check is one condition of a scope as evaluated.
type Check struct {
	// Part is PartAll, PartGroups, PartFilter, PartClause or
	// PartExpression.
	Part string `json:"part"`
	// Field is where the condition is configured:
	// "targets[0].users.scope.filters[1].clauses[0]".
	Field string `json:"field"`
	// Name is a filter's title, "" when it has none.
	Name string `json:"name,omitempty"`
	// Rule is the condition: "member of one of [Sales]",
	// `department equals "Sales"`, the expression; "" for a filter (its
	// clauses say it).
	Rule string `json:"rule,omitempty"`
	// Values are the values the condition read, by attribute path (for a
	// clause, as configured; for an expression, the CEL it reads).
	Values []Value `json:"values,omitempty"`
	// Result is whether the condition held (false when it failed).
	Result bool `json:"result"`
	// Error is why its evaluation failed.
	Error string `json:"error,omitempty"`
	// Decisive marks what decided: out of scope, the first part that did
	// not hold (every filter when no filter matched, and in each filter
	// its first clause that did not hold); in scope, every part (of the
	// filters, the first one that matched).
	Decisive bool `json:"decisive,omitempty"`
	// Clauses are a filter's clauses, which must all hold.
	Clauses []Check `json:"clauses,omitempty"`
}

// Value is a value a condition read.
type Value struct {
	Path  string `json:"path"`
	Value any    `json:"value"` // nil: no value
}

// How a mapping gives its value (Attribute.From).
const (
	MappingSource     = "source"
	MappingConstant   = "constant"
	MappingExpression = "expression"
)

// Attribute is one mapped target attribute as evaluated.
type Attribute struct {
	// Target is the target's attribute.
	Target string `json:"target"`
	// From is MappingSource, MappingConstant or MappingExpression; Source
	// is the SCIM path or the expression ("" for a constant).
	From   string `json:"from"`
	Source string `json:"source,omitempty"`
	// OnCreate: applied only when the object is created.
	OnCreate bool `json:"onCreate,omitempty"`
	// Value is what the target gets; Redacted for a secret, nil for no
	// value (the target's attribute is cleared).
	Value any `json:"value"`
	// Default: the source or expression gave null and the default applies.
	Default bool `json:"default,omitempty"`
	// Ignored: IgnoreFlowIfNullOrEmpty gave nothing, so the target's
	// attribute is left as it is.
	Ignored bool `json:"ignored,omitempty"`
	// Secret: the value is never shown.
	Secret bool   `json:"secret,omitempty"`
	Error  string `json:"error,omitempty"`
}

// ExplainUser explains the decision of every target for user (a canonical
// resource) with the groups it is a direct member of, in configuration
// order; targets that receive no users say so.
func (p *Policy) ExplainUser(user map[string]any, memberOf []GroupRef) []Explanation {
	out := make([]Explanation, 0, len(p.targets))
	for _, t := range p.targets {
		out = append(out, t.ExplainUser(user, memberOf))
	}
	return out
}

// ExplainGroup explains the decision of every target for group (a
// canonical resource), in configuration order.
func (p *Policy) ExplainGroup(group map[string]any) []Explanation {
	out := make([]Explanation, 0, len(p.targets))
	for _, t := range p.targets {
		out = append(out, t.ExplainGroup(group))
	}
	return out
}

// ExplainUser explains this target's decision for one user.
func (t *Target) ExplainUser(user map[string]any, memberOf []GroupRef) Explanation {
	if t.users == nil {
		return Explanation{Target: t.name}
	}
	return t.users.explain(t.name, newSubject(user, memberOf))
}

// ExplainGroup explains this target's decision for one group.
func (t *Target) ExplainGroup(group map[string]any) Explanation {
	if t.groups == nil {
		return Explanation{Target: t.name}
	}
	return t.groups.explain(t.name, newSubject(group, nil))
}

func (op *objectPolicy) explain(target string, s *subject) Explanation {
	d := op.evaluate(target, s)
	x := Explanation{Target: target, Receives: true, InScope: d.InScope}
	if d.Err != nil {
		x.Error = d.Err.Error()
	}
	act := s.activation(op.kind)
	x.Scope = op.scope.explain(op.kind, s, act)
	if !d.InScope {
		return x
	}
	for _, m := range op.mappings {
		a := Attribute{Target: m.target, From: m.from, Source: m.text, OnCreate: m.onCreate, Secret: m.secret}
		v, err := m.evalRaw(act)
		switch {
		case err != nil:
			a.Error = err.Error()
		case v == nil && m.def != nil:
			a.Value, a.Default = copyValue(m.def), true
		case m.ignoreEmpty && (v == nil || v == ""):
			a.Ignored = true
		default:
			a.Value = v
		}
		if m.secret && a.Value != nil {
			a.Value = Redacted
		}
		x.Attributes = append(x.Attributes, a)
	}
	return x
}

// explain evaluates every part of the scope on its own and marks those
// that decided (see Check.Decisive).
func (sc *scope) explain(k *kind, s *subject, act *activation) []Check {
	if sc.all {
		return []Check{{Part: PartAll, Field: sc.field + ".all", Rule: "all: true", Result: true, Decisive: true}}
	}
	var parts [][]Check // groups, filters, expression: each one or more checks
	if sc.groups != nil {
		c := Check{Part: PartGroups, Field: sc.field + ".groups", Result: sc.matchGroups(k, s)}
		if k.name == "user" {
			c.Rule = "member of one of [" + strings.Join(sc.groupList, ", ") + "]"
			names := make([]any, 0, len(s.memberOf))
			for _, g := range s.memberOf {
				names = append(names, cmp.Or(g.DisplayName, g.ID))
			}
			c.Values = []Value{{Path: "groups", Value: names}}
		} else {
			c.Rule = "one of [" + strings.Join(sc.groupList, ", ") + "]"
			c.Values = []Value{{Path: "id", Value: s.res["id"]}, {Path: "displayName", Value: s.res["displayName"]}}
		}
		parts = append(parts, []Check{c})
	}
	if len(sc.filterX) > 0 {
		var filters []Check
		for i, f := range sc.filterX {
			fc := Check{Part: PartFilter, Field: fmt.Sprintf("%s.filters[%d]", sc.field, i), Name: f.name, Result: true}
			for j, cl := range f.clauses {
				c := Check{Part: PartClause, Field: fmt.Sprintf("%s.clauses[%d]", fc.Field, j), Rule: cl.text,
					Values: []Value{cl.attr.read(act)}}
				c.Result, c.Error = evalBool(cl.prog, act)
				if c.Error != "" && cl.attr.secret {
					c.Error = errWithheld
				}
				fc.Clauses = append(fc.Clauses, c)
			}
			fc.Result, fc.Error = allHeld(fc.Clauses)
			filters = append(filters, fc)
		}
		parts = append(parts, filters)
	}
	if sc.expr != nil {
		c := Check{Part: PartExpression, Field: sc.field + ".expression", Rule: sc.exprText}
		c.Result, c.Error = evalBool(sc.expr, act)
		for _, r := range sc.exprRefs {
			c.Values = append(c.Values, r.read(act))
			if c.Error != "" && r.secret {
				c.Error = errWithheld
			}
		}
		parts = append(parts, []Check{c})
	}
	// The first part that did not hold decided; when all held, all did.
	decided := false
	for _, part := range parts {
		if held, _ := anyHeld(part); !held {
			markFailed(part)
			decided = true
			break
		}
	}
	if !decided {
		for _, part := range parts {
			for i := range part {
				if part[i].Result {
					part[i].Decisive = true
					markAll(part[i].Clauses)
					break
				}
			}
		}
	}
	var out []Check
	for _, part := range parts {
		out = append(out, part...)
	}
	return out
}

// errWithheld replaces the error of a condition that reads a secret,
// which could quote its value.
const errWithheld = "the condition failed (details withheld: it reads a secret)"

// anyHeld is a disjunction of checks with CEL's semantics: true if one holds,
// else failed if one failed.
func anyHeld(cs []Check) (bool, string) {
	var failed string
	for _, c := range cs {
		if c.Result {
			return true, ""
		}
		if c.Error != "" && failed == "" {
			failed = c.Error
		}
	}
	return false, failed
}

// allHeld is a conjunction of clauses with CEL's semantics: false if one does
// not hold, else failed if one failed.
func allHeld(cs []Check) (bool, string) {
	var failed string
	for _, c := range cs {
		if !c.Result && c.Error == "" {
			return false, ""
		}
		if c.Error != "" && failed == "" {
			failed = c.Error
		}
	}
	if failed != "" {
		return false, failed
	}
	return true, ""
}

// markFailed marks the checks of a part that did not hold as decisive,
// and in each filter its first clause that did not hold.
func markFailed(part []Check) {
	for i := range part {
		part[i].Decisive = true
		for j := range part[i].Clauses {
			if !part[i].Clauses[j].Result {
				part[i].Clauses[j].Decisive = true
				break
			}
		}
	}
}

func markAll(cs []Check) {
	for i := range cs {
		cs[i].Decisive = true
	}
}

// evalBool runs a condition.
func evalBool(prog cel.Program, act *activation) (bool, string) {
	v, _, err := prog.Eval(act)
	if err != nil {
		return false, err.Error()
	}
	b, ok := v.(types.Bool)
	if !ok {
		return false, errNotBool.Error()
	}
	return bool(b), ""
}

// read evaluates the value a condition reads, redacted when secret.
func (r valueRef) read(act *activation) Value {
	out := Value{Path: r.path}
	v, _, err := r.prog.Eval(act)
	if err != nil {
		return out
	}
	if out.Value, err = native(v); err != nil {
		out.Value = nil
	}
	if r.secret && out.Value != nil {
		out.Value = Redacted
	}
	return out
}

// explainFilters compiles each clause of valid filters on its own, for
// Explain.
func (k *kind) explainFilters(fs []FilterConfig) []filterExpl {
	var out []filterExpl
	for _, f := range fs {
		fx := filterExpl{name: f.Name}
		for _, c := range f.Clauses {
			var p problems // the filters compiled: the clauses do too
			text, _ := k.clauseCEL(c, "", &p)
			prog, _ := k.compile(text, "", exprScope, &p)
			ref, _ := k.resolvePath(c.Attribute)
			attr := k.valueRefs([]chainRef{{text: ref.cel, secret: secretName(c.Attribute)}})
			if len(p) > 0 || prog.prog == nil || len(attr) != 1 {
				return nil // cannot happen: the whole filter compiled
			}
			attr[0].path = c.Attribute
			fx.clauses = append(fx.clauses, clauseExpl{text: clauseText(c), prog: prog.prog, attr: attr[0]})
		}
		out = append(out, fx)
	}
	return out
}

// clauseText shows a clause as configured: `department equals "Sales"`.
func clauseText(c ClauseConfig) string {
	s := c.Attribute + " " + string(c.Operator)
	switch {
	case c.Values != nil:
		s += " " + jsonText(c.Values)
	case c.Value != nil:
		s += " " + jsonText(c.Value)
	}
	if c.IgnoreCase {
		s += " (ignoreCase)"
	}
	return s
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// valueRefs compiles the chains an expression reads into programs; a
// chain that does not compile on its own is left out.
func (k *kind) valueRefs(refs []chainRef) []valueRef {
	var out []valueRef
	for _, r := range refs {
		a, iss := k.env.Compile(r.text)
		if iss.Err() != nil {
			continue
		}
		prog, err := k.env.Program(a)
		if err != nil {
			continue
		}
		out = append(out, valueRef{path: r.text, prog: prog, secret: r.secret})
	}
	return out
}

// chainRef is a chain of selections from the kind's variable, as CEL
// text: user.name.givenName, user["urn:…:User"].level, user.emails[0].
type chainRef struct {
	text   string
	secret bool // it selects a password or secret attribute
}

// chainRef returns e as a chainRef when it is a selection from the kind's
// variable.
func (k *kind) chainRef(e celast.Expr) (chainRef, bool) {
	switch e.Kind() {
	case celast.SelectKind:
		r, ok := k.chainPrefix(e.AsSelect().Operand())
		if !ok {
			return r, false
		}
		name := e.AsSelect().FieldName()
		return chainRef{text: r.text + celField(name), secret: r.secret || secretName(name)}, true
	case celast.CallKind:
		call := e.AsCall()
		if call.FunctionName() != operators.Index || len(call.Args()) != 2 || call.Args()[1].Kind() != celast.LiteralKind {
			return chainRef{}, false
		}
		r, ok := k.chainPrefix(call.Args()[0])
		if !ok {
			return r, false
		}
		switch lit := call.Args()[1].AsLiteral().(type) {
		case types.String:
			return chainRef{text: r.text + "[" + strconv.Quote(string(lit)) + "]", secret: r.secret || secretName(string(lit))}, true
		case types.Int:
			return chainRef{text: r.text + "[" + strconv.FormatInt(int64(lit), 10) + "]", secret: r.secret}, true
		case types.Uint:
			return chainRef{text: r.text + "[" + strconv.FormatUint(uint64(lit), 10) + "u]", secret: r.secret}, true
		}
	}
	return chainRef{}, false
}

// chainPrefix is chainRef, also accepting the variable itself.
func (k *kind) chainPrefix(e celast.Expr) (chainRef, bool) {
	if e.Kind() == celast.IdentKind {
		return chainRef{text: k.name}, e.AsIdent() == k.name
	}
	return k.chainRef(e)
}

// addRef adds r to refs unless a longer chain already holds it; it drops
// the chains r extends.
func addRef(refs []chainRef, r chainRef) []chainRef {
	for _, x := range refs {
		if x.text == r.text || extends(x.text, r.text) {
			return refs
		}
	}
	out := refs[:0]
	for _, x := range refs {
		if !extends(r.text, x.text) {
			out = append(out, x)
		}
	}
	return append(out, r)
}

// extends reports whether chain a selects further from chain b.
func extends(a, b string) bool {
	return len(a) > len(b) && strings.HasPrefix(a, b) && (a[len(b)] == '.' || a[len(b)] == '[')
}

// secretName reports whether an attribute name is a password or a secret,
// whose values Explain never shows.
func secretName(name string) bool {
	n := strings.ToLower(name)
	return strings.Contains(n, "password") || strings.Contains(n, "secret")
}
