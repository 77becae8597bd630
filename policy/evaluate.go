package policy

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/interpreter"
)

// GroupRef names a group a user is a member of.
type GroupRef struct {
	ID          string
	DisplayName string
}

// Decision is what a target should hold for one user or group.
type Decision struct {
	// Target is the target's name.
	Target string
	// InScope says whether the object belongs in the target.
	InScope bool
	// Attributes are the mapped target attributes (apply: always), nil
	// when out of scope. A nil value means "no value": the engine clears
	// the attribute. A mapping wrapped in IgnoreFlowIfNullOrEmpty that
	// gives null or "" is absent: the engine leaves the attribute alone.
	Attributes map[string]any
	// OnCreate are the mappings applied only when the object is created
	// (apply: onCreate), such as an initial password.
	OnCreate map[string]any
	// Err is set when a scope or mapping expression failed. The decision
	// must then not be acted on: InScope is true only if the scope was
	// decided and the mapping failed; an error never means "left the
	// scope".
	Err error
}

// ErrEvaluation is wrapped by Decision.Err.
var ErrEvaluation = errors.New("policy evaluation failed")

// Secret holds the value of a sensitive mapping (one using RandomString
// or Redact). It formats and logs as "[Redact]" and refuses JSON
// encoding; a connector takes the value with Reveal.
type Secret struct{ v any }

// Redacted is how a Secret prints.
const Redacted = "[Redact]"

// ErrSecret is returned when a Secret is marshalled.
var ErrSecret = errors.New("policy: a secret value is not serialised; use Reveal")

// Reveal returns the secret value.
func (s Secret) Reveal() any { return s.v }

// Format implements fmt.Formatter for every verb.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, Redacted) }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(Redacted) }

// MarshalJSON refuses to encode the secret.
func (s Secret) MarshalJSON() ([]byte, error) { return nil, ErrSecret }

// EvaluateUser decides every target that receives users for user (a
// canonical resource) with the groups it is a direct member of, in
// configuration order.
func (p *Policy) EvaluateUser(user map[string]any, memberOf []GroupRef) []Decision {
	s := newSubject(user, memberOf)
	var out []Decision
	for _, t := range p.targets {
		if t.users != nil {
			out = append(out, t.users.evaluate(t.name, s))
		}
	}
	return out
}

// EvaluateGroup decides every target that receives groups for group (a
// canonical resource), in configuration order.
func (p *Policy) EvaluateGroup(group map[string]any) []Decision {
	s := newSubject(group, nil)
	var out []Decision
	for _, t := range p.targets {
		if t.groups != nil {
			out = append(out, t.groups.evaluate(t.name, s))
		}
	}
	return out
}

// EvaluateUser decides this target for one user; a target that receives
// no users gives a decision out of scope.
func (t *Target) EvaluateUser(user map[string]any, memberOf []GroupRef) Decision {
	if t.users == nil {
		return Decision{Target: t.name}
	}
	return t.users.evaluate(t.name, newSubject(user, memberOf))
}

// EvaluateGroup decides this target for one group; a target that
// receives no groups gives a decision out of scope.
func (t *Target) EvaluateGroup(group map[string]any) Decision {
	if t.groups == nil {
		return Decision{Target: t.name}
	}
	return t.groups.evaluate(t.name, newSubject(group, nil))
}

// subject is one identity being evaluated.
type subject struct {
	res      map[string]any
	memberOf []GroupRef
	root     *object // built on first use
}

func newSubject(res map[string]any, memberOf []GroupRef) *subject {
	return &subject{res: res, memberOf: memberOf}
}

// activation binds the kind's variable to the subject.
type activation struct {
	name string
	val  ref.Val
}

func (a *activation) ResolveName(name string) (any, bool) {
	if name == a.name {
		return a.val, true
	}
	return nil, false
}

func (a *activation) Parent() interpreter.Activation { return nil }

func (s *subject) activation(k *kind) *activation {
	if s.root == nil || s.root.n != k.tree {
		s.root = &object{m: s.res, n: k.tree}
		if k.name == "user" {
			s.root.groups = &memberships{of: s.memberOf, n: k.tree.children["groups"]}
		}
	}
	return &activation{name: k.name, val: s.root}
}

func (op *objectPolicy) evaluate(target string, s *subject) Decision {
	d := Decision{Target: target}
	act := s.activation(op.kind)
	in, err := op.scope.eval(op.kind, s, act)
	if err != nil {
		d.Err = fmt.Errorf("%w: target %q: %s scope: %v", ErrEvaluation, target, op.kind.name, err)
		return d
	}
	if !in {
		return d
	}
	d.InScope = true
	for _, m := range op.mappings {
		v, err := m.eval(act)
		if err != nil {
			d.Err = fmt.Errorf("%w: target %q: %s: %v", ErrEvaluation, target, m.field, err)
			d.Attributes, d.OnCreate = nil, nil
			return d
		}
		if m.ignoreEmpty && (v == nil || v == "") {
			continue
		}
		if m.sensitive {
			v = Secret{v}
		}
		dst := &d.Attributes
		if m.onCreate {
			dst = &d.OnCreate
		}
		if *dst == nil {
			*dst = make(map[string]any, len(op.mappings))
		}
		(*dst)[m.target] = v
	}
	return d
}

var errNotBool = errors.New("the condition did not give a bool")

func (sc *scope) eval(k *kind, s *subject, act *activation) (bool, error) {
	if sc.all {
		return true, nil
	}
	if sc.groups != nil && !sc.matchGroups(k, s) {
		return false, nil
	}
	for _, prog := range []cel.Program{sc.filters, sc.expr} {
		if prog == nil {
			continue
		}
		v, _, err := prog.Eval(act)
		if err != nil {
			return false, err
		}
		b, ok := v.(types.Bool)
		if !ok {
			return false, errNotBool
		}
		if !b {
			return false, nil
		}
	}
	return true, nil
}

func (sc *scope) matchGroups(k *kind, s *subject) bool {
	has := func(v string) bool { return v != "" && sc.groups[strings.ToLower(v)] }
	if k.name == "user" {
		for _, g := range s.memberOf {
			if has(g.ID) || has(g.DisplayName) {
				return true
			}
		}
		return false
	}
	id, _ := s.res["id"].(string)
	name, _ := s.res["displayName"].(string)
	return has(id) || has(name)
}

func (m *mapping) eval(act *activation) (any, error) {
	v, err := m.evalRaw(act)
	if err != nil {
		return nil, err
	}
	if v == nil && m.def != nil {
		v = copyValue(m.def)
	}
	return v, nil
}

// evalRaw is the mapping's value before its default.
func (m *mapping) evalRaw(act *activation) (any, error) {
	if m.prog == nil {
		return copyValue(m.constant), nil
	}
	out, _, err := m.prog.Eval(act)
	var v any
	if err == nil {
		v, err = native(out)
	}
	if err != nil {
		if m.secret {
			return nil, errors.New("the expression failed (details withheld: the mapping is sensitive)")
		}
		return nil, err
	}
	return v, nil
}
