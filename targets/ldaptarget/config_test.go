package ldaptarget

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/scimgate/scimgate/targets"
)

// validConfig is a configuration that passes Validate.
func validConfig() *Config {
	return &Config{
		URL:             "ldap://127.0.0.1:389",
		BindDN:          "cn=admin,dc=example,dc=org",
		BindPasswordEnv: "LDAP_PW",
		BaseDN:          "dc=example,dc=org",
		Users:           KindConfig{DNTemplate: "uid={uid},ou=people,dc=example,dc=org"},
		Groups: &GroupsConfig{
			KindConfig:        KindConfig{DNTemplate: "cn={cn},ou=groups,dc=example,dc=org"},
			PlaceholderMember: "cn=nobody,dc=example,dc=org",
		},
		Disable: &DisableConfig{Method: DisablePPolicy},
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		name   string
		change func(*Config)
		field  string // "" when valid
	}{
		{"valid", func(*Config) {}, ""},
		{"ldaps with a client certificate", func(c *Config) {
			c.URL = "ldaps://ldap.example.org"
			c.TLS.TLSConfig = targets.TLSConfig{CAFile: "ca.pem", CertFile: "c.pem", KeyFile: "k.pem"}
		}, ""},
		{"no url", func(c *Config) { c.URL = "" }, "url"},
		{"http url", func(c *Config) { c.URL = "http://x" }, "url"},
		{"url with a path", func(c *Config) { c.URL = "ldap://x/dc=org" }, "url"},
		{"ldaps and start_tls", func(c *Config) { c.URL = "ldaps://x"; c.TLS.StartTLS = true }, "tls.start_tls"},
		{"no bind dn", func(c *Config) { c.BindDN = "" }, "bind_dn"},
		{"bad bind dn", func(c *Config) { c.BindDN = "not a dn" }, "bind_dn"},
		{"no password", func(c *Config) { c.BindPasswordEnv = "" }, "bind_password_env"},
		{"two passwords", func(c *Config) { c.BindPasswordFile = "/x" }, "bind_password_env"},
		{"cert without key", func(c *Config) { c.TLS.CertFile = "c.pem" }, "tls.cert_file"},
		{"pool size", func(c *Config) { c.PoolSize = -1 }, "pool_size"},
		{"page size", func(c *Config) { c.PageSize = 100000 }, "page_size"},
		{"no base", func(c *Config) { c.BaseDN = "" }, "base_dn"},
		{"anchor", func(c *Config) { c.AnchorAttribute = "uid" }, "anchor_attribute"},
		{"attribute type", func(c *Config) { c.AttributeTypes = map[string]string{"mail": "list"} }, "attribute_types.mail"},
		{"attribute name", func(c *Config) { c.AttributeTypes = map[string]string{"a b": "string"} }, "attribute_types"},
		{"no user template", func(c *Config) { c.Users.DNTemplate = "" }, "users.dn_template"},
		{"template outside base", func(c *Config) { c.Users.DNTemplate = "uid={uid},dc=other" }, "users.dn_template"},
		{"bad filter", func(c *Config) { c.Users.Filter = "(uid=" }, "users.filter"},
		{"bad object class", func(c *Config) { c.Users.ObjectClasses = []string{"in etOrgPerson"} }, "users.object_classes"},
		{"bad object id attribute", func(c *Config) { c.Users.ObjectIDAttribute = "x)(y" }, "users.object_id_attribute"},
		{"group style", func(c *Config) { c.Groups.Style = "team" }, "groups.style"},
		{"groupOfNames without placeholder", func(c *Config) { c.Groups.PlaceholderMember = "" }, "groups.placeholder_member"},
		{"AD group without placeholder", func(c *Config) {
			c.Groups.PlaceholderMember = ""
			c.Groups.ObjectClasses = []string{"top", "group"}
		}, ""},
		{"posixGroup with placeholder", func(c *Config) { c.Groups.Style = StylePosixGroup }, "groups.placeholder_member"},
		{"posixGroup", func(c *Config) { c.Groups.Style = StylePosixGroup; c.Groups.PlaceholderMember = "" }, ""},
		{"disable method", func(c *Config) { c.Disable.Method = "lock" }, "disable.method"},
		{"attribute method without attribute", func(c *Config) { c.Disable.Method = DisableAttribute }, "disable.attribute"},
		{"attribute method without value", func(c *Config) {
			c.Disable = &DisableConfig{Method: DisableAttribute, Attribute: "employeeType"}
		}, "disable.disabled_value"},
		{"ou method without dn", func(c *Config) { c.Disable.Method = DisableOU }, "disable.dn"},
		{"ou method outside base", func(c *Config) { c.Disable = &DisableConfig{Method: DisableOU, DN: "ou=x,dc=other"} }, "disable.dn"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := validConfig()
			c.change(cfg)
			err := cfg.Validate()
			if c.field == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var ce *targets.ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("Validate = %v, want a FieldError for %s", err, c.field)
			}
			if ce.Field != c.field {
				t.Errorf("Validate names field %q (%v), want %q", ce.Field, err, c.field)
			}
		})
	}
}

