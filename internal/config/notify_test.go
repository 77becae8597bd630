package config_test

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/config"
	"github.com/scimgate/scimgate/internal/notify"
	"github.com/scimgate/scimgate/targets/registry"
)

// TestNotificationsSection: the notifications section loads from YAML
// into a *notify.Config (nil without it), and Validate reports each of its
// problems with the path notifications.<field path>, together with those
// of the other sections.
func TestNotificationsSection(t *testing.T) {
	for _, tc := range []struct {
		name string
		yaml string
		want *notify.Config
		errs []string // the Validate errors, in order
	}{
		{name: "absent", yaml: "listen: 127.0.0.1:8080\n"},
		{name: "smtp and webhooks", yaml: `notifications:
  smtp:
    host: smtp.example.com
    port: 587
    tls: starttls
    username: scimgate
    password_file: /run/secrets/smtp
    from: scimgate <scimgate@example.com>
    timeout: 20s
  webhooks:
    - name: ops-teams
      url: https://example.webhook.office.com/webhookb2/x
      format: teams
    - name: audit
      url: https://hooks.example.com/scimgate
      secret_env: AUDIT_HOOK_SECRET
      timeout: 5s
  templates_dir: /etc/scimgate/templates
`, want: &notify.Config{
			SMTP: &notify.SMTP{Host: "smtp.example.com", Port: 587, TLS: "starttls", Username: "scimgate", PasswordFile: "/run/secrets/smtp",
				From: "scimgate <scimgate@example.com>", Timeout: 20 * time.Second},
			Webhooks: []notify.Webhook{{Name: "ops-teams", URL: "https://example.webhook.office.com/webhookb2/x", Format: "teams"},
				{Name: "audit", URL: "https://hooks.example.com/scimgate", SecretEnv: "AUDIT_HOOK_SECRET", Timeout: 5 * time.Second}},
			TemplatesDir: "/etc/scimgate/templates"}},
		{name: "every problem, with the others'", yaml: `listen: nowhere
notifications:
  smtp:
    host: smtp.example.com
    tls: none
    password_env: SCIMGATE_SMTP_PASSWORD
  webhooks:
    - name: a
      url: http://hooks.example.com/x
      format: html
      secret_env: SCIMGATE_HOOK
    - name: A
      url: https://hooks.example.com/y
`, want: &notify.Config{
			SMTP: &notify.SMTP{Host: "smtp.example.com", TLS: "none", PasswordEnv: "SCIMGATE_SMTP_PASSWORD"},
			Webhooks: []notify.Webhook{{Name: "a", URL: "http://hooks.example.com/x", Format: "html", SecretEnv: "SCIMGATE_HOOK"},
				{Name: "A", URL: "https://hooks.example.com/y"}}},
			errs: []string{
				"listen: must be HOST:PORT with a numeric port 0-65535, e.g. 127.0.0.1:8080 (empty host: all interfaces)",
				"notifications.smtp.password_env: SCIMGATE_SMTP_PASSWORD: the SCIMGATE_* variables are the gateway's own settings; name another variable",
				"notifications.webhooks[0].secret_env: SCIMGATE_HOOK: the SCIMGATE_* variables are the gateway's own settings; name another variable",
				"notifications.smtp.tls: none is only allowed for a server on localhost (want starttls or tls)",
				"notifications.smtp.username: required with a password",
				"notifications.smtp.from: required: the sender address",
				"notifications.webhooks[0].url: http://hooks.example.com: must be an https URL (http only for loopback hosts)",
				`notifications.webhooks[0].format: unknown format "html" (want json, teams or slack)`,
				"notifications.webhooks[1].name: duplicate of webhooks[0].name (names are case-insensitive)",
			}},
		{name: "empty section", yaml: "notifications: {}\n", want: &notify.Config{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "scimgate.yaml")
			if err := os.WriteFile(file, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := config.Load(file, nil)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !reflect.DeepEqual(c.Notifications, tc.want) {
				t.Errorf("Notifications = %+v, want %+v", c.Notifications, tc.want)
			}
			var got []string
			if err := c.Validate(registry.New(registry.Services{})); err != nil {
				for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
					if fe, ok := errors.AsType[*config.FieldError](e); !ok || !errors.Is(e, config.ErrInvalid) {
						t.Errorf("%v is not a *config.FieldError", e)
					} else if !strings.HasPrefix(fe.Path, "notifications.") && fe.Path != "listen" {
						t.Errorf("path %q", fe.Path)
					}
					got = append(got, e.Error())
				}
			}
			if !slices.Equal(got, tc.errs) {
				t.Errorf("Validate:\n got %q\nwant %q", got, tc.errs)
			}
		})
	}
}

// TestNotificationsLog: the configuration logs the notifications section
// without a webhook URL's path (its credential, for Teams and Slack).
func TestNotificationsLog(t *testing.T) {
	c := config.Defaults()
	c.Notifications = &notify.Config{Webhooks: []notify.Webhook{{Name: "slack", URL: "https://hooks.slack.com/services/T0/B0/secretToken", Format: "slack"}}}
	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("config", "config", c)
	if strings.Contains(logs.String(), "secretToken") || !strings.Contains(logs.String(), "config.notifications.webhooks.0.url=https://hooks.slack.com") {
		t.Errorf("log:\n%s", logs.String())
	}
}

// TestNotificationsNotFromEnv: the section is YAML-only.
func TestNotificationsNotFromEnv(t *testing.T) {
	for _, name := range config.EnvNames() {
		if strings.HasPrefix(name, "SCIMGATE_NOTIFICATIONS") {
			t.Errorf("environment variable %s", name)
		}
	}
}
