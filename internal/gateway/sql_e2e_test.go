package gateway

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/scimgate/scimgate/internal/config"
	"github.com/scimgate/scimgate/internal/dbtest"
	"github.com/scimgate/scimgate/internal/engine"
)

// sqlAppTarget is a sql target "app" on a typical app schema, which the
// connector creates (create_schema): users with a login, a display name,
// a department, mails in a child table and a status column; groups with
// a membership table. Its DSN comes from a file. %s: dialect, DSN file.
const sqlAppTarget = `
- name: app
  type: sql
  config:
    dialect: %s
    dsn_file: %s
    create_schema: true
    pool: {max_open: %d}
    users:
      table: app_users
      anchor: id
      object_id: scim_id
      attributes:
        userName: {column: login, unique: true}
        displayName: {column: display_name}
        department: {column: department}
        mail: {type: strings, table: app_user_mails, key: user_id, column: mail}
      disable: {column: status, mode: status, enabled_value: active, disabled_value: suspended}
    groups:
      table: app_groups
      anchor: id
      object_id: scim_id
      attributes:
        name: {column: name}
      members: {table: app_group_members, group: group_id, member: user_id}
  users:
    scope: {all: true}
    mapping:
      - {target: userName, source: userName}
      - {target: displayName, expression: 'Join(" ", user.name.givenName, user.name.familyName)'}
      - {target: department, expression: 'user.enterprise.department'}
      - {target: mail, source: emails.value}
  groups:
    scope: {all: true}
    mapping:
      - {target: name, source: displayName}
  lifecycle:
    deleteGracePeriod: 2s
`

// sqlGateway is a running gateway whose target "app" is a database.
type sqlGateway struct {
	g  *Gateway
	db *sql.DB // the app's database, as its superuser
}

// startSQLGateway starts a gateway provisioning a fresh database of srv
// with a pool of pool connections; tune adjusts the engine's options.
func startSQLGateway(t testing.TB, srv *dbtest.Server, pool int, tune func(*engine.Options)) *sqlGateway {
	t.Helper()
	name, db := srv.NewDatabase(t)
	dsn := filepath.Join(t.TempDir(), "dsn")
	if err := os.WriteFile(dsn, []byte(srv.DSN(name)), 0o600); err != nil {
		t.Fatal(err)
	}
	return &sqlGateway{g: startTargetsGateway(t, fmt.Appendf(nil, sqlAppTarget, srv.Dialect, dsn, pool), tune), db: db}
}

