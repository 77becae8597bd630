package entra

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/scimgate/scimgate/targets"
)

// Credential kinds: how the client authenticates to Entra (azidentity).
const (
	// CredentialClientSecret is an app registration's client secret
	// (client_secret_env or client_secret_file).
	CredentialClientSecret = "client_secret"
	// CredentialClientCertificate is an app registration's certificate
	// (certificate_file: PEM with the certificate and its unencrypted
	// key, or PKCS#12 with certificate_password_env/_file).
	CredentialClientCertificate = "client_certificate"
	// CredentialManagedIdentity is the managed identity of the Azure
	// resource the gateway runs on (system-assigned, or user-assigned
	// with managed_identity_client_id).
	CredentialManagedIdentity = "managed_identity"
	// CredentialWorkloadIdentity is workload identity federation: a token
	// file (Kubernetes service account token, a CI's OIDC token) that an
	// app registration's federated credential trusts.
	CredentialWorkloadIdentity = "workload_identity"
	// CredentialAzureCLI is the account a developer signed in with `az
	// login` (delegated: the user's own permissions apply).
	CredentialAzureCLI = "azure_cli"
)

var credentials = []string{CredentialClientSecret, CredentialClientCertificate, CredentialManagedIdentity,
	CredentialWorkloadIdentity, CredentialAzureCLI}

// Public cloud endpoints, the defaults. National clouds: authority
// https://login.microsoftonline.us/ with https://graph.microsoft.us/v1.0
// (US Government L4) or https://dod-graph.microsoft.us/v1.0 (L5), and
// https://login.chinacloudapi.cn/ with
// https://microsoftgraph.chinacloudapi.cn/v1.0 (operated by 21Vianet).
const (
	DefaultAuthorityHost = "https://login.microsoftonline.com/"
	DefaultGraphURL      = "https://graph.microsoft.com/v1.0"
)

// Defaults of the durations.
const (
	DefaultTimeout     = 60 * time.Second
	DefaultRetryBudget = 30 * time.Second
)

// Config configures a Client. Validate checks it without reading anything;
// New reads the secrets it names.
type Config struct {
	// TenantID is the directory (tenant) id, or a verified domain of the
	// tenant. Required except for managed_identity and azure_cli.
	TenantID string `yaml:"tenant_id"`
	// ClientID is the application (client) id of the app registration.
	// Required for client_secret, client_certificate and
	// workload_identity.
	ClientID string `yaml:"client_id"`
	// Credential is one of client_secret, client_certificate,
	// managed_identity, workload_identity, azure_cli.
	Credential string `yaml:"credential"`

	// ClientSecretEnv or ClientSecretFile holds the client secret
	// (client_secret; exactly one of them).
	ClientSecretEnv  string `yaml:"client_secret_env"`
	ClientSecretFile string `yaml:"client_secret_file"`
	// CertificateFile holds the certificate and its private key
	// (client_certificate): PEM, or PKCS#12 (.pfx) protected by the
	// password in CertificatePasswordEnv or CertificatePasswordFile.
	CertificateFile         string `yaml:"certificate_file"`
	CertificatePasswordEnv  string `yaml:"certificate_password_env"`
	CertificatePasswordFile string `yaml:"certificate_password_file"`
	// SendCertificateChain sends the certificate chain (x5c) for subject
	// name/issuer authentication.
	SendCertificateChain bool `yaml:"send_certificate_chain"`
	// ManagedIdentityClientID selects a user-assigned managed identity;
	// empty: the system-assigned one.
	ManagedIdentityClientID string `yaml:"managed_identity_client_id"`
	// TokenFile is the federated token's file (workload_identity), read
	// at every token request: AKS mounts it at
	// /var/run/secrets/azure/tokens/azure-identity-token.
	TokenFile string `yaml:"token_file"`

	// AuthorityHost is the Microsoft identity platform's host (default
	// https://login.microsoftonline.com/).
	AuthorityHost string `yaml:"authority_host"`
	// GraphURL is Microsoft Graph's base URL with its version (default
	// https://graph.microsoft.com/v1.0). Tokens are requested for its
	// origin (https://graph.microsoft.com/.default).
	GraphURL string `yaml:"graph_url"`

	// Timeout bounds each action, its retries included (default 60s).
	Timeout time.Duration `yaml:"timeout"`
	// RetryBudget bounds the time one request waits for Graph's
	// Retry-After (429, 503, 504) before it fails as throttled (default
	// 30s).
	RetryBudget time.Duration `yaml:"retry_budget"`

	// Features are the actions the client may take beyond lookups; Check
	// names the permissions they need.
	Features Features `yaml:"features"`
}

