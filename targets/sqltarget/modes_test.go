package sqltarget_test

import (
	"context"
	"database/sql"
	"slices"
	"strings"
	"testing"

	"github.com/scimgate/scimgate/conformance/connector"
	"github.com/scimgate/scimgate/internal/dbtest"
	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/sqltarget"
)

// smallConfig is the schema of the procedure and statement modes: users
// with a login, a display name, an employee number and mails.
func smallConfig(srv *dbtest.Server, database string, groups bool) *sqltarget.Config {
	cfg := appConfig(srv, database)
	cfg.Users.Attributes = map[string]sqltarget.Attribute{
		"userName":       {Column: "login", Unique: true},
		"displayName":    {Column: "display_name"},
		"employeeNumber": {Column: "emp_no", Type: "int"},
		"mail":           {Type: "strings", Table: "app_user_mails", Key: "user_id", Column: "mail"},
	}
	if !groups {
		cfg.Groups, cfg.Users.Disable = nil, nil
	}
	return cfg
}

var smallSchema = connector.Schema{UserName: "userName", GroupName: "displayName", Text: "displayName", Unmanaged: "title",
	Values: map[string]any{"employeeNumber": int64(-1815), "mail": []string{"ada@example.com", "ada.lovelace@example.org"}}}

// procedures creates the app's stored procedures, in the dialect.
func procedures(t *testing.T, db *sql.DB, dialect string) {
	t.Helper()
	var stmts []string
	if dialect == sqltarget.MySQL {
		stmts = []string{
			`CREATE PROCEDURE app_user_create(p_id VARCHAR(64), p_scim VARCHAR(255), p_login VARCHAR(255), p_display VARCHAR(255), p_emp BIGINT)
			 BEGIN INSERT INTO app_users (id, scim_id, login, display_name, emp_no, disabled) VALUES (p_id, p_scim, p_login, p_display, p_emp, FALSE); END`,
			`CREATE PROCEDURE app_user_update(p_id VARCHAR(64), p_scim VARCHAR(255), p_login VARCHAR(255), p_display VARCHAR(255), p_emp BIGINT)
			 BEGIN UPDATE app_users SET scim_id = p_scim, login = p_login, display_name = p_display, emp_no = p_emp WHERE id = p_id; END`,
			`CREATE PROCEDURE app_user_delete(p_id VARCHAR(64)) BEGIN DELETE FROM app_users WHERE id = p_id; END`,
			`CREATE PROCEDURE app_user_disable(p_id VARCHAR(64)) BEGIN UPDATE app_users SET disabled = TRUE WHERE id = p_id; END`,
			`CREATE PROCEDURE app_user_enable(p_id VARCHAR(64)) BEGIN UPDATE app_users SET disabled = FALSE WHERE id = p_id; END`,
			`CREATE PROCEDURE app_group_save(p_id VARCHAR(64), p_scim VARCHAR(255), p_name VARCHAR(255))
			 BEGIN INSERT INTO app_groups (id, scim_id, name) VALUES (p_id, p_scim, p_name) ON DUPLICATE KEY UPDATE scim_id = p_scim, name = p_name; END`,
			`CREATE PROCEDURE app_group_delete(p_id VARCHAR(64)) BEGIN DELETE FROM app_groups WHERE id = p_id; END`,
			`CREATE PROCEDURE app_member_add(p_group VARCHAR(64), p_user VARCHAR(64)) BEGIN INSERT INTO app_group_members (group_id, user_id) VALUES (p_group, p_user); END`,
			`CREATE PROCEDURE app_member_remove(p_group VARCHAR(64), p_user VARCHAR(64)) BEGIN DELETE FROM app_group_members WHERE group_id = p_group AND user_id = p_user; END`,
		}
	} else {
		stmts = []string{
			`CREATE PROCEDURE app_user_create(p_id text, p_scim text, p_login text, p_display text, p_emp bigint) LANGUAGE sql
			 AS $$ INSERT INTO app_users (id, scim_id, login, display_name, emp_no, disabled) VALUES (p_id, p_scim, p_login, p_display, p_emp, FALSE) $$`,
			`CREATE PROCEDURE app_user_update(p_id text, p_scim text, p_login text, p_display text, p_emp bigint) LANGUAGE sql
			 AS $$ UPDATE app_users SET scim_id = p_scim, login = p_login, display_name = p_display, emp_no = p_emp WHERE id = p_id $$`,
			`CREATE PROCEDURE app_user_delete(p_id text) LANGUAGE sql AS $$ DELETE FROM app_users WHERE id = p_id $$`,
			`CREATE PROCEDURE app_user_disable(p_id text) LANGUAGE sql AS $$ UPDATE app_users SET disabled = TRUE WHERE id = p_id $$`,
			`CREATE PROCEDURE app_user_enable(p_id text) LANGUAGE sql AS $$ UPDATE app_users SET disabled = FALSE WHERE id = p_id $$`,
			`CREATE PROCEDURE app_group_save(p_id text, p_scim text, p_name text) LANGUAGE sql
			 AS $$ INSERT INTO app_groups (id, scim_id, name) VALUES (p_id, p_scim, p_name) ON CONFLICT (id) DO UPDATE SET scim_id = p_scim, name = p_name $$`,
			`CREATE PROCEDURE app_group_delete(p_id text) LANGUAGE sql AS $$ DELETE FROM app_groups WHERE id = p_id $$`,
			`CREATE PROCEDURE app_member_add(p_group text, p_user text) LANGUAGE sql AS $$ INSERT INTO app_group_members (group_id, user_id) VALUES (p_group, p_user) $$`,
			`CREATE PROCEDURE app_member_remove(p_group text, p_user text) LANGUAGE sql AS $$ DELETE FROM app_group_members WHERE group_id = p_group AND user_id = p_user $$`,
		}
	}
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// procedureConfig routes every write through the procedures.
func procedureConfig(srv *dbtest.Server, database string) *sqltarget.Config {
	cfg := smallConfig(srv, database, true)
	cfg.CreateSchema = false
	// One connection: an operation that needed a second one while it
	// holds its transaction would hang.
	cfg.Pool.MaxOpen = 1
	user := []string{"anchor", "objectId", "userName", "displayName", "employeeNumber"}
	cfg.Users.Procedures = map[string]sqltarget.Procedure{
		"create":  {Name: "app_user_create", Args: user},
		"update":  {Name: "app_user_update", Args: user},
		"delete":  {Name: "app_user_delete", Args: []string{"anchor"}},
		"disable": {Name: "app_user_disable", Args: []string{"anchor"}},
		"enable":  {Name: "app_user_enable", Args: []string{"anchor"}},
	}
	group := []string{"anchor", "objectId", "displayName"}
	cfg.Groups.Procedures = map[string]sqltarget.Procedure{
		"create":        {Name: "app_group_save", Args: group},
		"update":        {Name: "app_group_save", Args: group},
		"delete":        {Name: "app_group_delete", Args: []string{"anchor"}},
		"add_member":    {Name: "app_member_add", Args: []string{"anchor", "member"}},
		"remove_member": {Name: "app_member_remove", Args: []string{"anchor", "member"}},
	}
	return cfg
}

// statementConfig routes every user write through custom statements; the
// target has no groups and cannot disable.
func statementConfig(srv *dbtest.Server, database string) *sqltarget.Config {
	cfg := smallConfig(srv, database, false)
	cfg.CreateSchema = false
	cfg.Users.Statements = map[string][]string{
		"create": {`INSERT INTO app_users (id, scim_id, login, display_name, emp_no) VALUES (:anchor, :objectId, :userName, :displayName, :employeeNumber)`},
		"update": {`UPDATE app_users SET scim_id = :objectId, login = :userName, display_name = :displayName WHERE id = :anchor`,
			`UPDATE app_users SET emp_no = :employeeNumber /* ':not_a_param' */ WHERE id = :anchor AND 'it''s :x' <> ''`},
		"delete": {`DELETE FROM app_users WHERE id = :anchor`},
	}
	return cfg
}

func testConformanceProcedures(t *testing.T, srv *dbtest.Server) {
	db, sdb := srv.NewDatabase(t)
	open(t, func() *sqltarget.Config { c := smallConfig(srv, db, true); c.CreateSchema = true; return c }())
	procedures(t, sdb, srv.Dialect)
	cfg := procedureConfig(srv, db)
	connector.Run(t, func(t *testing.T) targets.Connector { return open(t, cfg) }, connector.WithSchema(smallSchema))
}

func testConformanceStatements(t *testing.T, srv *dbtest.Server) {
	db, _ := srv.NewDatabase(t)
	open(t, func() *sqltarget.Config { c := smallConfig(srv, db, false); c.CreateSchema = true; return c }())
	cfg := statementConfig(srv, db)
	c := open(t, cfg)
	if caps := c.Capabilities(); caps.Groups || caps.Disable {
		t.Errorf("Capabilities() = %+v, want none", caps)
	}
	connector.Run(t, func(t *testing.T) targets.Connector { return open(t, cfg) }, connector.WithSchema(smallSchema))
}

// TestRows checks the exact rows each mode writes: the same operations
// through tables, procedures and statements leave the same rows.
func testRows(t *testing.T, srv *dbtest.Server) {
	modes := []struct {
		name   string
		setup  func(t *testing.T, db string, sdb *sql.DB) *sqltarget.Config
		groups bool
	}{
		{"tables", func(t *testing.T, db string, _ *sql.DB) *sqltarget.Config {
			return smallConfig(srv, db, true)
		}, true},
		{"procedures", func(t *testing.T, db string, sdb *sql.DB) *sqltarget.Config {
			open(t, func() *sqltarget.Config { c := smallConfig(srv, db, true); c.CreateSchema = true; return c }())
			procedures(t, sdb, srv.Dialect)
			return procedureConfig(srv, db)
		}, true},
		{"statements", func(t *testing.T, db string, sdb *sql.DB) *sqltarget.Config {
			open(t, func() *sqltarget.Config { c := smallConfig(srv, db, false); c.CreateSchema = true; return c }())
			return statementConfig(srv, db)
		}, false},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			ctx := context.Background()
			db, sdb := srv.NewDatabase(t)
			c := open(t, m.setup(t, db, sdb))
			ada, err := c.Create(ctx, targets.Op{ID: "1", ObjectID: "o-ada", Kind: targets.User, Attrs: map[string]any{
				"userName": "ada", "displayName": "Ada L", "employeeNumber": int64(7), "mail": []string{"a@x.org", "b@x.org"}}})
			if err != nil {
				t.Fatal(err)
			}
			bob, err := c.Create(ctx, targets.Op{ID: "2", ObjectID: "o-bob", Kind: targets.User, Attrs: map[string]any{"userName": "bob"}})
			if err != nil {
				t.Fatal(err)
			}
			err = c.Update(ctx, targets.Op{ID: "3", ObjectID: "o-ada", Kind: targets.User, Anchor: ada, Attrs: map[string]any{
				"userName": "ada2", "employeeNumber": nil, "mail": []string{"c@x.org"}}})
			if err != nil {
				t.Fatal(err)
			}
			users := dbtest.Dump(t, sdb, "SELECT id, scim_id, login, display_name, emp_no FROM app_users ORDER BY login")
			want := []string{ada + "\to-ada\tada2\tAda L\tNULL", bob + "\to-bob\tbob\tNULL\tNULL"}
			if !slices.Equal(users, want) {
				t.Errorf("users rows\n%q\nwant\n%q", users, want)
			}
			mails := dbtest.Dump(t, sdb, "SELECT user_id, mail FROM app_user_mails ORDER BY mail")
			if want := []string{ada + "\tc@x.org"}; !slices.Equal(mails, want) {
				t.Errorf("mail rows %q, want %q", mails, want)
			}
			if m.groups {
				g, err := c.Create(ctx, targets.Op{ID: "4", ObjectID: "o-g", Kind: targets.Group, Attrs: map[string]any{"displayName": "Staff"}})
				if err != nil {
					t.Fatal(err)
				}
				if err := c.AddMembers(ctx, targets.Op{ID: "5", ObjectID: "o-g", Kind: targets.Group, Anchor: g, Members: []string{ada, bob}}); err != nil {
					t.Fatal(err)
				}
				if err := c.RemoveMembers(ctx, targets.Op{ID: "6", ObjectID: "o-g", Kind: targets.Group, Anchor: g, Members: []string{bob}}); err != nil {
					t.Fatal(err)
				}
				if err := c.Disable(ctx, targets.Op{ID: "7", ObjectID: "o-bob", Kind: targets.User, Anchor: bob}); err != nil {
					t.Fatal(err)
				}
				rows := dbtest.Dump(t, sdb, "SELECT g.name, m.user_id FROM app_groups g JOIN app_group_members m ON m.group_id = g.id")
				if want := []string{"Staff\t" + ada}; !slices.Equal(rows, want) {
					t.Errorf("membership rows %q, want %q", rows, want)
				}
				rows = dbtest.Dump(t, sdb, "SELECT login FROM app_users WHERE disabled = TRUE")
				if want := []string{"bob"}; !slices.Equal(rows, want) {
					t.Errorf("disabled users %q, want %q", rows, want)
				}
			}
			if err := c.Delete(ctx, targets.Op{ID: "8", ObjectID: "o-ada", Kind: targets.User, Anchor: ada}); err != nil {
				t.Fatal(err)
			}
			for _, q := range []string{"SELECT id FROM app_users WHERE login = 'ada2'", "SELECT mail FROM app_user_mails"} {
				if rows := dbtest.Dump(t, sdb, q); len(rows) != 0 {
					t.Errorf("%s after Delete: %q", q, rows)
				}
			}
			if m.groups {
				if rows := dbtest.Dump(t, sdb, "SELECT user_id FROM app_group_members"); len(rows) != 0 {
					t.Errorf("memberships of a deleted user: %q", rows)
				}
			}
		})
	}
}

