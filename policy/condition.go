package policy

import (
	"crypto/rand"
	"fmt"
	"time"

	"github.com/scimgate/scimgate/scim"
)

// UserCondition is a CEL condition over a user, compiled in the same
// environment as a target's user scope expression (user.enterprise.department,
// user.groups, the functions): the lifecycle workflows' scopes.
type UserCondition struct {
	k  *kind
	sc scope
}

// CompileUserCondition compiles expr, a CEL expression that gives a bool,
// for the User resource type (WithResourceTypes) and clock (WithClock) of
// opts. Errors are *FieldError at field, joined.
func CompileUserCondition(expr, field string, opts ...Option) (*UserCondition, error) {
	o := options{user: scim.UserType(), group: scim.GroupType(), now: time.Now, rand: rand.Reader}
	for _, opt := range opts {
		opt(&o)
	}
	k, err := newKind("user", o.user, &library{now: o.now, rand: &randSource{r: o.rand}})
	if err != nil {
		return nil, err
	}
	var p problems
	prog, ok := k.compile(expr, field, exprScope, &p)
	if !ok || len(p) > 0 {
		return nil, p.err()
	}
	return &UserCondition{k: k, sc: scope{expr: prog.prog, exprText: expr}}, nil
}

// Match evaluates the condition for user (a canonical resource) with the
// groups it is a direct member of.
func (c *UserCondition) Match(user map[string]any, memberOf []GroupRef) (bool, error) {
	s := newSubject(user, memberOf)
	ok, err := c.sc.eval(c.k, s, s.activation(c.k))
	if err != nil {
		return false, fmt.Errorf("%w: %v", ErrEvaluation, err)
	}
	return ok, nil
}
