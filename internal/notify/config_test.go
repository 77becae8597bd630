package notify_test

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/notify"
	"github.com/scimgate/scimgate/targets"
)

// TestValidate: Validate reports every problem at once, each a
// *targets.ConfigError named by its path in the section.
func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  notify.Config
		want []string
	}{
		{name: "empty", cfg: notify.Config{}},
		{name: "valid", cfg: notify.Config{
			SMTP: &notify.SMTP{Host: "smtp.example.com", Username: "gw", PasswordEnv: "SMTP_PASSWORD", From: "scimgate <gw@example.com>", Timeout: time.Minute},
			Webhooks: []notify.Webhook{{Name: "ops", URL: "https://example.webhook.office.com/webhookb2/x", Format: "teams", SecretFile: "/run/secrets/hook"},
				{Name: "local", URL: "http://127.0.0.1:9000/hook"}}}},
		{name: "none on localhost", cfg: notify.Config{SMTP: &notify.SMTP{Host: "localhost", TLS: "none", From: "gw@example.com"}}},
		{name: "every problem", cfg: notify.Config{
			SMTP: &notify.SMTP{Host: "smtp example", Port: 70000, TLS: "ssl", PasswordEnv: "A", PasswordFile: "/b", From: "not an address", Timeout: -1},
			Webhooks: []notify.Webhook{
				{Name: "ops", URL: "http://hooks.example.com/secret-path?sig=abc", Format: "xml", SecretEnv: "S", SecretFile: "/s", Timeout: -1},
				{Name: "OPS", URL: "https://user:pw@hooks.example.com/x"},
				{Name: "", URL: ""},
				{Name: "bad name!", URL: "not a url"},
			}}, want: []string{
			`smtp.host: "smtp example" is not a host name or IP address`,
			"smtp.port: must be between 1 and 65535 (0: the default of the tls mode)",
			`smtp.tls: unknown mode "ssl" (want starttls, tls or none)`,
			"smtp.password_file: give only one of password_env and password_file",
			`smtp.from: "not an address" is not an email address`,
			"smtp.timeout: must not be negative",
			"webhooks[0].url: http://hooks.example.com: must be an https URL (http only for loopback hosts)",
			`webhooks[0].format: unknown format "xml" (want json, teams or slack)`,
			"webhooks[0].secret_file: give only one of secret_env and secret_file",
			"webhooks[0].timeout: must not be negative",
			"webhooks[1].name: duplicate of webhooks[0].name (names are case-insensitive)",
			"webhooks[1].url: https://hooks.example.com: must not have credentials or a fragment",
			"webhooks[2].name: required",
			"webhooks[2].url: required",
			`webhooks[3].name: "bad name!": must be 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit`,
			"webhooks[3].url: not an absolute URL",
		}},
		{name: "smtp dependencies", cfg: notify.Config{SMTP: &notify.SMTP{Host: "smtp.example.com", TLS: "none", Username: "gw"}}, want: []string{
			"smtp.tls: none is only allowed for a server on localhost (want starttls or tls)",
			"smtp.password_env: required with username (or password_file)",
			"smtp.from: required: the sender address",
		}},
		{name: "password without user, injection", cfg: notify.Config{SMTP: &notify.SMTP{Host: "smtp.example.com", PasswordEnv: "P",
			From: "gw@example.com\r\nBcc: eve@example.com"}}, want: []string{
			"smtp.username: required with a password",
			"smtp.from: an address must not contain line breaks",
		}},
		{name: "no host", cfg: notify.Config{SMTP: &notify.SMTP{From: "gw@example.com"}}, want: []string{"smtp.host: required"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			if err := tc.cfg.Validate(); err != nil {
				for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
					if _, ok := errors.AsType[*targets.ConfigError](e); !ok {
						t.Errorf("%v is not a *targets.ConfigError", e)
					}
					got = append(got, e.Error())
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Validate:\n got %q\nwant %q", got, tc.want)
			}
			for _, s := range got {
				if strings.Contains(s, "secret-path") || strings.Contains(s, "sig=") || strings.Contains(s, "pw@") {
					t.Errorf("a URL's credential is in %q", s)
				}
			}
		})
	}
}

// TestNewSecrets: New reads the secrets the configuration names and
// reports a missing one by its field, never with a value; the
// configuration logs without secrets or URL credentials.
func TestNewSecrets(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SMTP_PASSWORD", "")
	for _, tc := range []struct {
		name string
		cfg  notify.Config
		want string
	}{
		{"password variable unset", notify.Config{SMTP: &notify.SMTP{Host: "localhost", Username: "gw", PasswordEnv: "SMTP_PASSWORD", From: "gw@example.com"}},
			"smtp: password_env: environment variable SMTP_PASSWORD is not set or empty"},
		{"webhook secret file empty", notify.Config{Webhooks: []notify.Webhook{{Name: "a", URL: "https://example.com/x", SecretFile: empty}}},
			"webhooks[0]: secret_file: " + empty + " is empty"},
		{"invalid", notify.Config{Webhooks: []notify.Webhook{{Name: "a"}}}, "webhooks[0].url: required"},
		{"templates dir missing", notify.Config{TemplatesDir: filepath.Join(dir, "none")}, "templates " + filepath.Join(dir, "none")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := notify.New(tc.cfg, notify.Options{}); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New = %v; want an error with %q", err, tc.want)
			}
		})
	}

	const password, key = "smtp-pass-value", "hook-key-value"
	t.Setenv("SMTP_PASSWORD", password)
	t.Setenv("HOOK_KEY", key)
	cfg := notify.Config{
		SMTP:     &notify.SMTP{Host: "smtp.example.com", Username: "gw", PasswordEnv: "SMTP_PASSWORD", From: "gw@example.com"},
		Webhooks: []notify.Webhook{{Name: "slack", URL: "https://hooks.slack.com/services/T0/B0/secretToken", Format: "slack", SecretEnv: "HOOK_KEY"}},
	}
	if _, err := notify.New(cfg, notify.Options{}); err != nil {
		t.Fatalf("New: %v", err)
	}
	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("config", "notifications", cfg)
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("config", "notifications", cfg)
	for _, s := range []string{password, key, "secretToken", "/services"} {
		if strings.Contains(logs.String(), s) {
			t.Errorf("%q is logged:\n%s", s, logs.String())
		}
	}
	for _, s := range []string{"password_env=SMTP_PASSWORD", "url=https://hooks.slack.com", `"secret_env":"HOOK_KEY"`} {
		if !strings.Contains(logs.String(), s) {
			t.Errorf("%q is not logged:\n%s", s, logs.String())
		}
	}
}
