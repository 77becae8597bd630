package scimtarget

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/scimgate/scimgate/targets"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string // field: message parts; none: valid
	}{
		{"bearer", "base_url: https://app.example.com/scim/v2\nbearer_token_env: T\n", nil},
		{"oauth2 and everything", `
base_url: http://127.0.0.1:8080/scim
oauth2: {token_url: https://login.example.com/token, client_id: c, client_secret_file: /s, scopes: [a], params: {audience: x}}
tls: {ca_file: /ca.pem, cert_file: /c.pem, key_file: /k.pem, server_name: app}
timeout: 5s
rate_limit: 2.5
page_size: 500
object_id_attribute: urn:example:params:scim:schemas:extension:Gw:2.0:User:objectId
users: {unique: [userName, 'emails[type eq "work"].value']}
groups: {}
quirks: {booleans_as_strings: true, patch_without_path: true, member_removal: value, patch_status: [204]}
`, nil},
		{"missing everything", "{}", []string{"base_url: required", "bearer_token_env: required: bearer_token_env, bearer_token_file or oauth2"}},
		{"every problem", `
base_url: ftp://x
bearer_token_env: T
bearer_token_file: /t
tls: {cert_file: /c.pem}
timeout: -1s
rate_limit: -1
rate_burst: 3
page_size: 100000
object_id_attribute: id
users: {unique: ['emails[value eq "x"]']}
groups: {unique: ["urn:ietf:params:scim:schemas:core:2.0:Group:displayName"]}
quirks: {member_removal: both, patch_status: [201]}
`, []string{`base_url: scheme "ftp": want https`, "bearer_token_env: give only one", "tls.cert_file: cert_file and key_file go together",
			"timeout: must not be negative", "rate_limit: must not be negative", "rate_burst: a positive number, with rate_limit",
			"page_size: must be between 1 and 10000", `object_id_attribute: "id" is managed`, "users.unique[0]: ",
			"groups.unique[0]: ", "write core attributes without the schema URN", `quirks.member_removal: "both"`, "quirks.patch_status: 201"}},
		{"http to a remote host", "base_url: http://app.example.com/scim\nbearer_token_env: T\n", []string{"base_url: http only to a loopback host"}},
		{"credentials in the URL", "base_url: https://u:p@app.example.com/scim\nbearer_token_env: T\n", []string{"base_url: no credentials in the URL"}},
		{"bearer and oauth2", "base_url: https://a/scim\nbearer_token_env: T\noauth2: {token_url: https://a/t, client_id: c, client_secret_env: S}\n", []string{"oauth2: give either"}},
		{"oauth2 incomplete", "base_url: https://a/scim\noauth2: {token_url: 'https://a/t?x=1', params: {grant_type: x}}\n",
			[]string{"oauth2.token_url: no query", "oauth2.client_id: required", "oauth2.client_secret_env: set exactly one", `oauth2.params: parameter "grant_type"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Config
			if err := yaml.Unmarshal([]byte(tt.doc), &c); err != nil {
				t.Fatal(err)
			}
			err := c.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate: no error, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate: %v\nwant it to contain %q", err, w)
				}
			}
			var ce *targets.ConfigError
			if !errors.As(err, &ce) {
				t.Errorf("Validate: %v is no *targets.ConfigError", err)
			}
		})
	}
}

// TestDefaults: Validate checks the configuration with its defaults and
// changes nothing; Open uses the defaults (withDefaults).
func TestDefaults(t *testing.T) {
	orig := Config{BaseURL: "https://a/scim", BearerTokenFile: "/t", RateLimit: 2.5, Groups: &KindConfig{}}
	c := orig
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	d := c.withDefaults()
	if !reflect.DeepEqual(c, orig) || !reflect.DeepEqual(*c.Groups, KindConfig{}) {
		t.Errorf("Validate or withDefaults changed the configuration: %+v", c)
	}
	c = *d
	if c.Timeout != defaultTimeout || c.PageSize != 100 || c.ObjectIDAttribute != "externalId" || c.RateBurst != 3 ||
		c.Users.Unique[0] != "userName" || c.Groups.Unique[0] != "displayName" || c.Quirks.MemberRemoval != RemoveByPath ||
		len(c.Quirks.PatchStatus) != 2 {
		t.Errorf("defaults: %+v", c)
	}
	if got := c.Provides(); got != (targets.Capabilities{Groups: true, Disable: true, Lookup: true}) {
		t.Errorf("Provides() = %+v", got)
	}
}

// TestValidateReportsEveryProblem: Validate reports every invalid field,
// in the same order on every call (parameters are a map), and changes
// nothing.
func TestValidateReportsEveryProblem(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{"auth, tls and limits", `
base_url: https://u:p@app.example.com/scim
oauth2: {token_url: ftp://t, params: {scope: a, grant_type: b, client_id: c, "": d}}
tls: {key_file: /k.pem, client_ca_file: /ca.pem}
rate_burst: 2
page_size: -1
`, []string{
			"base_url: no credentials in the URL: use the auth settings",
			`oauth2.token_url: scheme "ftp": want https`,
			"oauth2.client_id: required",
			"oauth2.client_secret_env: set exactly one of client_secret_env and client_secret_file",
			`oauth2.params: parameter "": not settable here (use scopes, client_id, client_secret_*)`,
			`oauth2.params: parameter "client_id": not settable here (use scopes, client_id, client_secret_*)`,
			`oauth2.params: parameter "grant_type": not settable here (use scopes, client_id, client_secret_*)`,
			`oauth2.params: parameter "scope": not settable here (use scopes, client_id, client_secret_*)`,
			"tls.cert_file: cert_file and key_file go together",
			"tls.client_ca_file: only for an endpoint the gateway serves; a connection to a target trusts tls.ca_file",
			"rate_burst: a positive number, with rate_limit",
			"page_size: must be between 1 and 10000, not -1",
		}},
		{"kinds and quirks", `
base_url: https://app.example.com/scim
bearer_token_env: T
users: {unique: [members]}
quirks: {member_removal: both, patch_status: [201, 202]}
`, []string{
			`users.unique[0]: "members" is managed by the connector or the service`,
			`quirks.member_removal: "both": want path or value`,
			"quirks.patch_status: 201: want 200 and/or 204",
			"quirks.patch_status: 202: want 200 and/or 204",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Config
			if err := yaml.Unmarshal([]byte(tt.doc), &c); err != nil {
				t.Fatal(err)
			}
			orig := c
			for range 20 { // map order changes between runs
				err := c.Validate()
				var got []string
				if err != nil {
					got = strings.Split(err.Error(), "\n")
				}
				if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
					t.Fatalf("Validate:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
				}
			}
			if !reflect.DeepEqual(c, orig) {
				t.Errorf("Validate changed the configuration: %+v, was %+v", c, orig)
			}
		})
	}
}

// TestOpen: what Open reports for a service that is down (transient: the
// gateway starts and opens it later), a wrong base URL or token, and a
// missing secret (permanent or a field error: the gateway does not start).
func TestOpen(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + ln.Addr().String() + "/scim"
	ln.Close()
	notSCIM := httptest.NewServer(http.NotFoundHandler())
	defer notSCIM.Close()
	t.Setenv("SCIMTARGET_OPEN_TOKEN", fakeToken)
	tests := []struct {
		name  string
		cfg   Config
		class error  // nil: a *targets.ConfigError
		want  string // in the error
	}{
		{"service down", Config{BaseURL: down, BearerTokenEnv: "SCIMTARGET_OPEN_TOKEN"}, targets.ErrTransient, "connection refused"},
		{"not a SCIM base URL", Config{BaseURL: notSCIM.URL + "/x", BearerTokenEnv: "SCIMTARGET_OPEN_TOKEN"}, targets.ErrPermanent, "is base_url " + notSCIM.URL + "/x the SCIM base URL?"},
		{"missing token", Config{BaseURL: down, BearerTokenEnv: "SCIMTARGET_NO_SUCH_VARIABLE"}, nil, "bearer_token_env: environment variable SCIMTARGET_NO_SUCH_VARIABLE is not set"},
		{"missing CA file", Config{BaseURL: down, BearerTokenEnv: "SCIMTARGET_OPEN_TOKEN", TLS: targets.TLSConfig{CAFile: "/nonexistent/ca.pem"}}, nil, "tls.ca_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.cfg.Open(t.Context(), targets.Env{Name: "saas"})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Open: %v, want an error containing %q", err, tt.want)
			}
			var ce *targets.ConfigError
			if tt.class == nil && !errors.As(err, &ce) {
				t.Errorf("Open: %v, want a *targets.ConfigError", err)
			}
			if tt.class != nil {
				mustClass(t, "Open", err, tt.class)
			}
		})
	}
	t.Run("wrong token", func(t *testing.T) {
		f := &fakeSCIM{}
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer right" {
				http.Error(w, `{"detail":"bad token"}`, http.StatusUnauthorized)
				return
			}
			f.ServeHTTP(w, r)
		}))
		defer ts.Close()
		cfg := Config{BaseURL: ts.URL + "/scim", BearerTokenEnv: "SCIMTARGET_OPEN_TOKEN"}
		_, err := cfg.Open(t.Context(), targets.Env{Name: "saas"})
		mustClass(t, "Open with a wrong token", err, targets.ErrPermanent)
		if !strings.Contains(err.Error(), "HTTP 401") || strings.Contains(err.Error(), fakeToken) {
			t.Errorf("Open: %v, want HTTP 401 and not the token", err)
		}
	})
}

// TestHealth: Health reads /ServiceProviderConfig.
func TestHealth(t *testing.T) {
	f := &fakeSCIM{}
	c, _ := openFake(t, f, nil)
	if err := c.Health(t.Context()); err != nil {
		t.Fatalf("Health: %v", err)
	}
	f.respond("GET /scim/ServiceProviderConfig", http.StatusServiceUnavailable, `{"detail":"maintenance"}`)
	err := c.Health(t.Context())
	mustClass(t, "Health of a service in maintenance", err, targets.ErrTransient)
	if !strings.Contains(err.Error(), "maintenance") {
		t.Errorf("Health: %v, want the service's reason", err)
	}
}

// TestUnsupported: groups without a groups configuration, and invalid
// cursors, are permanent errors.
func TestUnsupported(t *testing.T) {
	f := &fakeSCIM{}
	c, _ := openFake(t, f, func(c *Config) { c.Groups = nil })
	_, err := c.List(t.Context(), targets.Group, "", 0)
	if !errors.Is(err, errors.ErrUnsupported) || targets.Class(err) != targets.ErrPermanent {
		t.Errorf("List of groups without groups: %v", err)
	}
	for _, cursor := range []string{"x", "0", "-3"} {
		_, err := c.List(t.Context(), targets.User, cursor, 0)
		mustClass(t, "List with cursor "+cursor, err, targets.ErrPermanent)
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("%d requests sent for refused calls", n)
	}
}
