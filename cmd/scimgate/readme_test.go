package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// readmeSection returns the README's section under the heading title, up
// to the next "## " heading.
func readmeSection(t *testing.T, title string) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "\n## "+title+"\n")
	if i < 0 {
		t.Fatalf("README.md has no section %q", title)
	}
	s = s[i+1:]
	if j := strings.Index(s[3:], "\n## "); j >= 0 {
		s = s[:j+3]
	}
	return s
}

// codeBlocks returns the fenced code blocks of markdown text, with the
// language after the opening fence.
func codeBlocks(text string) (langs, bodies []string) {
	for _, m := range regexp.MustCompile("(?ms)^```(\\w*)\n(.*?)^```$").FindAllStringSubmatch(text, -1) {
		langs, bodies = append(langs, m[1]), append(bodies, m[2])
	}
	return langs, bodies
}

var (
	readmeCurl = regexp.MustCompile(`curl -s -X POST http://127\.0\.0\.1:8080/scim/v2(/\S+)`)
	readmeData = regexp.MustCompile(`(?s) -d '([^']*)'`)
	readmePlan = regexp.MustCompile(`(?m)^\./bin/scimgate (plan .*)$`)
)

// TestREADMEPlanExample runs the README's plan walk-through: its SCIM
// request into a gateway without targets, then its plan command, whose
// output must be the one the README shows. The README cannot drift from
// what the commands print.
func TestREADMEPlanExample(t *testing.T) {
	langs, bodies := codeBlocks(readmeSection(t, "Previewing targets: `scimgate plan`"))
	if len(bodies) < 2 || langs[0] != "sh" || langs[1] != "" {
		t.Fatalf("the plan section should show its commands (sh) and then their output; blocks %q", langs)
	}
	commands, want := bodies[0], bodies[1]
	curl, data, planCmd := readmeCurl.FindStringSubmatch(commands), readmeData.FindStringSubmatch(commands), readmePlan.FindStringSubmatch(commands)
	if curl == nil || data == nil || planCmd == nil {
		t.Fatalf("the plan walk-through lost its curl POST (%v), its -d payload (%v) or its ./bin/scimgate plan line (%v):\n%s",
			curl != nil, data != nil, planCmd != nil, commands)
	}

	dir := t.TempDir()
	p := startProc(t, dir)
	code, body, err := scimDo("POST", p.base+curl[1], json.RawMessage(data[1]))
	if err != nil || code != 200 {
		t.Fatalf("POST %s: %d %v: %s", curl[1], code, err, body)
	}
	var answer struct {
		Operations []struct {
			BulkID, Status string
			Response       any
		}
	}
	if err := json.Unmarshal(body, &answer); err != nil {
		t.Fatalf("bulk answer: %v: %s", err, body)
	}
	if len(answer.Operations) == 0 {
		t.Fatalf("bulk answer with no operations: %s", body)
	}
	for _, op := range answer.Operations {
		if op.Status != "201" {
			t.Errorf("bulk operation %s: status %s, want 201: %v", op.BulkID, op.Status, op.Response)
		}
	}
	stopProc(t, p)

	// The README's plan arguments, with the example path taken from the
	// repository root and the walk-through's data directory replaced.
	args := strings.Fields(planCmd[1])
	var sawConfig, sawDataDir bool
	for i := 1; i+1 < len(args); i++ {
		switch args[i] {
		case "--config":
			args[i+1], sawConfig = filepath.Join("../..", args[i+1]), true
		case "--data-dir":
			args[i+1], sawDataDir = dir, true
		}
	}
	if !sawConfig || !sawDataDir {
		t.Fatalf("the README's plan command %q should give --config and --data-dir", planCmd[1])
	}
	var stdout, stderr bytes.Buffer
	if code := run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("scimgate %s: exit %d: %s", strings.Join(args, " "), code, stderr.String())
	}
	if got := stdout.String(); got != want {
		t.Errorf("scimgate %s printed\n%s\nthe README shows\n%s", planCmd[1], got, want)
	}
}