// Features enables the actions that change Entra. Lookups of users and
// groups are always enabled.
type Features struct {
	// Membership adds users to groups and removes members.
	Membership bool `yaml:"membership"`
	// EnableDisable enables and disables accounts (accountEnabled).
	EnableDisable bool `yaml:"enable_disable"`
	// CreateUsers creates users (the entra target's create_users).
	CreateUsers bool `yaml:"create_users"`
	// UpdateUsers writes users' attributes (the entra target's
	// write_back).
	UpdateUsers bool `yaml:"update_users"`
	// DeleteUsers deletes users (to deleted items, restorable 30 days).
	DeleteUsers bool `yaml:"delete_users"`
	// RevokeSessions revokes users' sign-in sessions.
	RevokeSessions bool `yaml:"revoke_sessions"`
	// SignInActivity reads users' signInActivity (Entra ID P1/P2).
	SignInActivity bool `yaml:"sign_in_activity"`
	// TemporaryAccessPass creates users' Temporary Access Passes (the
	// workflows' entraTemporaryAccessPass task).
	TemporaryAccessPass bool `yaml:"temporary_access_pass"`
}

// fieldErr is an invalid field of a Config, named by its YAML key: a
// *targets.ConfigError, the one field-error type of configurations that
// their users place under their own path.
func fieldErr(field, format string, args ...any) error {
	return targets.FieldError(field, format, args...)
}

