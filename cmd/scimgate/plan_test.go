package main

import (
	"go/parser"
	"go/token"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestPlanWithoutGateway: `scimgate plan` does not build on the gateway.
// plan.go, the subcommand's file, imports neither internal/gateway nor the
// SCIM HTTP server (scim/server), and no package it imports does, at any
// depth (go list -deps).
func TestPlanWithoutGateway(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "plan.go", nil, parser.ImportsOnly)
	if err != nil {
		t.Fatal(err)
	}
	var imports []string
	for _, im := range f.Imports {
		path, err := strconv.Unquote(im.Path.Value)
		if err != nil {
			t.Fatal(err)
		}
		imports = append(imports, path)
	}
	out, err := exec.Command("go", append([]string{"list", "-deps"}, imports...)...).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", strings.Join(imports, " "), err)
	}
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, "github.com/scimgate/scimgate/internal/plan") {
		t.Fatalf("plan.go does not build on internal/plan; its dependencies: %v", deps)
	}
	for _, bad := range []string{"github.com/scimgate/scimgate/internal/gateway", "github.com/scimgate/scimgate/scim/server"} {
		if slices.Contains(deps, bad) {
			t.Errorf("the plan command depends on %s", bad)
		}
	}
}
