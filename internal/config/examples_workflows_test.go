package config_test

import (
	"path/filepath"
	"testing"

	"github.com/scimgate/scimgate/internal/config"
	"github.com/scimgate/scimgate/internal/workflow"
	"github.com/scimgate/scimgate/targets/registry"
)

// TestExampleWorkflows: examples/workflows.yaml is a complete, valid
// configuration with the five built-in templates, and its workflows
// compile as the gateway compiles them.
func TestExampleWorkflows(t *testing.T) {
	c, err := config.Load(filepath.Join("..", "..", "examples", "workflows.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(registry.New(registry.Services{})); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	want := map[string]string{"pre-hire": "joiner", "first-day": "joiner", "mover-sales": "mover", "last-day": "leaver", "post-offboarding": "leaver"}
	got := map[string]string{}
	for _, w := range c.Workflows {
		got[w.Name] = w.Category
	}
	if len(got) != len(want) {
		t.Fatalf("workflows %v, want %v", got, want)
	}
	for name, cat := range want {
		if got[name] != cat {
			t.Errorf("workflow %s: category %q, want %q", name, got[name], cat)
		}
	}
	t.Setenv("ENTRA_CLIENT_SECRET", "unused")
	if _, err := workflow.Compile(c.Workflows, c.WorkflowOptions()); err != nil {
		t.Fatalf("Compile: %v", err)
	}
}
