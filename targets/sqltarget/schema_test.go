package sqltarget_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/scimgate/scimgate/internal/dbtest"
	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/sqltarget"
)

// testSchemaCheck: Open against an app schema with missing and mistyped
// pieces reports each, with its config field, and creates nothing.
func testSchemaCheck(t *testing.T, srv *dbtest.Server) {
	db, sdb := srv.NewDatabase(t)
	for _, q := range []string{
		"CREATE TABLE app_users (id VARCHAR(64) PRIMARY KEY, scim_id VARCHAR(255), login VARCHAR(20), emp_no TEXT, disabled BOOLEAN)",
		"CREATE TABLE app_group_members (group_id VARCHAR(64))",
	} {
		if _, err := sdb.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	cfg := appConfig(srv, db)
	cfg.CreateSchema = false
	cfg.Users.Procedures = map[string]sqltarget.Procedure{"delete": {Name: "app_user_purge", Args: []string{"anchor"}}}
	cfg.Groups.Statements = map[string][]string{"delete": {"DELETE FROM app_nope WHERE id = :anchor"}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	_, err := cfg.Open(context.Background(), targets.Env{Name: "app"})
	if !errors.Is(err, sqltarget.ErrSchema) {
		t.Fatalf("Open: %v, want ErrSchema", err)
	}
	want := []string{
		"sql: schema check failed:",
		`users.attributes.displayName.column: table "app_users" has no column "display_name"`,
		`users.attributes.employeeNumber.column: column "emp_no" of table "app_users" has type text, not one for int values (tinyint, smallint, mediumint, int, integer, bigint, numeric, decimal)`,
		`users.attributes.givenName.column: table "app_users" has no column "given_name"`,
		`users.attributes.score.column: table "app_users" has no column "score"`,
		`users.attributes.vip.column: table "app_users" has no column "vip"`,
		`users.attributes.mail.table: table "app_user_mails" does not exist`,
		`users.procedures.delete.name: procedure "app_user_purge" does not exist`,
		`groups.table: table "app_groups" does not exist`,
		`groups.members.member: table "app_group_members" has no column "user_id"`,
		`groups.statements.delete[0]: `, // the server's message follows
	}
	got := strings.Split(err.Error(), "\n\t")
	if len(got) != len(want) {
		t.Fatalf("Open: %d lines, want %d:\n%v", len(got), len(want), err)
	}
	for i := range want {
		if got[i] != want[i] && !(strings.HasSuffix(want[i], ": ") && strings.HasPrefix(got[i], want[i]) && strings.Contains(got[i], "app_nope")) {
			t.Errorf("line %d:\n got %s\nwant %s", i, got[i], want[i])
		}
	}
	tables := dbtest.Dump(t, sdb, "SELECT table_name FROM information_schema.tables WHERE table_name LIKE 'app%' AND table_schema NOT IN ('information_schema', 'pg_catalog') ORDER BY 1")
	if want := []string{"app_group_members", "app_users"}; !slices.Equal(tables, want) {
		t.Errorf("tables after the failed Open: %q, want %q (nothing created)", tables, want)
	}
}

// testCredentials: the password comes from an environment variable or a
// file, the DSN from a file; a wrong password fails Open without showing
// it, as a transient error.
func testCredentials(t *testing.T, srv *dbtest.Server) {
	db, _ := srv.NewDatabase(t)
	const pw = `p@ss w0rd'"\;`
	user := "app_" + db
	if srv.Dialect == sqltarget.MySQL {
		srv.Exec(t, "CREATE USER '"+user+"'@'127.0.0.1' IDENTIFIED BY 'p@ss w0rd''\"\\\\;'", "GRANT ALL ON "+db+".* TO '"+user+"'@'127.0.0.1'")
	} else {
		srv.Exec(t, "CREATE ROLE "+user+" LOGIN PASSWORD 'p@ss w0rd''\"\\;'", "ALTER DATABASE "+db+" OWNER TO "+user)
		conn := srv.OpenDB(t, db)
		if _, err := conn.Exec("GRANT ALL ON SCHEMA public TO " + user); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte(pw+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SQLTARGET_APP_PW", pw)
	other := *srv
	other.User, other.Password = user, pw
	dsnFile := filepath.Join(dir, "dsn")
	if err := os.WriteFile(dsnFile, []byte(other.DSN(db)), 0o600); err != nil {
		t.Fatal(err)
	}
	base := func() *sqltarget.Config {
		c := appConfig(srv, db)
		c.User, c.Password = user, ""
		return c
	}
	tests := []struct {
		name   string
		change func(c *sqltarget.Config)
		ok     bool
	}{
		{"password_env", func(c *sqltarget.Config) { c.PasswordEnv = "SQLTARGET_APP_PW" }, true},
		{"password_file", func(c *sqltarget.Config) { c.PasswordFile = pwFile }, true},
		{"dsn_file", func(c *sqltarget.Config) { c.Host, c.Port, c.Database, c.User, c.DSNFile = "", 0, "", "", dsnFile }, true},
		{"wrong password", func(c *sqltarget.Config) { c.Password = "wrong-secret" }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base()
			tt.change(cfg)
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			c, err := cfg.Open(context.Background(), targets.Env{Name: "app"})
			if !tt.ok {
				if err == nil {
					c.Close(context.Background())
					t.Fatal("Open with a wrong password succeeded")
				}
				if strings.Contains(err.Error(), "wrong-secret") || strings.Contains(err.Error(), pw) {
					t.Errorf("Open: %v reveals the password", err)
				}
				if targets.Class(err) != targets.ErrTransient {
					t.Errorf("Open: %v, want a transient error", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer c.Close(context.Background())
			if err := c.(targets.HealthChecker).Health(context.Background()); err != nil {
				t.Errorf("Health: %v", err)
			}
			if _, err := c.Create(context.Background(), targets.Op{ID: "1", ObjectID: "o-" + tt.name, Kind: targets.User, Attrs: map[string]any{"userName": tt.name}}); err != nil {
				t.Errorf("Create: %v", err)
			}
		})
	}
}

// testValueChecks: values that do not fit their column are refused before
// any write, naming the attribute and the column.
func testValueChecks(t *testing.T, srv *dbtest.Server) {
	db, sdb := srv.NewDatabase(t)
	if _, err := sdb.Exec("CREATE TABLE app_users (id VARCHAR(64) PRIMARY KEY, scim_id VARCHAR(255), login VARCHAR(8) UNIQUE, emp_no SMALLINT)"); err != nil {
		t.Fatal(err)
	}
	if srv.Dialect == sqltarget.MySQL {
		// A lenient server would clamp an out-of-range number: the
		// connector's sessions are strict whatever the server's default.
		srv.Exec(t, "SET GLOBAL sql_mode = ''")
		t.Cleanup(func() { srv.Exec(t, "SET GLOBAL sql_mode = DEFAULT") })
	}
	cfg := smallConfig(srv, db, false)
	cfg.CreateSchema = false
	delete(cfg.Users.Attributes, "displayName")
	delete(cfg.Users.Attributes, "mail")
	c := open(t, cfg)
	tests := []struct {
		name  string
		attrs map[string]any
		want  string
	}{
		{"too long", map[string]any{"userName": "ninechars"}, `attribute "userName": column ` + quoteFor(srv, "login") + ` holds at most 8 characters, the value has 9`},
		{"wrong type", map[string]any{"userName": "u", "employeeNumber": "7"}, `attribute "employeeNumber": a string value for a int column ` + quoteFor(srv, "emp_no")},
		{"unmapped", map[string]any{"userName": "u", "password": "x"}, `attribute "password" is not mapped to a column (users.attributes)`},
		{"out of range", map[string]any{"userName": "u", "employeeNumber": int64(70000)}, "emp_no"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Create(context.Background(), targets.Op{ID: "1", ObjectID: "o1", Kind: targets.User, Attrs: tt.attrs})
			if targets.Class(err) != targets.ErrPermanent || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Create: %v, want a permanent error with %q", err, tt.want)
			}
		})
	}
	// Eight characters of four bytes each fit: the limit is characters.
	if _, err := c.Create(context.Background(), targets.Op{ID: "2", ObjectID: "o2", Kind: targets.User, Attrs: map[string]any{"userName": "😀😀😀😀😀😀😀😀"}}); err != nil {
		t.Errorf("Create with 8 emoji: %v", err)
	}
	if rows := dbtest.Dump(t, sdb, "SELECT login FROM app_users"); !slices.Equal(rows, []string{"😀😀😀😀😀😀😀😀"}) {
		t.Errorf("rows %q", rows)
	}
}

func quoteFor(srv *dbtest.Server, id string) string {
	if srv.Dialect == sqltarget.MySQL {
		return "`" + id + "`"
	}
	return `"` + id + `"`
}

// TestMariaDBTLS: against a server that accepts only TLS, the connector
// connects with tls.enabled and the CA of tls.ca_file, and the session is
// encrypted; without TLS, or without the CA, Open fails saying why.
func TestMariaDBTLS(t *testing.T) {
	srv, caFile := dbtest.StartMariaDBTLS(t)
	db, _ := srv.NewDatabase(t)
	tests := []struct {
		name    string
		tls     sqltarget.TLSConfig
		wantErr string
	}{
		{"custom CA", sqltarget.TLSConfig{Enabled: true, TLSConfig: targets.TLSConfig{CAFile: caFile}}, ""},
		{"custom CA and server name", sqltarget.TLSConfig{Enabled: true, TLSConfig: targets.TLSConfig{CAFile: caFile, ServerName: "127.0.0.1"}}, ""},
		{"no TLS", sqltarget.TLSConfig{}, "Access denied"}, // MariaDB refuses the login of a plain connection
		{"system CAs", sqltarget.TLSConfig{Enabled: true}, "certificate signed by unknown authority"},
		{"wrong server name", sqltarget.TLSConfig{Enabled: true, TLSConfig: targets.TLSConfig{CAFile: caFile, ServerName: "db.example.com"}}, "db.example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := appConfig(srv, db)
			cfg.TLS = tt.tls
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			c, err := cfg.Open(context.Background(), targets.Env{Name: "app"})
			if tt.wantErr != "" {
				if err == nil {
					c.Close(context.Background())
					t.Fatalf("Open succeeded, want an error with %q", tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), srv.Password) {
					t.Errorf("Open: %v, want an error with %q (and no password)", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer c.Close(context.Background())
			var name, cipher string
			if err := c.(*sqltarget.Connector).DB().QueryRow("SHOW SESSION STATUS LIKE 'Ssl_cipher'").Scan(&name, &cipher); err != nil || cipher == "" {
				t.Errorf("Ssl_cipher %q, %v: the session is not encrypted", cipher, err)
			}
		})
	}
}