// rows waits until query returns want (the engine delivers
// asynchronously, a delete after its grace period), failing with the
// last rows.
func (sg *sqlGateway) rows(t *testing.T, query string, want ...string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	waitFor(t, query, func() (bool, string) {
		if ok, detail := idleNow(t.Context(), sg.g); !ok {
			return false, detail
		}
		got := dbtest.Dump(t, sg.db, query)
		return slices.Equal(got, want), fmt.Sprintf("rows\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	})
}

// TestSQLEndToEnd sends Entra-style SCIM traffic to a gateway with a sql
// target and checks the app's rows after each step: users with their
// attributes and mails, disable, rename, groups and membership rows, and
// deletes.
func TestSQLEndToEnd(t *testing.T) {
	for _, start := range []func(testing.TB) *dbtest.Server{dbtest.StartMariaDB, dbtest.StartPostgres} {
		srv := start(t)
		t.Run(srv.Dialect, func(t *testing.T) { testSQLEndToEnd(t, srv) })
	}
}

func testSQLEndToEnd(t *testing.T, srv *dbtest.Server) {
	sg := startSQLGateway(t, srv, 8, nil)
	c := client{t: t, base: sg.g.BaseURL()}
	const users = "SELECT u.id, u.scim_id, u.login, u.display_name, u.department, u.status FROM app_users u ORDER BY u.login"
	const mails = "SELECT u.login, m.mail FROM app_user_mails m JOIN app_users u ON u.id = m.user_id ORDER BY u.login, m.mail"
	const groups = "SELECT g.scim_id, g.name FROM app_groups g ORDER BY g.name"
	const members = "SELECT g.name, u.login FROM app_group_members m JOIN app_groups g ON g.id = m.group_id JOIN app_users u ON u.id = m.user_id ORDER BY g.name, u.login"

	alice := c.must(201, "POST", "/Users", entraUser("alice@contoso.com", "ext-alice")).body["id"].(string)
	bobUser := entraUser("bob@contoso.com", "ext-bob")
	bobUser["name"] = map[string]any{"givenName": "Bob", "familyName": "O'Brien 👩🏽‍💻"}
	bobUser["emails"] = []any{
		map[string]any{"type": "work", "primary": true, "value": "bob@contoso.com"},
		map[string]any{"type": "home", "value": `bob'); DROP TABLE app_users;--@example.com`},
	}
	bob := c.must(201, "POST", "/Users", bobUser).body["id"].(string)

	var aliceID, bobID string
	t.Run("create", func(t *testing.T) {
		sg.rows(t, "SELECT login, scim_id, display_name, department, status FROM app_users ORDER BY login",
			"alice@contoso.com\t"+alice+"\tGiven Family\tSales\tactive",
			"bob@contoso.com\t"+bob+"\tBob O'Brien 👩🏽‍💻\tSales\tactive")
		sg.rows(t, mails,
			"alice@contoso.com\talice@contoso.com",
			"bob@contoso.com\tbob'); DROP TABLE app_users;--@example.com",
			"bob@contoso.com\tbob@contoso.com")
		ids := dbtest.Dump(t, sg.db, "SELECT id FROM app_users ORDER BY login")
		aliceID, bobID = ids[0], ids[1]
	})
	t.Run("PATCH attributes", func(t *testing.T) {
		c.must(200, "PATCH", "/Users/"+alice, patchOps(
			op("Replace", enterprise+":department", "Marketing"),
			op("Replace", `emails[type eq "work"].value`, "alice.w@contoso.com")))
		sg.rows(t, "SELECT login, department FROM app_users WHERE id = '"+aliceID+"'", "alice@contoso.com\tMarketing")
		sg.rows(t, mails,
			"alice@contoso.com\talice.w@contoso.com",
			"bob@contoso.com\tbob'); DROP TABLE app_users;--@example.com",
			"bob@contoso.com\tbob@contoso.com")
	})
	t.Run("PATCH active false disables", func(t *testing.T) {
		c.must(200, "PATCH", "/Users/"+alice, patchOps(op("Replace", "active", "False")))
		sg.rows(t, "SELECT login, status FROM app_users ORDER BY login", "alice@contoso.com\tsuspended", "bob@contoso.com\tactive")
		c.must(200, "PATCH", "/Users/"+alice, patchOps(op("Replace", "active", "True")))
		sg.rows(t, "SELECT login, status FROM app_users ORDER BY login", "alice@contoso.com\tactive", "bob@contoso.com\tactive")
	})
	t.Run("rename keeps the anchor", func(t *testing.T) {
		c.must(200, "PATCH", "/Users/"+alice, patchOps(op("Replace", "userName", "alice.smith@contoso.com")))
		sg.rows(t, "SELECT id, login FROM app_users WHERE scim_id = '"+alice+"'", aliceID+"\talice.smith@contoso.com")
	})
	var group string
	t.Run("group with a member", func(t *testing.T) {
		group = c.must(201, "POST", "/Groups", map[string]any{
			"displayName": "Sales Team", "members": []any{map[string]any{"value": alice}},
		}).body["id"].(string)
		sg.rows(t, groups, group+"\tSales Team")
		sg.rows(t, members, "Sales Team\talice.smith@contoso.com")
	})
	t.Run("members added and removed", func(t *testing.T) {
		c.must(204, "PATCH", "/Groups/"+group, patchOps(op("Add", "members", []any{map[string]any{"value": bob}})))
		sg.rows(t, members, "Sales Team\talice.smith@contoso.com", "Sales Team\tbob@contoso.com")
		c.must(204, "PATCH", "/Groups/"+group, patchOps(op("remove", fmt.Sprintf(`members[value eq "%s"]`, alice), nil)))
		sg.rows(t, members, "Sales Team\tbob@contoso.com")
	})
	t.Run("group rename", func(t *testing.T) {
		c.must(204, "PATCH", "/Groups/"+group, patchOps(op("Replace", "displayName", "Sales EMEA")))
		sg.rows(t, groups, group+"\tSales EMEA")
		sg.rows(t, members, "Sales EMEA\tbob@contoso.com")
	})
	t.Run("DELETE suspends, then removes the row after the grace period", func(t *testing.T) {
		c.must(204, "DELETE", "/Users/"+bob, nil)
		// Suspended at once (the delete is queued for later, so the
		// engine is not idle meanwhile).
		waitFor(t, "bob suspended", func() (bool, string) {
			got := dbtest.Dump(t, sg.db, "SELECT status FROM app_users WHERE id = '"+bobID+"'")
			return slices.Equal(got, []string{"suspended"}), fmt.Sprint(got)
		})
		sg.rows(t, "SELECT id, login FROM app_users ORDER BY login", aliceID+"\talice.smith@contoso.com")
		sg.rows(t, "SELECT user_id FROM app_user_mails WHERE user_id = '"+bobID+"'")
		sg.rows(t, members)
	})
	t.Run("group delete", func(t *testing.T) {
		c.must(204, "DELETE", "/Groups/"+group, nil)
		sg.rows(t, groups)
		sg.rows(t, "SELECT group_id FROM app_group_members")
	})
	// The whole table, to the last column.
	sg.rows(t, users, aliceID+"\t"+alice+"\talice.smith@contoso.com\tGiven Family\tMarketing\tactive")
}

// TestSQLExample: the shipped examples/sql-mariadb.yaml, on the tables of
// examples/sql-schema.sql in a real MariaDB, with an account that may
// only read and write rows, provisions a user with phone numbers and a
// group, and suspends a disabled user.
func TestSQLExample(t *testing.T) {
	g, db := startSQLExample(t, nil)
	c := client{t: t, base: g.BaseURL()}
	u := entraUser("walk@contoso.com", "ext-walk")
	u["title"] = "Guide"
	u["phoneNumbers"] = []any{map[string]any{"type": "work", "value": "+1 555 0100"}, map[string]any{"type": "mobile", "value": "+1 555 0199"}}
	id := c.must(201, "POST", "/Users", u).body["id"].(string)
	c.must(201, "POST", "/Groups", map[string]any{"displayName": "Walkers", "members": []any{map[string]any{"value": id}}})
	want := func(query string, rows ...string) {
		t.Helper()
		waitFor(t, query, func() (bool, string) {
			got := dbtest.Dump(t, db, query)
			return slices.Equal(got, rows), fmt.Sprintf("%q, want %q", got, rows)
		})
	}
	want("SELECT scim_id, login, email, first_name, last_name, display_name, department, job_title, status FROM app_users",
		id+"\twalk@contoso.com\twalk@contoso.com\tGiven\tFamily\tGiven Family\tSales\tGuide\tactive")
	want("SELECT p.phone FROM app_user_phones p JOIN app_users u ON u.id = p.user_id ORDER BY p.phone", "+1 555 0100", "+1 555 0199")
	want("SELECT g.name, u.login FROM app_group_members m JOIN app_groups g ON g.id = m.group_id JOIN app_users u ON u.id = m.user_id", "Walkers\twalk@contoso.com")
	c.must(200, "PATCH", "/Users/"+id, patchOps(op("Replace", "active", "False")))
	want("SELECT status FROM app_users", "suspended")
}

// startSQLExample starts a gateway on the shipped examples/sql-mariadb.yaml
// (its target hrapp, with mutate applied, and the test's admin token), on
// the tables of examples/sql-schema.sql in a fresh database of a real
// MariaDB that the gateway reaches with an account that may only read and
// write rows. It returns the gateway and the app's database as its
// superuser.
func startSQLExample(t *testing.T, mutate func(*config.Target)) (*Gateway, *sql.DB) {
	t.Helper()
	cfg, err := config.Load("../../examples/sql-mariadb.yaml", nil)
	if err != nil {
		t.Fatalf("sql-mariadb.yaml: %v", err)
	}
	if len(cfg.Targets) != 1 {
		t.Fatalf("%d targets, want 1", len(cfg.Targets))
	}
	srv := dbtest.StartMariaDB(t)
	name, db := srv.NewDatabase(t)
	schema, err := os.ReadFile("../../examples/sql-schema.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range strings.Split(string(schema), ";\n") {
		if strings.Contains(stmt, "CREATE") {
			if _, err := db.Exec(stmt); err != nil {
				t.Fatalf("sql-schema.sql: %v", err)
			}
		}
	}
	srv.Exec(t, "CREATE USER 'scimgate'@'127.0.0.1' IDENTIFIED BY 'walk-through-pw'",
		"GRANT SELECT, INSERT, UPDATE, DELETE ON "+name+".* TO 'scimgate'@'127.0.0.1'")
	t.Setenv("HRAPP_DB_PASSWORD", "walk-through-pw")
	node := &cfg.Targets[0].Config
	for i := 0; i+1 < len(node.Content); i += 2 {
		switch node.Content[i].Value {
		case "port":
			node.Content[i+1].Value = fmt.Sprint(srv.Port)
		case "database":
			node.Content[i+1].Value = name
		}
	}
	if mutate != nil {
		mutate(&cfg.Targets[0])
	}
	g := runGateway(t, func(c *config.Config) {
		c.Targets = cfg.Targets
		c.Admin.Tokens = []config.Secret{adminToken}
	})
	return g, db
}
