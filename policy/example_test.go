package policy_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/policy"
)

func Example() {
	cfg, err := policy.ParseConfig([]byte(`
targets:
  - name: crm
    users:
      scope:
        groups: [Sales]
        filters:
          - clauses: [{attribute: active, operator: isTrue}]
      mapping:
        - {target: login, source: userName}
        - {target: mail, source: 'emails[type eq "work"].value'}
        - {target: alias, expression: 'ToLower(NormalizeDiacritics(Join(".", user.name.givenName, user.name.familyName)))'}
        - {target: department, source: department, default: Unassigned}
        - {target: password, expression: 'RandomString(16, 2, 2, 2, 2)', apply: onCreate}
`))
	if err != nil {
		panic(err)
	}
	pol, err := policy.Compile(cfg, policy.WithClock(time.Now))
	if err != nil {
		panic(err)
	}
	user := map[string]any{ // canonical form, as the store holds it
		"userName": "zoe@contoso.com",
		"active":   true,
		"name":     map[string]any{"givenName": "Zoë", "familyName": "Müller"},
		"emails":   []any{map[string]any{"value": "zoe@contoso.com", "type": "work"}},
	}
	for _, d := range pol.EvaluateUser(user, []policy.GroupRef{{ID: "g1", DisplayName: "Sales"}}) {
		fmt.Println(d.Target, d.InScope, d.Err)
		fmt.Println(d.Attributes)
		fmt.Println(d.OnCreate)
	}
	fmt.Println(pol.Targets()[0].ScopeRule(false))
	// Output:
	// crm true <nil>
	// map[alias:zoe.muller department:Unassigned login:zoe@contoso.com mail:zoe@contoso.com]
	// map[password:[Redact]]
	// user member of one of [Sales] && (user.active == true)
}

func ExampleConfig_Validate() {
	cfg, _ := policy.ParseConfig([]byte(`
targets:
  - name: crm
    users:
      scope:
        filters:
          - clauses: [{attribute: department, operator: equal, value: Sales}]
      mapping:
        - {target: alias, expression: 'ToLower(user.name.givenname)'}
`))
	fmt.Println(cfg.Validate())
	// Output:
	// targets[0].users.scope.filters[0].clauses[0].operator: unknown operator "equal"; use one of equals, notEquals, startsWith, endsWith, contains, in, notIn, regexMatch, notRegexMatch, isNull, isNotNull, isTrue, isFalse, greaterThan, greaterThanOrEquals, lessThan, lessThanOrEquals
	// targets[0].users.mapping[0].expression: 1:18: user.name has no attribute "givenname"; did you mean "givenName"?
	//  | ToLower(user.name.givenname)
	//  | .................^
}

// TestDocExampleCompiles keeps the configuration in the package
// documentation valid.
func TestDocExampleCompiles(t *testing.T) {
	src, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	var yml []string
	in := false
	for _, line := range strings.Split(string(src), "\n") {
		switch {
		case line == "//\ttargets:":
			in = true
		case in && !strings.HasPrefix(line, "//\t"):
			in = false
		}
		if in {
			yml = append(yml, strings.TrimPrefix(line, "//\t"))
		}
	}
	if len(yml) < 10 {
		t.Fatal("no configuration example found in doc.go")
	}
	cfg, err := policy.ParseConfig([]byte(strings.Join(yml, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}
