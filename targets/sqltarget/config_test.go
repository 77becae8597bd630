package sqltarget_test

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/registry"
	"github.com/scimgate/scimgate/targets/sqltarget"
)

// validConfig is a valid configuration without a server.
func validConfig() *sqltarget.Config {
	return &sqltarget.Config{
		Dialect: "mysql", Host: "db.example", Database: "app", User: "scim", Password: "pw-secret",
		Users: &sqltarget.ObjectConfig{Table: "app.users", Anchor: "id", ObjectID: "scim_id",
			Attributes: map[string]sqltarget.Attribute{
				"userName": {Column: "login", Unique: true},
				"mail":     {Type: "strings", Table: "user_mails", Key: "user_id", Column: "mail"},
			},
			Disable: &sqltarget.DisableConfig{Column: "status", Mode: "status", EnabledValue: "A", DisabledValue: "S"},
		},
		Groups: &sqltarget.ObjectConfig{Table: "groups", Anchor: "id", ObjectID: "scim_id",
			Attributes: map[string]sqltarget.Attribute{"displayName": {Column: "name"}},
			Members:    &sqltarget.MembersConfig{Table: "members", Group: "group_id", Member: "user_id"},
		},
	}
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	notPEM := filepath.Join(dir, "ca.pem")

	tests := []struct {
		name      string
		change    func(c *sqltarget.Config)
		wantField string // "" for valid
		wantMsg   string
	}{
		{"valid", func(c *sqltarget.Config) {}, "", ""},
		{"valid: password from env", func(c *sqltarget.Config) { c.Password, c.PasswordEnv = "", "SQLTARGET_TEST_PW" }, "", ""},
		{"valid: password from file", func(c *sqltarget.Config) { c.Password, c.PasswordFile = "", pwFile }, "", ""},
		{"valid: dsn from env", func(c *sqltarget.Config) {
			c.Host, c.Database, c.User, c.DSNEnv = "", "", "", "SQLTARGET_TEST_DSN"
		}, "", ""},
		{"valid: postgres dsn", func(c *sqltarget.Config) {
			c.Dialect, c.Host, c.Database, c.User, c.DSN = "postgres", "", "", "", "postgres://scim@db:5432/app?sslmode=verify-full"
		}, "", ""},
		{"no dialect", func(c *sqltarget.Config) { c.Dialect = "" }, "dialect", "required"},
		{"unknown dialect", func(c *sqltarget.Config) { c.Dialect = "oracle" }, "dialect", `unknown dialect "oracle"`},
		{"two passwords", func(c *sqltarget.Config) { c.PasswordEnv = "X" }, "password", "only one of password, password_env and password_file"},
		{"dsn and host", func(c *sqltarget.Config) { c.DSN = "scim@tcp(db)/app"; c.Database, c.User = "", "" }, "host", "set together with a DSN"},
		{"no database", func(c *sqltarget.Config) { c.Database = "" }, "database", "required"},
		{"no user", func(c *sqltarget.Config) { c.User = "" }, "user", "required"},
		{"bad port", func(c *sqltarget.Config) { c.Port = 70000 }, "port", "not a port"},
		{"ca without tls", func(c *sqltarget.Config) { c.TLS.CAFile = notPEM }, "tls.enabled", "false, but other tls settings are given"},
		{"cert without key", func(c *sqltarget.Config) { c.TLS.Enabled, c.TLS.CertFile = true, "/c.pem" }, "tls.cert_file", "cert_file and key_file go together"},
		{"valid: missing secrets and files are read by Open", func(c *sqltarget.Config) {
			c.Password, c.PasswordEnv, c.TLS.Enabled, c.TLS.CAFile = "", "SQLTARGET_TEST_UNSET", true, filepath.Join(dir, "nope")
		}, "", ""},
		{"pool idle over open", func(c *sqltarget.Config) { c.Pool.MaxOpen, c.Pool.MaxIdle = 2, 3 }, "pool.max_idle", "more than pool.max_open"},
		{"negative timeout", func(c *sqltarget.Config) { c.QueryTimeout = -1 }, "query_timeout", "negative"},
		{"no users", func(c *sqltarget.Config) { c.Users = nil }, "users", "required"},
		{"table injection", func(c *sqltarget.Config) { c.Users.Table = "users; DROP TABLE x" }, "users.table", "is not a table name"},
		{"quoted column", func(c *sqltarget.Config) {
			c.Users.Attributes["userName"] = sqltarget.Attribute{Column: "lo`gin"}
		}, "users.attributes.userName.column", "is not a column name"},
		{"no anchor", func(c *sqltarget.Config) { c.Users.Anchor = "" }, "users.anchor", "required"},
		{"anchor is object id", func(c *sqltarget.Config) { c.Users.ObjectID = "id" }, "users.object_id", "the same column as anchor"},
		{"no attributes", func(c *sqltarget.Config) { c.Users.Attributes = nil }, "users.attributes", "at least one"},
		{"reserved attribute", func(c *sqltarget.Config) { c.Users.Attributes["anchor"] = sqltarget.Attribute{Column: "a"} }, "users.attributes.anchor", "reserved"},
		{"unknown type", func(c *sqltarget.Config) { c.Users.Attributes["n"] = sqltarget.Attribute{Column: "n", Type: "date"} }, "users.attributes.n.type", `unknown type "date"`},
		{"strings without table", func(c *sqltarget.Config) {
			c.Users.Attributes["tags"] = sqltarget.Attribute{Column: "tag", Type: "strings"}
		}, "users.attributes.tags.table", "child table"},
		{"column twice", func(c *sqltarget.Config) { c.Users.Attributes["alias"] = sqltarget.Attribute{Column: "LOGIN"} }, "users.attributes.userName.column", `column "login" is already used by attributes.alias`},
		{"unique bool", func(c *sqltarget.Config) {
			c.Users.Attributes["vip"] = sqltarget.Attribute{Column: "vip", Type: "bool", Unique: true}
		}, "users.attributes.vip.unique", "cannot be unique"},
		{"disable mode", func(c *sqltarget.Config) { c.Users.Disable.Mode = "bit" }, "users.disable.mode", `unknown mode "bit"`},
		{"status values", func(c *sqltarget.Config) { c.Users.Disable.DisabledValue = "A" }, "users.disable.enabled_value", "two different values"},
		{"group disable", func(c *sqltarget.Config) { c.Groups.Disable = &sqltarget.DisableConfig{Column: "x", Mode: "date"} }, "groups.disable", "only users"},
		{"groups without members", func(c *sqltarget.Config) { c.Groups.Members = nil }, "groups.members", "required"},
		{"user members", func(c *sqltarget.Config) { c.Users.Members = c.Groups.Members }, "users.members", "only groups"},
		{"procedures and statements", func(c *sqltarget.Config) {
			c.Users.Procedures = map[string]sqltarget.Procedure{"create": {Name: "p"}}
			c.Users.Statements = map[string][]string{"delete": {"DELETE FROM users WHERE id = :anchor"}}
		}, "users.statements", "not both"},
		{"unknown operation", func(c *sqltarget.Config) {
			c.Users.Procedures = map[string]sqltarget.Procedure{"add_member": {Name: "p"}}
		}, "users.procedures.add_member", "unknown operation"},
		{"unknown procedure parameter", func(c *sqltarget.Config) {
			c.Users.Procedures = map[string]sqltarget.Procedure{"create": {Name: "p", Args: []string{"anchor", "password"}}}
		}, "users.procedures.create.args[1]", `unknown parameter "password"`},
		{"procedure injection", func(c *sqltarget.Config) {
			c.Users.Procedures = map[string]sqltarget.Procedure{"create": {Name: "p(); DROP TABLE x; --"}}
		}, "users.procedures.create.name", "is not a table name"},
		{"statement multi-valued parameter", func(c *sqltarget.Config) {
			c.Users.Statements = map[string][]string{"update": {"UPDATE users SET mail = :mail WHERE id = :anchor"}}
		}, "users.statements.update[0]", `parameter "mail": a strings attribute`},
		{"statement positional", func(c *sqltarget.Config) {
			c.Users.Statements = map[string][]string{"delete": {"DELETE FROM users WHERE id = ?"}}
		}, "users.statements.delete[0]", "use named parameters"},
		{"statement attribute in delete", func(c *sqltarget.Config) {
			c.Users.Statements = map[string][]string{"delete": {"DELETE FROM users WHERE login = :userName"}}
		}, "users.statements.delete[0]", "attributes only in create and update"},
		{"statement unterminated", func(c *sqltarget.Config) {
			c.Users.Statements = map[string][]string{"delete": {"DELETE FROM users WHERE id = 'x"}}
		}, "users.statements.delete[0]", "unterminated quote"},
		{"disable statement without disable", func(c *sqltarget.Config) {
			c.Users.Disable = nil
			c.Users.Statements = map[string][]string{"disable": {"UPDATE users SET locked = 1 WHERE id = :anchor"}}
		}, "users.statements.disable", "needs disable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.change(c)
			err := c.Validate()
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var ce *targets.ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("Validate: %v, want a field error for %s", err, tt.wantField)
			}
			if ce.Field != tt.wantField || !strings.Contains(ce.Err.Error(), tt.wantMsg) {
				t.Errorf("Validate: field %q: %v\nwant field %q containing %q", ce.Field, ce.Err, tt.wantField, tt.wantMsg)
			}
			for _, secret := range []string{"pw-secret", "dsn-secret", "from-env", "from-file"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("the error %q reveals a secret", err)
				}
			}
		})
	}
}

