package entra

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/scimgate/scimgate/targets"
)

func TestValidate(t *testing.T) {
	const tenant, app = "7d3c2f1e-5b4a-4c3d-9e8f-a1b2c3d4e5f6", "11111111-2222-4333-8444-555555555555"
	for _, tc := range []struct {
		name   string
		cfg    Config
		fields []string // every field reported, in order
	}{
		{name: "client secret from env", cfg: Config{Credential: "client_secret", TenantID: tenant, ClientID: app, ClientSecretEnv: "X"}},
		{name: "certificate", cfg: Config{Credential: "client_certificate", TenantID: "contoso.onmicrosoft.com", ClientID: app,
			CertificateFile: "c.pem", CertificatePasswordFile: "pw", SendCertificateChain: true}},
		{name: "workload identity", cfg: Config{Credential: "workload_identity", TenantID: tenant, ClientID: app, TokenFile: "/var/run/t"}},
		{name: "system-assigned managed identity", cfg: Config{Credential: "managed_identity"}},
		{name: "user-assigned managed identity", cfg: Config{Credential: "managed_identity", ManagedIdentityClientID: app}},
		{name: "azure cli", cfg: Config{Credential: "azure_cli"}},
		{name: "national cloud", cfg: Config{Credential: "azure_cli", AuthorityHost: "https://login.microsoftonline.us/",
			GraphURL: "https://graph.microsoft.us/v1.0"}},
		{name: "empty", cfg: Config{}, fields: []string{"credential"}},
		{name: "unknown credential", cfg: Config{Credential: "password", TenantID: tenant}, fields: []string{"credential"}},
		{name: "client secret: everything missing", cfg: Config{Credential: "client_secret"},
			fields: []string{"client_secret_env", "tenant_id", "client_id"}},
		{name: "client secret: both sources and a stray certificate", cfg: Config{Credential: "client_secret", TenantID: tenant, ClientID: app,
			ClientSecretEnv: "X", ClientSecretFile: "f", CertificateFile: "c.pem", SendCertificateChain: true},
			fields: []string{"client_secret_file", "certificate_file", "send_certificate_chain"}},
		{name: "certificate: two password sources, no file", cfg: Config{Credential: "client_certificate", TenantID: tenant, ClientID: app,
			CertificatePasswordEnv: "P", CertificatePasswordFile: "p"}, fields: []string{"certificate_file", "certificate_password_file"}},
		{name: "workload identity without token file", cfg: Config{Credential: "workload_identity", TenantID: tenant, ClientID: app},
			fields: []string{"token_file"}},
		{name: "managed identity with client_id", cfg: Config{Credential: "managed_identity", ClientID: app, ClientSecretEnv: "X"},
			fields: []string{"client_secret_env", "client_id"}},
		{name: "bad tenant and URLs", cfg: Config{Credential: "azure_cli", TenantID: "contoso/../x", AuthorityHost: "http://login.example/",
			GraphURL: "https://graph.example/?x=1", Timeout: -1, RetryBudget: -1},
			fields: []string{"tenant_id", "authority_host", "graph_url", "timeout", "retry_budget"}},
		{name: "graph URL without version", cfg: Config{Credential: "azure_cli", GraphURL: "https://graph.microsoft.com"}, fields: []string{"graph_url"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			var fields []string
			for _, e := range unjoin(err) {
				var fe *targets.ConfigError
				if !errors.As(e, &fe) {
					t.Fatalf("%v is not a *targets.ConfigError", e)
				}
				if !strings.HasPrefix(e.Error(), fe.Field+": ") {
					t.Errorf("%q does not start with its field", e)
				}
				fields = append(fields, fe.Field)
			}
			if !slices.Equal(fields, tc.fields) {
				t.Errorf("fields %q, want %q (%v)", fields, tc.fields, err)
			}
		})
	}
}

func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// TestSecrets: secrets come from env or file, errors name the field, and
// neither errors, logs nor formatting show a value.
func TestSecrets(t *testing.T) {
	const value = "top-secret-value"
	dir := t.TempDir()
	file := filepath.Join(dir, "secret")
	if err := os.WriteFile(file, []byte(value+"\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ENTRA_TEST_SECRET", value)
	t.Setenv("ENTRA_TEST_EMPTY", "")
	for _, tc := range []struct {
		name, env, file string
		field           string // of the error; "" for none
	}{
		{name: "env", env: "ENTRA_TEST_SECRET"},
		{name: "file without its line break", file: file},
		{name: "unset env", env: "ENTRA_TEST_UNSET", field: "client_secret_env"},
		{name: "empty env", env: "ENTRA_TEST_EMPTY", field: "client_secret_env"},
		{name: "missing file", file: filepath.Join(dir, "none"), field: "client_secret_file"},
		{name: "empty file", file: empty, field: "client_secret_file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := readSecret("client_secret", tc.env, tc.file)
			if tc.field != "" {
				var fe *targets.ConfigError
				if !errors.As(err, &fe) || fe.Field != tc.field {
					t.Fatalf("error %v, want one of field %s", err, tc.field)
				}
				return
			}
			if err != nil || string(s) != value {
				t.Fatalf("secret %q, %v", string(s), err)
			}
			var buf bytes.Buffer
			slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "secret", s, "config", Config{Credential: "client_secret", ClientSecretEnv: tc.env})
			out := buf.String() + fmt.Sprintf("%v %+v %#v %s", s, s, s, s)
			if strings.Contains(out, value) {
				t.Errorf("the secret shows: %s", out)
			}
			if !strings.Contains(buf.String(), "[REDACTED]") {
				t.Errorf("log %s: want [REDACTED]", buf.String())
			}
		})
	}
}

func TestPermissions(t *testing.T) {
	names := func(f Features) []string {
		var n []string
		for _, p := range f.Permissions() {
			n = append(n, p.Name)
		}
		return n
	}
	if got, want := names(Features{}), []string{PermUserRead, PermGroupRead}; !slices.Equal(got, want) {
		t.Errorf("lookups need %q, want %q", got, want)
	}
	if got, want := names(allFeatures), []string{PermUserRead, PermGroupRead, PermGroupMemberWrite, PermUserEnableDisable,
		PermUserWrite, PermRevokeSessions, PermAuditLogRead}; !slices.Equal(got, want) {
		t.Errorf("all features need %q, want %q", got, want)
	}
}
