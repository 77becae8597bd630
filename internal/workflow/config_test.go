package workflow

import (
	"errors"
	"github.com/scimgate/scimgate/targets"
	"slices"
	"strings"
	"testing"
)

// TestCompileNeeds: the tasks that need an environment (email, Entra, a
// target) are configuration errors, named by their field path, without
// it, and compile with it.
func TestCompileNeeds(t *testing.T) {
	wf := func(tasks ...TaskConfig) []Config {
		return []Config{{Name: "w", Category: "custom", Trigger: TriggerConfig{OnDemand: true}, Tasks: tasks}}
	}
	email := TaskConfig{Task: "sendEmail", To: "user", Template: "welcome"}
	tap := TaskConfig{Task: "entraTemporaryAccessPass"}
	disable := TaskConfig{Task: "targetDisable", Target: "crm"}
	for _, tc := range []struct {
		name string
		cfgs []Config
		o    CompileOptions
		errs []string
	}{
		{name: "email with a sender", cfgs: wf(email), o: CompileOptions{Email: true}},
		{name: "email without a sender", cfgs: wf(email),
			errs: []string{"workflows[0].tasks[0].task: sendEmail sends email: it needs the email settings of the notifications section of the configuration"}},
		{name: "a pass without a sender", cfgs: wf(disable, tap), o: CompileOptions{Entra: true, Targets: []string{"crm"}},
			errs: []string{"workflows[0].tasks[1].task: entraTemporaryAccessPass sends email: it needs the email settings of the notifications section of the configuration"}},
		{name: "a pass without entra nor sender", cfgs: wf(tap), errs: []string{
			"workflows[0].tasks[0].task: entraTemporaryAccessPass needs the entra section of the configuration",
			"workflows[0].tasks[0].task: entraTemporaryAccessPass sends email: it needs the email settings of the notifications section of the configuration"}},
		{name: "everything there", cfgs: wf(email, tap, disable), o: CompileOptions{Entra: true, Email: true, Targets: []string{"CRM"}}},
		{name: "no such target", cfgs: wf(disable), o: CompileOptions{Targets: []string{"hr"}},
			errs: []string{`workflows[0].tasks[0].target: "crm": no such target`}},
		{name: "target groups", o: CompileOptions{Targets: []string{"crm"}}, cfgs: wf(
			TaskConfig{Task: "targetAddToGroups", Target: "crm", Groups: []string{"Sales", "5a1e"}},
			TaskConfig{Task: "targetRemoveFromGroups", Target: "crm", Groups: []string{"Sales"}},
			TaskConfig{Task: "targetRemoveFromAllGroups", Target: "crm"})},
		{name: "target groups missing", o: CompileOptions{Targets: []string{"crm"}}, cfgs: wf(
			TaskConfig{Task: "targetAddToGroups", Target: "crm"},
			TaskConfig{Task: "targetRemoveFromGroups", Target: "crm", Groups: []string{" "}},
			TaskConfig{Task: "targetRemoveFromAllGroups", Target: "crm", Groups: []string{"Sales"}},
			TaskConfig{Task: "targetAddToGroups", Groups: []string{"Sales"}}),
			errs: []string{
				"workflows[0].tasks[0].groups: list at least one SCIM group (its id or displayName)",
				"workflows[0].tasks[1].groups[0]: empty",
				"workflows[0].tasks[2].groups: targetRemoveFromAllGroups takes no groups",
				"workflows[0].tasks[3].target: required"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ws, err := Compile(tc.cfgs, tc.o)
			var got []string
			for _, e := range joined(err) {
				if e == nil {
					continue
				}
				if _, ok := errors.AsType[*targets.ConfigError](e); !ok {
					t.Errorf("%v is not a *targets.ConfigError", e)
				}
				got = append(got, e.Error())
			}
			if !slices.Equal(got, tc.errs) {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.errs, "\n"))
			}
			if err == nil && len(ws) != len(tc.cfgs) {
				t.Errorf("compiled %d workflows, want %d", len(ws), len(tc.cfgs))
			}
		})
	}
}