// TestOpenConfigErrors: Open reads the secrets, the DSN and the TLS files
// before it connects; what is missing or invalid is a field error naming
// the field, without the secret.
func TestOpenConfigErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o600)
	notPEM := filepath.Join(dir, "ca.pem")
	os.WriteFile(notPEM, []byte("not a certificate"), 0o600)
	tests := []struct {
		name      string
		change    func(c *sqltarget.Config)
		wantField string
		wantMsg   string
	}{
		{"password env unset", func(c *sqltarget.Config) { c.Password, c.PasswordEnv = "", "SQLTARGET_TEST_UNSET" }, "password_env", "SQLTARGET_TEST_UNSET is not set"},
		{"password file missing", func(c *sqltarget.Config) { c.Password, c.PasswordFile = "", filepath.Join(dir, "nope") }, "password_file", "no such file"},
		{"password file empty", func(c *sqltarget.Config) { c.Password, c.PasswordFile = "", empty }, "password_file", "is empty"},
		{"dsn env unset", func(c *sqltarget.Config) { c.Host, c.Database, c.User, c.DSNEnv = "", "", "", "SQLTARGET_TEST_UNSET" }, "dsn_env", "SQLTARGET_TEST_UNSET is not set"},
		{"bad mysql dsn", func(c *sqltarget.Config) {
			c.Host, c.Database, c.User, c.DSN = "", "", "", "scim:dsn-secret@db:3306"
		}, "dsn", "invalid MySQL DSN"},
		{"bad postgres dsn", func(c *sqltarget.Config) {
			c.Dialect, c.Host, c.Database, c.User, c.DSN = "postgres", "", "", "", "postgres://scim:dsn-secret@db:notaport/app"
		}, "dsn", "invalid PostgreSQL DSN"},
		{"ca not pem", func(c *sqltarget.Config) {
			c.TLS = sqltarget.TLSConfig{Enabled: true, TLSConfig: targets.TLSConfig{CAFile: notPEM}}
		}, "tls.ca_file", "no PEM certificate"},
		{"missing client certificate", func(c *sqltarget.Config) {
			c.Dialect = "postgres"
			c.TLS = sqltarget.TLSConfig{Enabled: true, TLSConfig: targets.TLSConfig{CertFile: filepath.Join(dir, "c.pem"), KeyFile: filepath.Join(dir, "k.pem")}}
		}, "tls.cert_file", "no such file"},
		{"invalid", func(c *sqltarget.Config) { c.Dialect = "" }, "dialect", "required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.change(c)
			conn, err := c.Open(t.Context(), targets.Env{Name: "app"})
			if err == nil {
				conn.Close(t.Context())
				t.Fatalf("Open succeeded, want a field error for %s", tt.wantField)
			}
			var ce *targets.ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("Open: %v, want a field error for %s", err, tt.wantField)
			}
			if ce.Field != tt.wantField || !strings.Contains(ce.Err.Error(), tt.wantMsg) {
				t.Errorf("Open: field %q: %v\nwant field %q containing %q", ce.Field, ce.Err, tt.wantField, tt.wantMsg)
			}
			if targets.Class(err) == targets.ErrTransient && errors.Is(err, targets.ErrTransient) {
				t.Errorf("Open: %v is classified transient: Build would retry a configuration error", err)
			}
			if strings.Contains(err.Error(), "dsn-secret") || strings.Contains(err.Error(), "pw-secret") {
				t.Errorf("the error %q reveals a secret", err)
			}
		})
	}
}

