package config_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/config"
	"github.com/scimgate/scimgate/policy"
	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/memory"
	"github.com/scimgate/scimgate/targets/registry"
)

// TestValidateWithRegistry: the targets' types are checked against the
// registry Validate is handed, not a global one.
func TestValidateWithRegistry(t *testing.T) {
	c := config.Defaults()
	c.Targets = []config.Target{{Name: "app", Type: "custom"}}
	custom := registry.New(registry.Services{})
	custom["custom"] = func() targets.Config { return new(memory.Config) }
	tests := []struct {
		name    string
		reg     targets.Registry
		wantErr string
	}{
		{name: "a registry with the type", reg: custom},
		{name: "the built-in types", reg: registry.New(registry.Services{}), wantErr: `target "app": type: unknown type "custom" (known: entra, grpc, ldap, memory, scim, sql)`},
		{name: "no types", reg: targets.Registry{}, wantErr: `target "app": type: unknown type "custom" (known: )`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.Validate(tt.reg)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr) {
				t.Errorf("Validate: %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// TestTargetReconcileSettings: a target's orphans and reconcile settings
// reach its policy, where they are validated with messages naming the
// field.
func TestTargetReconcileSettings(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		orphans    policy.Orphans
		schedule   time.Duration
		err        string
	}{
		{name: "set", yaml: "orphans: delete\n    reconcile: {schedule: 24h}", orphans: policy.OrphansDelete, schedule: 24 * time.Hour},
		{name: "defaults", yaml: "", orphans: policy.OrphansReport},
		{name: "unknown orphans", yaml: "orphans: purge", err: `targets[0].orphans: unknown setting "purge"; use report, disable or delete`},
		{name: "schedule too short", yaml: "reconcile: {schedule: 1s}", err: "targets[0].reconcile.schedule: 1s is too short"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "scimgate.yaml")
			body := "targets:\n  - name: app\n    type: memory\n    users:\n      scope: {all: true}\n      mapping:\n        - {target: login, source: userName}\n    " + tc.yaml + "\n"
			if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := config.Load(file, nil)
			if err != nil {
				t.Fatal(err)
			}
			p, err := policy.Compile(c.Policy(registry.New(registry.Services{})))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tg := p.Targets()[0]
			if tg.Orphans() != tc.orphans || tg.ReconcileSchedule() != tc.schedule {
				t.Errorf("orphans %q, schedule %v; want %q, %v", tg.Orphans(), tg.ReconcileSchedule(), tc.orphans, tc.schedule)
			}
		})
	}
}

// TestDerivedMapping: an entra target's group rules become the users'
// mapping of memberOf, evaluated by the policy over the SCIM user; an
// invalid rule is reported at the target's config.groups.
func TestDerivedMapping(t *testing.T) {
	for _, tc := range []struct {
		name, when, err string
	}{
		{name: "valid", when: `user.enterprise.department == \"Sales\"`},
		{name: "invalid rule", when: `user.departmnt == \"Sales\"`, err: `targets[0].config.groups`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "scimgate.yaml")
			body := entraSection + "targets:\n  - name: entra\n    type: entra\n    config:\n      groups:\n        - {group: Sales, when: \"" + tc.when + "\"}\n" +
				"    users:\n      scope: {all: true}\n      matching: [userPrincipalName]\n      mapping:\n        - {target: userPrincipalName, source: userName}\n"
			if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := config.Load(file, nil)
			if err != nil {
				t.Fatal(err)
			}
			reg := registry.New(registry.Services{})
			if err := c.Validate(reg); err != nil {
				t.Fatal(err)
			}
			p, err := policy.Compile(c.Policy(reg))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, dept := range []string{"Sales", "Marketing"} {
				d := p.Targets()[0].EvaluateUser(map[string]any{"userName": "kim@contoso.example",
					"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": map[string]any{"department": dept}}, nil)
				if d.Err != nil {
					t.Fatal(d.Err)
				}
				got := fmt.Sprint(d.Attributes["memberOf"])
				if want := map[bool]string{true: "[Sales]", false: "<nil>"}[dept == "Sales"]; got != want {
					t.Errorf("department %s: memberOf %#v", dept, d.Attributes["memberOf"])
				}
			}
		})
	}
}

const entraSection = "entra:\n  tenant_id: contoso.onmicrosoft.com\n  client_id: 11111111-2222-4333-8444-555555555555\n" +
	"  credential: client_secret\n  client_secret_env: ENTRA_CLIENT_SECRET\n  features: {membership: true}\n"

// TestEntraTargetChecks: an entra target needs the entra section, and
// refuses orphans other than report (its listing is the whole tenant).
func TestEntraTargetChecks(t *testing.T) {
	target := "targets:\n  - name: entra\n    type: entra\n    users:\n      scope: {all: true}\n      matching: [userPrincipalName]\n" +
		"      mapping:\n        - {target: userPrincipalName, source: userName}\n"
	for _, tc := range []struct{ name, body, err string }{
		{"ok", entraSection + target, ""},
		{"no entra section", target, "targets[0].type: an entra target needs the entra section"},
		{"orphans delete", entraSection + target + "    orphans: delete\n", "targets[0].orphans: delete on an entra target"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "scimgate.yaml")
			if err := os.WriteFile(file, []byte(tc.body), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := config.Load(file, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = c.Validate(registry.New(registry.Services{}))
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Errorf("Validate: %v, want %q", err, tc.err)
			}
		})
	}
}

// TestAlertsSection: the alert rules' channels and sources must exist in
// the notifications and entra sections.
func TestAlertsSection(t *testing.T) {
	file := filepath.Join(t.TempDir(), "scimgate.yaml")
	body := "notifications:\n  webhooks:\n    - {name: ops, url: 'https://hooks.example.com/x'}\n" +
		"alerts:\n  rules:\n    - {kind: targetDown, for: 1h, email: [ops@example.com], webhooks: [ops, nope]}\n" +
		"    - {kind: privilegedGroup, entraGroups: [0b5f1c2e-6d3e-4a8f-9b1c-2d3e4f5a6b7c], webhooks: [ops]}\n" +
		"    - {kind: deadLetters, webhooks: [ops]}\n"
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(file, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = c.Validate(registry.New(registry.Services{}))
	for _, want := range []string{
		"alerts.rules[0].email: needs the smtp settings of the notifications section",
		`alerts.rules[0].webhooks[1]: "nope" is not a webhook of the notifications section`,
		"alerts.rules[1].entraGroups: needs the entra section",
		"alerts.rules[2].threshold",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v\nwant %q", err, want)
		}
	}
}