// TestDisableModes: the three representations of a disabled user, in
// the rows and through Get.
func testDisableModes(t *testing.T, srv *dbtest.Server) {
	tests := []struct {
		name    string
		disable sqltarget.DisableConfig
		query   string // the user's state column, as text
		enabled string
		off     string
	}{
		{"flag", sqltarget.DisableConfig{Column: "locked", Mode: "flag"}, "SELECT CASE WHEN locked THEN 'yes' ELSE 'no' END FROM app_users", "no", "yes"},
		{"inverted flag", sqltarget.DisableConfig{Column: "active", Mode: "flag", Invert: true}, "SELECT CASE WHEN active THEN 'yes' ELSE 'no' END FROM app_users", "yes", "no"},
		{"status", sqltarget.DisableConfig{Column: "status", Mode: "status", EnabledValue: "ACTIVE", DisabledValue: "SUSPENDED"}, "SELECT status FROM app_users", "ACTIVE", "SUSPENDED"},
		{"date", sqltarget.DisableConfig{Column: "disabled_at", Mode: "date"}, "SELECT CASE WHEN disabled_at IS NULL THEN 'null' ELSE 'set' END FROM app_users", "null", "set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			db, sdb := srv.NewDatabase(t)
			cfg := smallConfig(srv, db, false)
			cfg.Users.Disable = &tt.disable
			c := open(t, cfg)
			a, err := c.Create(ctx, targets.Op{ID: "1", ObjectID: "o1", Kind: targets.User, Attrs: map[string]any{"userName": "u"}})
			if err != nil {
				t.Fatal(err)
			}
			state := func(what, want string, disabled bool) {
				t.Helper()
				if got := dbtest.Dump(t, sdb, tt.query); !slices.Equal(got, []string{want}) {
					t.Errorf("%s: column %q, want %q", what, got, want)
				}
				if o, err := c.Get(ctx, targets.User, a); err != nil || o.Disabled != disabled {
					t.Errorf("%s: Get: Disabled %v, %v; want %v", what, o.Disabled, err, disabled)
				}
			}
			state("after Create", tt.enabled, false)
			op := targets.Op{ID: "2", ObjectID: "o1", Kind: targets.User, Anchor: a}
			for range 2 {
				if err := c.Disable(ctx, op); err != nil {
					t.Fatal(err)
				}
				state("after Disable", tt.off, true)
			}
			if err := c.Enable(ctx, op); err != nil {
				t.Fatal(err)
			}
			state("after Enable", tt.enabled, false)
		})
	}
}