// TestValidateReportsEveryProblem: Validate reports every invalid field, in
// the order of the fields (attributes, procedures and statements by name,
// not in map order), and changes nothing.
func TestValidateReportsEveryProblem(t *testing.T) {
	tests := []struct {
		name   string
		change func(c *sqltarget.Config)
		want   []string
	}{
		{"connection", func(c *sqltarget.Config) {
			c.Dialect = "oracle"
			c.PasswordEnv = "X"
			c.DSNFile = "/dsn"
			c.TLS.ServerName = "db"
			c.Pool = sqltarget.PoolConfig{MaxOpen: 2, MaxIdle: 3, MaxLifetime: -1}
			c.QueryTimeout = -1
			c.Users = nil
		}, []string{
			`dialect: unknown dialect "oracle" (want mysql or postgres)`,
			"password: give only one of password, password_env and password_file",
			"host: set together with a DSN: give the connection as a DSN or as host, port, database and user",
			"database: set together with a DSN: give the connection as a DSN or as host, port, database and user",
			"user: set together with a DSN: give the connection as a DSN or as host, port, database and user",
			"tls.enabled: false, but other tls settings are given (ca_file, server_name, cert_file, ...)",
			"pool.max_idle: 3 is more than pool.max_open 2",
			"pool.max_lifetime: must not be negative",
			"query_timeout: must not be negative",
			"users: required: the users table",
		}},
		{"mappings", func(c *sqltarget.Config) {
			c.Users.Anchor = ""
			c.Users.Attributes["zip"] = sqltarget.Attribute{Column: "zip", Type: "date"}
			c.Users.Attributes["alias"] = sqltarget.Attribute{Column: "LOGIN"}
			c.Users.Disable.Mode = "bit"
			c.Users.Procedures = map[string]sqltarget.Procedure{"update": {Name: "p;"}, "add_member": {Name: "p"}}
			c.Users.Statements = map[string][]string{"delete": {"DELETE FROM users WHERE id = ?"}}
			c.Groups.Members = nil
		}, []string{
			`users.anchor: required: a column name`,
			`users.attributes.userName.column: column "login" is already used by attributes.alias`,
			`users.attributes.zip.type: unknown type "date" (want string, bool, int, float or strings)`,
			`users.disable.mode: unknown mode "bit" (want flag, status or date)`,
			"users.statements: give procedures or statements, not both",
			"users.procedures.add_member: unknown operation (want one of create, update, delete, disable, enable)",
			`users.procedures.update.name: "p;" is not a table name (name or schema.name) of letters, digits and '_' (up to 63, not starting with a digit)`,
			"users.statements.delete[0]: positional placeholder \"?\" at offset 29: use named parameters (:name)",
			"groups.members: required: the membership table (table, group, member)",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.change(c)
			orig := *c
			var origUsers sqltarget.ObjectConfig
			if c.Users != nil {
				origUsers = *c.Users
				origUsers.Attributes = maps.Clone(c.Users.Attributes)
			}
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
			if !reflect.DeepEqual(*c, orig) || c.Users != nil && !reflect.DeepEqual(c.Users.Attributes, origUsers.Attributes) {
				t.Errorf("Validate changed the configuration")
			}
		})
	}
}

