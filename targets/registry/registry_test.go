package registry_test

import (
	"context"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/memory"
	"github.com/scimgate/scimgate/targets/registry"
)

func TestBuild(t *testing.T) {
	tests := []struct {
		name     string
		doc      string
		wantErr  string
		wantCaps targets.Capabilities
	}{
		{"memory with defaults", "name: m\ntype: memory\n", "", targets.Capabilities{Groups: true, Disable: true, Lookup: true}},
		{"memory without groups", "name: m\ntype: memory\nconfig:\n  capabilities: {disable: true}\n", "", targets.Capabilities{Disable: true}},
		{"unknown type", "name: m\ntype: nope\n", `target "m": type: unknown type "nope" (known: entra, grpc, ldap, memory, scim, sql)`, targets.Capabilities{}},
		{"unknown field", "name: m\ntype: memory\nconfig:\n  uniq: {}\n", `target "m": config: line 4: unknown field "uniq" (in memory.Config)`, targets.Capabilities{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tc targets.TargetConfig
			if err := yaml.Unmarshal([]byte(tt.doc), &tc); err != nil {
				t.Fatal(err)
			}
			reg := registry.New(registry.Services{})
			if err := reg.Validate(tc); (err == nil) != (tt.wantErr == "") {
				t.Errorf("Validate: %v", err)
			}
			c, err := reg.Build(context.Background(), tc, targets.Env{}, targets.Retry{})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Build: %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close(context.Background())
			if _, ok := c.(*memory.Connector); !ok {
				t.Errorf("Build returned %T", c)
			}
			if got := c.Capabilities(); got != tt.wantCaps {
				t.Errorf("Capabilities() = %+v, want %+v", got, tt.wantCaps)
			}
		})
	}
}

// TestNewIsFresh: every New is a registry of its own: a type added to
// one is not in another.
func TestNewIsFresh(t *testing.T) {
	a, b := registry.New(registry.Services{}), registry.New(registry.Services{})
	a["test"] = func() targets.Config { return new(memory.Config) }
	if _, ok := b["test"]; ok {
		t.Error("a type added to one registry is in another")
	}
	if len(b) != 6 {
		t.Errorf("New has %d types, want the 6 built-in ones", len(b))
	}
}