// TestListCursor: an invalid cursor is permanent; pages follow anchors.
func testListCursor(t *testing.T, srv *dbtest.Server) {
	db, _ := srv.NewDatabase(t)
	c := open(t, smallConfig(srv, db, false))
	ctx := context.Background()
	for _, cur := range []string{"not base64 !", "", "eA"} {
		if cur == "" {
			continue
		}
		if _, err := c.List(ctx, targets.User, cur, 2); targets.Class(err) != targets.ErrPermanent {
			t.Errorf("List with cursor %q: %v, want ErrPermanent", cur, err)
		}
	}
	var anchors []string
	for i := range 5 {
		a, err := c.Create(ctx, targets.Op{ID: "c", ObjectID: strings.Repeat("x", i+1), Kind: targets.User, Attrs: map[string]any{"userName": strings.Repeat("u", i+1)}})
		if err != nil {
			t.Fatal(err)
		}
		anchors = append(anchors, a)
	}
	slices.Sort(anchors)
	var got []string
	pages := 0
	for cur := ""; ; pages++ {
		p, err := c.List(ctx, targets.User, cur, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range p.Objects {
			got = append(got, o.Anchor)
		}
		if cur = p.Next; cur == "" {
			break
		}
	}
	if !slices.Equal(got, anchors) || pages != 2 {
		t.Errorf("listed %q in %d pages, want %q in 3", got, pages+1, anchors)
	}
}