// TestRegistry: the sql type is built-in, and its YAML fields are the
// documented snake_case names.
func TestRegistry(t *testing.T) {
	var tc targets.TargetConfig
	doc := `
name: hr
type: sql
config:
  dialect: postgres
  host: db
  database: hr
  user: scim
  password_env: SQLTARGET_TEST_PW2
  create_schema: true
  pool: {max_open: 4, max_idle: 2, max_lifetime: 10m}
  query_timeout: 5s
  users:
    table: people
    anchor: id
    object_id: scim_id
    attributes:
      userName: {column: login, unique: true}
    disable: {column: left_at, mode: date}
    statements:
      delete: ["DELETE FROM people WHERE id = :anchor"]
`
	if err := yaml.Unmarshal([]byte(doc), &tc); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SQLTARGET_TEST_PW2", "x")
	if err := registry.New(registry.Services{}).Validate(tc); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	bad := strings.Replace(doc, "object_id: scim_id", "object_id: scim_id\n    objectid: x", 1)
	if err := yaml.Unmarshal([]byte(bad), &tc); err != nil {
		t.Fatal(err)
	}
	if err := registry.New(registry.Services{}).Validate(tc); err == nil || !strings.Contains(err.Error(), `unknown field "objectid"`) {
		t.Errorf("Validate with an unknown field: %v", err)
	}
}
