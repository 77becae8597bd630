package policy

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/scimgate/scimgate/scim"
)

// TestInvalidConfigs checks every validation message: each
// testdata/invalid/*.yaml is a bad configuration and the .golden file next
// to it holds the full error text (go test -update rewrites them).
func TestInvalidConfigs(t *testing.T) {
	for _, file := range testFiles(t, "invalid") {
		name := strings.TrimSuffix(strings.TrimPrefix(file, "testdata/invalid/"), ".yaml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := ParseConfig(data)
			if err == nil {
				err = cfg.Validate(WithResourceTypes(testUserType(), scim.GroupType()))
				if err == nil {
					t.Fatal("the configuration is valid")
				}
				// Every problem is a FieldError.
				for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
					var fe *FieldError
					if !errors.As(e, &fe) {
						t.Errorf("%v is not a *FieldError", e)
					}
				}
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("the error does not wrap ErrInvalidConfig")
			}
			golden := strings.TrimSuffix(file, ".yaml") + ".golden"
			got := err.Error() + "\n"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("errors differ from %s (go test -update rewrites it):\n got:\n%s\nwant:\n%s", golden, got, want)
			}
		})
	}
}

// TestExpressionLength checks Entra's 10,000-character limit.
func TestExpressionLength(t *testing.T) {
	long := `"` + strings.Repeat("a", maxExpressionLength) + `"`
	cfg := Config{Targets: []TargetConfig{{Name: "t", Users: &ObjectConfig{
		Scope:   ScopeConfig{All: true},
		Mapping: []MappingConfig{{Target: "x", Expression: long}},
	}}}}
	err := cfg.Validate()
	const want = "targets[0].users.mapping[0].expression: the expression is 10002 characters long; the limit is 10000"
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %s", err, want)
	}
}
