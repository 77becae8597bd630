package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/config"
	"github.com/scimgate/scimgate/internal/entra"
	"github.com/scimgate/scimgate/targets/registry"
)

// TestEntraSection: the entra section loads from YAML into an
// *entra.Config (nil without it), and Validate reports each of its
// problems with the path entra.<field>, together with those of the other
// sections.
func TestEntraSection(t *testing.T) {
	for _, tc := range []struct {
		name string
		yaml string
		want *entra.Config
		errs []string // the Validate errors, in order
	}{
		{name: "absent", yaml: "listen: 127.0.0.1:8080\n"},
		{name: "client secret with features", yaml: `entra:
  tenant_id: contoso.onmicrosoft.com
  client_id: 11111111-2222-4333-8444-555555555555
  credential: client_secret
  client_secret_file: /run/secrets/entra
  graph_url: https://graph.microsoft.us/v1.0
  timeout: 30s
  features: {membership: true, delete_users: true}
`, want: &entra.Config{TenantID: "contoso.onmicrosoft.com", ClientID: "11111111-2222-4333-8444-555555555555",
			Credential: entra.CredentialClientSecret, ClientSecretFile: "/run/secrets/entra", GraphURL: "https://graph.microsoft.us/v1.0",
			Timeout: 30 * time.Second, Features: entra.Features{Membership: true, DeleteUsers: true}}},
		{name: "every problem, with the others'", yaml: `listen: nowhere
entra:
  credential: client_secret
  client_secret_env: ENTRA_SECRET
  client_secret_file: /run/secrets/entra
  graph_url: http://graph.example
  timeout: -1s
`, want: &entra.Config{Credential: entra.CredentialClientSecret, ClientSecretEnv: "ENTRA_SECRET",
			ClientSecretFile: "/run/secrets/entra", GraphURL: "http://graph.example", Timeout: -time.Second},
			errs: []string{
				"listen: must be HOST:PORT with a numeric port 0-65535, e.g. 127.0.0.1:8080 (empty host: all interfaces)",
				"entra.client_secret_file: give only one of client_secret_env and client_secret_file",
				"entra.tenant_id: required with credential client_secret (the directory id, or a domain of the tenant)",
				"entra.client_id: required with credential client_secret (the app registration's application id)",
				`entra.graph_url: "http://graph.example" must be an https:// URL`,
				"entra.timeout: must not be negative",
			}},
		{name: "a secret in a SCIMGATE_ variable", yaml: `entra:
  tenant_id: contoso.onmicrosoft.com
  client_id: 11111111-2222-4333-8444-555555555555
  credential: client_secret
  client_secret_env: SCIMGATE_ENTRA_SECRET
`, want: &entra.Config{TenantID: "contoso.onmicrosoft.com", ClientID: "11111111-2222-4333-8444-555555555555",
			Credential: entra.CredentialClientSecret, ClientSecretEnv: "SCIMGATE_ENTRA_SECRET"},
			errs: []string{"entra.client_secret_env: SCIMGATE_ENTRA_SECRET: the SCIMGATE_* variables are the gateway's own settings; name another variable"}},
		{name: "empty section", yaml: "entra: {}\n", want: &entra.Config{},
			errs: []string{"entra.credential: required: one of client_secret, client_certificate, managed_identity, workload_identity, azure_cli"}},
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
			if !reflect.DeepEqual(c.Entra, tc.want) {
				t.Errorf("Entra = %+v, want %+v", c.Entra, tc.want)
			}
			var got []string
			if err := c.Validate(registry.New(registry.Services{})); err != nil {
				for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
					if fe, ok := errors.AsType[*config.FieldError](e); !ok || !errors.Is(e, config.ErrInvalid) {
						t.Errorf("%v is not a *config.FieldError", e)
					} else if !strings.HasPrefix(fe.Path, "entra.") && fe.Path != "listen" {
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

// TestEntraSectionNotFromEnv: the entra section is YAML-only; no
// SCIMGATE_ENTRA* variable exists (its secrets come from the variables
// it names).
func TestEntraSectionNotFromEnv(t *testing.T) {
	for _, name := range config.EnvNames() {
		if strings.HasPrefix(name, "SCIMGATE_ENTRA") {
			t.Errorf("environment variable %s", name)
		}
	}
	if _, err := config.Load("", []string{"SCIMGATE_ENTRA=x"}); err == nil || !strings.Contains(err.Error(), "SCIMGATE_ENTRA: unknown variable") {
		t.Errorf("Load with SCIMGATE_ENTRA: %v", err)
	}
}
