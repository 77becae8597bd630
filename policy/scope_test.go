package policy

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/scim"
)

// scopeCase is one case of testdata/scope/*.yaml: a scope, the rule it
// compiles to, and identities in and out of it.
type scopeCase struct {
	Name  string         `yaml:"name"`
	Kind  string         `yaml:"kind"` // user (default) or group
	Scope ScopeConfig    `yaml:"scope"`
	Rule  string         `yaml:"rule"` // Target.ScopeRule
	In    []scopeSubject `yaml:"in"`
	Out   []scopeSubject `yaml:"out"`
	Fail  []scopeSubject `yaml:"fail"` // evaluation errors
}

// scopeSubject is a user (with its groups) or a group, as SCIM bodies.
type scopeSubject struct {
	User   map[string]any `yaml:"user"`
	Groups []groupRef     `yaml:"groups"`
	Group  map[string]any `yaml:"group"`
}

func loadScopeCases(t *testing.T) map[string][]scopeCase {
	out := map[string][]scopeCase{}
	for _, f := range testFiles(t, "scope") {
		var cases []scopeCase
		readYAML(t, f, &cases)
		out[f] = cases
	}
	return out
}

func TestScope(t *testing.T) {
	users, groups := testUserType(), scim.GroupType()
	for file, cases := range loadScopeCases(t) {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".yaml"), func(t *testing.T) {
			for _, c := range cases {
				t.Run(c.Name, func(t *testing.T) {
					if len(c.In) == 0 || (len(c.Out)+len(c.Fail) == 0 && !c.Scope.All) || c.Rule == "" {
						t.Fatal("a case needs a rule, identities in scope and identities out of scope (or failing)")
					}
					obj := &ObjectConfig{Scope: c.Scope, Mapping: []MappingConfig{{Target: "x", Constant: "x"}}}
					tc := TargetConfig{Name: "t", Users: obj}
					isGroup := c.Kind == "group"
					if isGroup {
						tc = TargetConfig{Name: "t", Groups: obj}
					}
					p, err := Compile(Config{Targets: []TargetConfig{tc}}, WithClock(func() time.Time { return testNow }), WithResourceTypes(users, groups))
					if err != nil {
						t.Fatal(err)
					}
					target := p.Targets()[0]
					if got := target.ScopeRule(isGroup); got != c.Rule {
						t.Errorf("rule:\n got %s\nwant %s", got, c.Rule)
					}
					// eval decides s, and checks that its explanation agrees.
					eval := func(i int, s scopeSubject) Decision {
						var d Decision
						var x Explanation
						if isGroup {
							g := canonical(t, groups, withDefault(s.Group, "displayName", "Test Group"))
							d, x = target.EvaluateGroup(g), target.ExplainGroup(g)
						} else {
							u := canonical(t, users, withDefault(s.User, "userName", "test.user"))
							d, x = target.EvaluateUser(u, groupRefs(s.Groups)), target.ExplainUser(u, groupRefs(s.Groups))
						}
						checkAgrees(t, fmt.Sprintf("subject %d %v", i, s), []Explanation{x}, []Decision{d})
						return d
					}
					for _, want := range []struct {
						subjects []scopeSubject
						in, fail bool
					}{{c.In, true, false}, {c.Out, false, false}, {c.Fail, false, true}} {
						for i, s := range want.subjects {
							d := eval(i, s)
							if (d.Err != nil) != want.fail {
								t.Errorf("subject %d %v: error = %v", i, s, d.Err)
								continue
							}
							if d.InScope != want.in {
								t.Errorf("subject %d %v: in scope = %v, want %v", i, s, d.InScope, want.in)
							}
						}
					}
				})
			}
		})
	}
}

func withDefault(body map[string]any, key string, v any) map[string]any {
	out := map[string]any{key: v}
	for k, e := range body {
		out[k] = e
	}
	return out
}

// TestEveryOperatorHasCases fails when a clause operator has no case in
// testdata/scope.
func TestEveryOperatorHasCases(t *testing.T) {
	var used []Operator
	for _, cases := range loadScopeCases(t) {
		for _, c := range cases {
			for _, f := range c.Scope.Filters {
				for _, cl := range f.Clauses {
					used = append(used, cl.Operator)
				}
			}
		}
	}
	for _, op := range Operators {
		if !slices.Contains(used, op) {
			t.Errorf("operator %s has no case in testdata/scope", op)
		}
	}
}
