package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scimgate/scimgate/internal/config"
	"github.com/scimgate/scimgate/targets/registry"
)

// TestWorkflowsGolden: a configuration with several broken workflows
// loads, and Validate reports every problem of its workflows by field
// path (workflows[i].tasks[j].<field>), together with those of the other
// sections, as testdata/workflows_bad.golden holds (-update rewrites it).
func TestWorkflowsGolden(t *testing.T) {
	c, err := config.Load(filepath.Join("testdata", "workflows_bad.yaml"), nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if len(c.Workflows) != 4 {
		t.Fatalf("loaded %d workflows, want 4", len(c.Workflows))
	}
	err = c.Validate(registry.New(registry.Services{}))
	if !errors.Is(err, config.ErrInvalid) {
		t.Fatalf("Validate: %v, want config.ErrInvalid", err)
	}
	got := err.Error() + "\n"
	golden := filepath.Join("testdata", "workflows_bad.golden")
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
		t.Errorf("Validate reported (rerun with -update to accept):\n%s\nwant:\n%s", got, want)
	}
	// The webhook's secret is checked (only one of env and file), not
	// read: Validate does no I/O.
	if strings.Contains(got, "HOOK_SECRET is not set") {
		t.Error("Validate read the webhook's secret")
	}
}

// TestWorkflowsValid: valid workflows validate, with what they name (a
// target, the entra section) present.
func TestWorkflowsValid(t *testing.T) {
	file := filepath.Join(t.TempDir(), "scimgate.yaml")
	if err := os.WriteFile(file, []byte(`targets:
  - {name: crm, type: memory, users: {}}
notifications:
  smtp: {host: smtp.contoso.example, from: scimgate@contoso.example}
workflows:
  - name: leaver
    category: leaver
    trigger: {time: {attribute: employeeLeaveDateTime, offsetDays: 0, window: 48h}}
    tasks:
      - {task: targetDisable, target: crm}
      - {task: sendEmail, to: manager, template: leaver, continueOnError: true}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(file, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(registry.New(registry.Services{})); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if w := c.Workflows[0]; w.Trigger.Time == nil || w.Trigger.Time.Window.Hours() != 48 || !w.Tasks[1].ContinueOnError {
		t.Errorf("loaded %+v", w)
	}
}
