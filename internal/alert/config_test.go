package alert

import (
	"errors"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/scimgate/scimgate/targets"
)

// TestValidate: every problem of the section is reported, each a
// *targets.ConfigError with its path relative to the section (golden); a valid
// section passes.
func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		golden     string // "" : valid
	}{{
		name: "valid",
		yaml: `
interval: 2m
rules:
  - kind: deletionGuard
    email: [secops@example.com]
  - {name: crm-down, kind: targetDown, for: 1h, webhooks: [teams-ops]}
  - {kind: deadLetters, threshold: 10, webhooks: [teams-ops]}
  - {kind: privilegedGroup, groups: [Domain Admins, 7f1c], entraGroups: [0b7c4a8e-2f3d-4e5a-9b6c-7d8e9f0a1b2c], email: [a@example.com]}
  - {kind: workflowTaskFailed, workflows: [leaver], email: [a@example.com]}
  - {kind: reconcileDrift, threshold: 5, email: [a@example.com]}
`,
	}, {
		name:   "every problem",
		golden: "validate",
		yaml: `
interval: -1m
rules:
  - kind: deletionGuard
  - {kind: targetDown, email: [not an address], threshold: 3}
  - {kind: deadLetters, threshold: 0, webhooks: [""]}
  - {name: targetDown, kind: privilegedGroup, entraGroups: [Admins], email: ["Ops <ops@example.com>"], for: 1h}
  - {kind: privilegedGroup, groups: [" "], email: [a@example.com], workflows: [leaver]}
  - {name: "-bad", kind: reconcileDrift, email: [a@example.com]}
  - {kind: bogus, email: [a@example.com]}
`,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			var c Config
			if err := yaml.Unmarshal([]byte(tc.yaml), &c); err != nil {
				t.Fatal(err)
			}
			err := c.Validate()
			if tc.golden == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if c.Interval != 2*time.Minute || c.Rules[1].For != time.Hour {
					t.Fatalf("decoded %+v", c)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate accepted an invalid section")
			}
			var lines []string
			for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
				var fe *targets.ConfigError
				if !errors.As(e, &fe) {
					t.Errorf("not a *targets.ConfigError: %v", e)
				}
				lines = append(lines, e.Error())
			}
			golden(t, tc.golden, strings.Join(lines, "\n")+"\n")
		})
	}
}

// TestNewRefusesInvalid: New validates its configuration and needs the
// sources its rules read.
func TestNewRefusesInvalid(t *testing.T) {
	w := newWorld(t, Config{})
	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{name: "invalid config", opts: Options{Config: Config{Rules: []Rule{{Kind: "bogus"}}}, Store: w.st, Sender: w.send},
			want: "rules[0].kind"},
		{name: "no engine", opts: Options{Config: Config{Rules: []Rule{withChannels(Rule{Kind: KindDeadLetters, Threshold: 1})}},
			Store: w.st, Sender: w.send}, want: "needs the engine"},
		{name: "no entra", opts: Options{Config: Config{Rules: []Rule{withChannels(Rule{Kind: KindPrivilegedGroup,
			EntraGroups: []string{entraAdmins}})}}, Store: w.st, Sender: w.send}, want: "needs the Entra client"},
		{name: "no sender", opts: Options{Store: w.st}, want: "a store and a sender"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v; want an error with %q", err, tc.want)
			}
		})
	}
}
