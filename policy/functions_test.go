package policy

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/scimgate/scimgate/scim"
)

// functionCase is one case of testdata/functions/*.yaml: an expression
// evaluated as an onCreate mapping for a user, and exactly one
// expectation.
type functionCase struct {
	Name string `yaml:"name"`
	Expr string `yaml:"expr"`
	// Source, Constant and Default make the mapping a source or constant
	// mapping instead (testdata/functions/mappings.yaml).
	Source   string `yaml:"source"`
	Constant any    `yaml:"constant"`
	Default  any    `yaml:"default"`

	User   map[string]any `yaml:"user"`   // SCIM body; userName defaults to "test.user"
	Groups []groupRef     `yaml:"groups"` // the user's groups
	Apply  Apply          `yaml:"apply"`  // default onCreate
	// Expectations.
	Want    yaml.Node `yaml:"want"`    // the mapped value (null: present with no value)
	Match   string    `yaml:"match"`   // a regexp the string value matches
	Omitted bool      `yaml:"omitted"` // IgnoreFlowIfNullOrEmpty left the attribute out
	Error   string    `yaml:"error"`   // evaluation fails with this text
	Invalid string    `yaml:"invalid"` // compiling fails with this text
	// Secret: the value is a Secret (RandomString, Redact).
	Secret bool `yaml:"secret"`
}

func (c functionCase) expectations() int {
	n := 0
	for _, set := range []bool{c.Want.Kind != 0, c.Match != "", c.Omitted, c.Error != "", c.Invalid != ""} {
		if set {
			n++
		}
	}
	return n
}

// functionConfig is the policy a function case runs in.
func functionConfig(c functionCase) Config {
	apply := c.Apply
	if apply == "" {
		apply = ApplyOnCreate
	}
	return Config{Targets: []TargetConfig{{
		Name: "t",
		Users: &ObjectConfig{
			Scope:   ScopeConfig{All: true},
			Mapping: []MappingConfig{{Target: "v", Expression: c.Expr, Source: c.Source, Constant: c.Constant, Default: c.Default, Apply: apply}},
		},
	}}}
}

func loadFunctionCases(t *testing.T) map[string][]functionCase {
	out := map[string][]functionCase{}
	for _, f := range testFiles(t, "functions") {
		var cases []functionCase
		readYAML(t, f, &cases)
		out[f] = cases
	}
	return out
}

func TestFunctions(t *testing.T) {
	rt := scim.UserType()
	for file, cases := range loadFunctionCases(t) {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".yaml"), func(t *testing.T) {
			for _, c := range cases {
				t.Run(c.Name, func(t *testing.T) {
					if n := c.expectations(); n != 1 {
						t.Fatalf("%s: the case needs exactly one of want, match, omitted, error, invalid (has %d)", file, n)
					}
					p, err := Compile(functionConfig(c), WithClock(func() time.Time { return testNow }), WithRand(seeded(1)))
					if c.Invalid != "" {
						if err == nil || !strings.Contains(err.Error(), c.Invalid) {
							t.Fatalf("compile error = %v, want one containing %q", err, c.Invalid)
						}
						if !errors.Is(err, ErrInvalidConfig) {
							t.Errorf("the error does not wrap ErrInvalidConfig")
						}
						return
					}
					if err != nil {
						t.Fatal(err)
					}
					body := map[string]any{"userName": "test.user"}
					for k, v := range c.User {
						body[k] = v
					}
					d := p.EvaluateUser(canonical(t, rt, body), groupRefs(c.Groups))[0]
					if c.Error != "" {
						if d.Err == nil || !strings.Contains(d.Err.Error(), c.Error) {
							t.Fatalf("error = %v, want one containing %q", d.Err, c.Error)
						}
						if !errors.Is(d.Err, ErrEvaluation) {
							t.Errorf("the error does not wrap ErrEvaluation")
						}
						return
					}
					if d.Err != nil {
						t.Fatal(d.Err)
					}
					got, present := d.OnCreate["v"]
					if c.Apply == ApplyAlways {
						got, present = d.Attributes["v"]
					}
					if c.Omitted {
						if present {
							t.Fatalf("got %#v, want the attribute left out", plain(got))
						}
						return
					}
					if !present {
						t.Fatal("the attribute was left out")
					}
					if _, isSecret := got.(Secret); isSecret != c.Secret {
						t.Errorf("secret = %v, want %v", isSecret, c.Secret)
					}
					if c.Match != "" {
						s, ok := plain(got).(string)
						if !ok || !regexp.MustCompile(c.Match).MatchString(s) {
							t.Fatalf("got %#v, want a string matching %s", plain(got), c.Match)
						}
						return
					}
					var want any
					if err := c.Want.Decode(&want); err != nil {
						t.Fatal(err)
					}
					if !equal(got, want) {
						t.Fatalf("got %#v, want %#v", plain(got), plain(want))
					}
				})
			}
		})
	}
}

// TestEveryFunctionHasCases fails when a library function has no case in
// testdata/functions.
func TestEveryFunctionHasCases(t *testing.T) {
	var all strings.Builder
	for _, cases := range loadFunctionCases(t) {
		for _, c := range cases {
			fmt.Fprintln(&all, c.Expr)
		}
	}
	for _, f := range (&library{}).functions() {
		if !regexp.MustCompile(`\b` + f.name + `\(`).MatchString(all.String()) {
			t.Errorf("%s has no case in testdata/functions", f.name)
		}
	}
}