// tenantPattern is a tenant id or domain, as azidentity accepts them.
var tenantPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$`)

// Validate reports every invalid field, each a *targets.ConfigError, joined. It
// reads no file or environment variable.
func (c Config) Validate() error {
	var errs []error
	add := func(field, format string, args ...any) { errs = append(errs, fieldErr(field, format, args...)) }
	needTenant, needClient := true, true
	switch c.Credential {
	case CredentialClientSecret:
		switch {
		case c.ClientSecretEnv == "" && c.ClientSecretFile == "":
			add("client_secret_env", "required with credential %s (or client_secret_file)", c.Credential)
		case c.ClientSecretEnv != "" && c.ClientSecretFile != "":
			add("client_secret_file", "give only one of client_secret_env and client_secret_file")
		}
	case CredentialClientCertificate:
		if c.CertificateFile == "" {
			add("certificate_file", "required with credential %s", c.Credential)
		}
		if c.CertificatePasswordEnv != "" && c.CertificatePasswordFile != "" {
			add("certificate_password_file", "give only one of certificate_password_env and certificate_password_file")
		}
	case CredentialWorkloadIdentity:
		if c.TokenFile == "" {
			add("token_file", "required with credential %s", c.Credential)
		}
	case CredentialManagedIdentity:
		needTenant, needClient = false, false
	case CredentialAzureCLI:
		needTenant, needClient = false, false
	case "":
		add("credential", "required: one of %s", strings.Join(credentials, ", "))
		needTenant, needClient = false, false
	default:
		add("credential", "unknown %q: one of %s", c.Credential, strings.Join(credentials, ", "))
		needTenant, needClient = false, false
	}
	set := map[string]string{"client_secret_env": c.ClientSecretEnv, "client_secret_file": c.ClientSecretFile,
		"certificate_file": c.CertificateFile, "certificate_password_env": c.CertificatePasswordEnv,
		"certificate_password_file": c.CertificatePasswordFile, "token_file": c.TokenFile,
		"managed_identity_client_id": c.ManagedIdentityClientID}
	uses := map[string][]string{
		CredentialClientSecret:      {"client_secret_env", "client_secret_file"},
		CredentialClientCertificate: {"certificate_file", "certificate_password_env", "certificate_password_file"},
		CredentialWorkloadIdentity:  {"token_file"},
		CredentialManagedIdentity:   {"managed_identity_client_id"},
	}
	if _, known := uses[c.Credential]; known || c.Credential == CredentialAzureCLI {
		for _, f := range []string{"client_secret_env", "client_secret_file", "certificate_file", "certificate_password_env",
			"certificate_password_file", "token_file", "managed_identity_client_id"} {
			if set[f] != "" && !slices.Contains(uses[c.Credential], f) {
				add(f, "not used with credential %s", c.Credential)
			}
		}
	}
	if c.SendCertificateChain && c.Credential != CredentialClientCertificate && c.Credential != "" {
		add("send_certificate_chain", "only used with credential %s", CredentialClientCertificate)
	}
	switch {
	case c.TenantID == "" && needTenant:
		add("tenant_id", "required with credential %s (the directory id, or a domain of the tenant)", c.Credential)
	case c.TenantID != "" && !tenantPattern.MatchString(c.TenantID):
		add("tenant_id", "%q is not a tenant id or domain (letters, digits, '.' and '-')", c.TenantID)
	}
	if c.ClientID == "" && needClient {
		add("client_id", "required with credential %s (the app registration's application id)", c.Credential)
	}
	if c.ClientID != "" && (c.Credential == CredentialManagedIdentity || c.Credential == CredentialAzureCLI) {
		add("client_id", "not used with credential %s (use managed_identity_client_id for a user-assigned identity)", c.Credential)
	}
	if c.ManagedIdentityClientID != "" && !tenantPattern.MatchString(c.ManagedIdentityClientID) {
		add("managed_identity_client_id", "%q is not a client id", c.ManagedIdentityClientID)
	}
	if c.AuthorityHost != "" {
		if err := checkURL(c.AuthorityHost); err != nil {
			errs = append(errs, fieldErr("authority_host", "%v", err))
		}
	}
	if c.GraphURL != "" {
		if err := checkURL(c.GraphURL); err != nil {
			errs = append(errs, fieldErr("graph_url", "%v", err))
		} else if u, _ := url.Parse(c.GraphURL); strings.Trim(u.Path, "/") == "" {
			add("graph_url", "%q has no version path (such as /v1.0)", c.GraphURL)
		}
	}
	if c.Timeout < 0 {
		add("timeout", "must not be negative")
	}
	if c.RetryBudget < 0 {
		add("retry_budget", "must not be negative")
	}
	return errors.Join(errs...)
}

// checkURL accepts an absolute https URL without query, fragment or
// credentials.
func checkURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return fmt.Errorf("%q is not a URL", s)
	case u.Scheme != "https" || u.Host == "":
		return fmt.Errorf("%q must be an https:// URL", s)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("%q must not have credentials, a query or a fragment", s)
	}
	return nil
}

// withDefaults returns c with its defaults filled in.
func (c Config) withDefaults() Config {
	if c.AuthorityHost == "" {
		c.AuthorityHost = DefaultAuthorityHost
	}
	if !strings.HasSuffix(c.AuthorityHost, "/") {
		c.AuthorityHost += "/"
	}
	if c.GraphURL == "" {
		c.GraphURL = DefaultGraphURL
	}
	c.GraphURL = strings.TrimSuffix(c.GraphURL, "/")
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.RetryBudget == 0 {
		c.RetryBudget = DefaultRetryBudget
	}
	return c
}

// LogValue logs the configuration without secrets: only where they come
// from (the names of variables and files), never their values. Config
// holds no secret values itself; this keeps it that way in logs.
func (c Config) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("credential", c.Credential), slog.String("tenant_id", c.TenantID),
		slog.String("client_id", c.ClientID)}
	for _, kv := range [][2]string{{"client_secret_env", c.ClientSecretEnv}, {"client_secret_file", c.ClientSecretFile},
		{"certificate_file", c.CertificateFile}, {"certificate_password_env", c.CertificatePasswordEnv},
		{"certificate_password_file", c.CertificatePasswordFile}, {"token_file", c.TokenFile},
		{"managed_identity_client_id", c.ManagedIdentityClientID}, {"authority_host", c.AuthorityHost}, {"graph_url", c.GraphURL}} {
		if kv[1] != "" {
			attrs = append(attrs, slog.String(kv[0], kv[1]))
		}
	}
	return slog.GroupValue(attrs...)
}

// secret is a secret value: it prints and logs as [REDACTED].
type secret string

func (secret) String() string               { return "[REDACTED]" }
func (secret) GoString() string             { return "[REDACTED]" }
func (secret) LogValue() slog.Value         { return slog.StringValue("[REDACTED]") }
func (secret) MarshalText() ([]byte, error) { return []byte("[REDACTED]"), nil }

// readSecret reads a secret from an environment variable or a file (its
// content without the final line break), as targets.ReadSecret does for
// every connector. Errors name the field and never hold the value.
func readSecret(field, env, file string) (secret, error) {
	v, err := targets.ReadSecret(field, "", env, file)
	return secret(v), err
}