// TestValidateReportsEveryProblem: Validate reports every invalid field,
// in the order of the fields (attribute types in name order, not map
// order), and changes nothing: defaults included.
func TestValidateReportsEveryProblem(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   []string
	}{
		{"connection", func(c *Config) {
			c.URL = "ldaps://x"
			c.TLS.StartTLS = true
			c.BindDN = "not a dn"
			c.BindPasswordFile = "/pw"
			c.TLS.KeyFile = "k.pem"
			c.PoolSize, c.PageSize = -1, 10001
			c.Timeout = -1
		}, []string{
			"tls.start_tls: not with an ldaps:// URL (already TLS)",
			`bind_dn: invalid DN: DN ended with incomplete type, value pair`,
			"bind_password_env: set exactly one of bind_password_env and bind_password_file",
			"tls.cert_file: cert_file and key_file go together",
			"pool_size: must be between 1 and 10000, not -1",
			"page_size: must be between 1 and 10000, not 10001",
			"timeout: must not be negative",
		}},
		{"schema", func(c *Config) {
			c.BaseDN = ""
			c.AnchorAttribute = "uid"
			c.AttributeTypes = map[string]string{"z": "list", "a b": "string", "m": "set"}
			c.Users.Filter = "(uid="
			c.Groups.Style = "team"
			c.Disable.Method = DisableAttribute
		}, []string{
			"base_dn: required: a valid DN (<nil>)",
			`anchor_attribute: "uid": want entryUUID or objectGUID`,
			`attribute_types: invalid attribute name "a b"`,
			`attribute_types.m: type "set": want string, integer, float, boolean or strings`,
			`attribute_types.z: type "list": want string, integer, float, boolean or strings`,
			"users.filter: invalid LDAP filter: LDAP Result Code 201 \"Filter Compile Error\": ldap: unexpected end of filter",
			`groups.style: "team": want groupOfNames, groupOfUniqueNames or posixGroup`,
			"disable.attribute: required with method attribute: an attribute name",
			"disable.disabled_value: required, and different from enabled_value",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := validConfig()
			tt.change(cfg)
			orig := *cfg
			origGroups := *cfg.Groups
			for range 20 { // map order changes between runs
				err := cfg.Validate()
				var got []string
				if err != nil {
					got = strings.Split(err.Error(), "\n")
				}
				if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
					t.Fatalf("Validate:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
				}
			}
			if !reflect.DeepEqual(*cfg, orig) || !reflect.DeepEqual(*cfg.Groups, origGroups) {
				t.Errorf("Validate changed the configuration: %+v, was %+v", *cfg, orig)
			}
		})
	}
}

// TestRegistryDecode: an unknown field is refused, the known ones decode.
func TestRegistryDecode(t *testing.T) {
	reg := targets.Registry{Type: func() targets.Config { return new(Config) }}
	var tcs []targets.TargetConfig
	src := `
- name: dir
  type: ldap
  config:
    url: ldap://127.0.0.1:389
    bind_dn: cn=admin,dc=example,dc=org
    bind_password_env: LDAP_PW
    base_dn: dc=example,dc=org
    timeout: 5s
    users: {dn_template: "uid={uid},ou=people,dc=example,dc=org", object_classes: [inetOrgPerson]}
    groups: {style: posixGroup, dn_template: "cn={cn},ou=groups,dc=example,dc=org"}
- name: typo
  type: ldap
  config: {url: ldap://x, bind_dn: cn=a, bind_pasword_env: X}
`
	if err := yaml.Unmarshal([]byte(src), &tcs); err != nil {
		t.Fatal(err)
	}
	if err := reg.Validate(tcs[0]); err != nil {
		t.Errorf("valid config: %v", err)
	}
	if err := reg.Validate(tcs[1]); err == nil || !strings.Contains(err.Error(), "bind_pasword_env") {
		t.Errorf("typo: %v, want an unknown field error", err)
	}
}

// TestOpenSecrets: a missing password source is a field error, and the
// password never appears in an error.
func TestOpenSecrets(t *testing.T) {
	cfg := validConfig()
	cfg.BindPasswordEnv = "LDAPTARGET_TEST_UNSET"
	_, err := cfg.Open(t.Context(), targets.Env{Name: "dir"})
	var ce *targets.ConfigError
	if !errors.As(err, &ce) || ce.Field != "bind_password_env" {
		t.Errorf("Open with an unset variable: %v, want a bind_password_env field error", err)
	}
	cfg = validConfig()
	cfg.BindPasswordEnv = ""
	cfg.BindPasswordFile = filepath.Join(t.TempDir(), "missing")
	if _, err := cfg.Open(t.Context(), targets.Env{Name: "dir"}); !errors.As(err, &ce) || ce.Field != "bind_password_file" {
		t.Errorf("Open with a missing file: %v, want a bind_password_file field error", err)
	}
	const secret = "s3cr3t-do-not-print"
	t.Setenv("LDAPTARGET_TEST_PW", secret)
	cfg = validConfig()
	cfg.BindPasswordEnv = "LDAPTARGET_TEST_PW"
	cfg.URL = "ldap://127.0.0.1:1" // nothing listens
	_, err = cfg.Open(t.Context(), targets.Env{Name: "dir"})
	if err == nil {
		t.Fatal("Open of an unreachable server succeeded")
	}
	if targets.Class(err) != targets.ErrTransient {
		t.Errorf("unreachable server: %v, want a transient error", err)
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("the error shows the password: %v", err)
	}
	cfg = validConfig()
	cfg.BindPasswordEnv = "LDAPTARGET_TEST_PW"
	cfg.TLS.CAFile = filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(cfg.TLS.CAFile, []byte("not a certificate"), 0o600)
	if _, err := cfg.Open(t.Context(), targets.Env{Name: "dir"}); !errors.As(err, &ce) || ce.Field != "tls.ca_file" {
		t.Errorf("Open with a bad CA file: %v, want a tls.ca_file field error", err)
	}
}
