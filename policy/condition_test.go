package policy

import (
	"errors"
	"strings"
	"testing"
)

// TestUserCondition: a workflow scope reads the user as a target's scope
// expression does, and a bad expression is a field error at its field.
func TestUserCondition(t *testing.T) {
	user := map[string]any{"userName": "alice@contoso.com", "active": true,
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": map[string]any{"department": "Sales"}}
	for _, tc := range []struct {
		name, expr string
		groups     []GroupRef
		want       bool
	}{
		{"enterprise attribute", `user.enterprise.department == "Sales"`, nil, true},
		{"other department", `user.enterprise.department == "Marketing"`, nil, false},
		{"groups", `user.groups.exists(g, g.display == "Staff")`, []GroupRef{{ID: "g1", DisplayName: "Staff"}}, true},
		{"absent attribute", `has(user.title)`, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := CompileUserCondition(tc.expr, "workflows[0].scope")
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.Match(user, tc.groups)
			if err != nil || got != tc.want {
				t.Fatalf("Match = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
	_, err := CompileUserCondition(`user.enterprise.departmnt == 1 +`, "workflows[2].scope")
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Path != "workflows[2].scope" || !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("bad expression: %v", err)
	}
	if _, err := CompileUserCondition(`"x"`, "f"); err == nil || !strings.Contains(err.Error(), "f") {
		t.Fatalf("non-bool expression: %v", err)
	}
}
