package sqltarget_test

import (
	"context"
	"errors"
	"testing"

	"github.com/scimgate/scimgate/conformance/connector"
	"github.com/scimgate/scimgate/internal/dbtest"
	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/sqltarget"
)

// dbTests are the tests against a real database server, run on each.
var dbTests = []struct {
	name string
	fn   func(t *testing.T, srv *dbtest.Server)
}{
	{"Conformance", testConformance},
	{"ConformanceProcedures", testConformanceProcedures},
	{"ConformanceStatements", testConformanceStatements},
	{"ConformanceNoUniqueObjectID", testConformanceNoUniqueObjectID},
	{"Rows", testRows},
	{"DisableModes", testDisableModes},
	{"ListCursor", testListCursor},
	{"SchemaCheck", testSchemaCheck},
	{"Credentials", testCredentials},
	{"ValueChecks", testValueChecks},
	{"Lookup", testLookup},
	{"LookupCollation", testLookupCollation},
	{"LargeMembership", testLargeMembership},
}

// TestMariaDB and TestPostgres run dbTests on one server each, every test
// in a fresh database.
func TestMariaDB(t *testing.T)  { runDBTests(t, dbtest.StartMariaDB(t)) }
func TestPostgres(t *testing.T) { runDBTests(t, dbtest.StartPostgres(t)) }

func runDBTests(t *testing.T, srv *dbtest.Server) {
	for _, tt := range dbTests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, srv) })
	}
}

// appConfig is a typical app's schema: users with a unique login, text,
// number, flag and multi-valued mail attributes and a disabled flag;
// groups with a name and a membership table.
func appConfig(srv *dbtest.Server, database string) *sqltarget.Config {
	return &sqltarget.Config{
		Dialect: srv.Dialect, Host: srv.Host, Port: srv.Port, Database: database, User: srv.User, Password: srv.Password,
		CreateSchema: true,
		Users: &sqltarget.ObjectConfig{
			Table: "app_users", Anchor: "id", ObjectID: "scim_id",
			Attributes: map[string]sqltarget.Attribute{
				"userName":       {Column: "login", Unique: true},
				"displayName":    {Column: "display_name"},
				"givenName":      {Column: "given_name"},
				"employeeNumber": {Column: "emp_no", Type: "int"},
				"score":          {Column: "score", Type: "float"},
				"vip":            {Column: "vip", Type: "bool"},
				"mail":           {Type: "strings", Table: "app_user_mails", Key: "user_id", Column: "mail"},
			},
			Disable: &sqltarget.DisableConfig{Column: "disabled", Mode: "flag"},
		},
		Groups: &sqltarget.ObjectConfig{
			Table: "app_groups", Anchor: "id", ObjectID: "scim_id",
			Attributes: map[string]sqltarget.Attribute{"displayName": {Column: "name"}},
			Members:    &sqltarget.MembersConfig{Table: "app_group_members", Group: "group_id", Member: "user_id"},
		},
	}
}

// open validates and opens cfg, closing it at cleanup.
func open(t testing.TB, cfg *sqltarget.Config) *sqltarget.Connector {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	c, err := cfg.Open(context.Background(), targets.Env{Name: "app"})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c.(*sqltarget.Connector)
}

// conformanceSchema is what the suite writes: the appConfig attributes.
var conformanceSchema = connector.Schema{UserName: "userName", GroupName: "displayName", Text: "displayName", Unmanaged: "title"}

func testConformance(t *testing.T, srv *dbtest.Server) {
	db, _ := srv.NewDatabase(t)
	open(t, appConfig(srv, db)) // creates the schema once
	cfg := appConfig(srv, db)
	cfg.CreateSchema = false
	connector.Run(t, func(t *testing.T) targets.Connector {
		return open(t, cfg)
	}, connector.WithSchema(conformanceSchema))
}

// testConformanceNoUniqueObjectID runs the suite on a schema whose object
// id column has no unique index: Create must then look the object id up
// before it inserts (with the index, the database refuses the second
// row). A repeated create with other values must find the first row.
func testConformanceNoUniqueObjectID(t *testing.T, srv *dbtest.Server) {
	db, sdb := srv.NewDatabase(t)
	cfg := smallConfig(srv, db, false)
	open(t, cfg) // creates the schema
	drop := "ALTER TABLE app_users DROP INDEX scim_id"
	if srv.Dialect == sqltarget.Postgres {
		drop = "ALTER TABLE app_users DROP CONSTRAINT app_users_scim_id_key"
	}
	for _, q := range []string{drop, "CREATE INDEX app_users_scim_idx ON app_users (scim_id)"} {
		if _, err := sdb.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	cfg.CreateSchema = false
	c := open(t, cfg)
	ctx := context.Background()
	first, err := c.Create(ctx, targets.Op{ID: "op1", ObjectID: "obj-1", Kind: targets.User, Attrs: map[string]any{"userName": "ada"}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Create(ctx, targets.Op{ID: "op2", ObjectID: "obj-1", Kind: targets.User, Attrs: map[string]any{"userName": "ada2"}})
	var ce *targets.ConflictError
	if !errors.As(err, &ce) || ce.Anchor != first || ce.ObjectID != "obj-1" {
		t.Fatalf("second Create of obj-1 = %v, want a conflict with anchor %s", err, first)
	}
	var n int
	if err := sdb.QueryRow("SELECT COUNT(*) FROM app_users").Scan(&n); err != nil || n != 1 {
		t.Fatalf("rows = %d, %v; want 1", n, err)
	}
	connector.Run(t, func(t *testing.T) targets.Connector { return open(t, cfg) }, connector.WithSchema(smallSchema))
}
