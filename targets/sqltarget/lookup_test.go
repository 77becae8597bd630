package sqltarget_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/scimgate/scimgate/internal/dbtest"
	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/sqltarget"
)

// lookupAnchors returns the anchors that Lookup finds, failing t on an
// error.
func lookupAnchors(t *testing.T, c *sqltarget.Connector, kind targets.Kind, attr string, value any, limit int) []string {
	t.Helper()
	objs, err := c.Lookup(context.Background(), kind, attr, value, limit)
	if err != nil {
		t.Fatalf("Lookup %s=%#v: %v", attr, value, err)
	}
	out := []string{}
	for _, o := range objs {
		out = append(out, o.Anchor)
	}
	return out
}

// testLookup: Lookup through the columns and the child table of
// appConfig: typed values, a value two users share, a child row repeated
// by the app, the refusals.
func testLookup(t *testing.T, srv *dbtest.Server) {
	db, sdb := srv.NewDatabase(t)
	c := open(t, appConfig(srv, db))
	ctx := context.Background()
	create := func(id string, attrs map[string]any) string {
		t.Helper()
		a, err := c.Create(ctx, targets.Op{ID: "op-" + id, ObjectID: id, Kind: targets.User, Attrs: attrs})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	ada := create("o-ada", map[string]any{"userName": "ada", "displayName": "A. L.", "employeeNumber": int64(7), "score": 2.5, "vip": true,
		"mail": []string{"shared@x.org", "ada@x.org"}})
	bob := create("o-bob", map[string]any{"userName": "bob", "displayName": "Bob", "employeeNumber": int64(0), "vip": false,
		"mail": []string{"shared@x.org"}})
	// The app holds a mail twice for ada (its child table has no unique
	// key): she is found once.
	if _, err := sdb.Exec("INSERT INTO app_user_mails (user_id, mail) VALUES ("+placeholders(srv, 2)+")", ada, "ada@x.org"); err != nil {
		t.Fatal(err)
	}
	both := slices.Sorted(slices.Values([]string{ada, bob}))
	tests := []struct {
		name  string
		attr  string
		value any
		limit int
		want  []string
	}{
		{"login", "userName", "ada", 0, []string{ada}},
		{"int", "employeeNumber", int64(7), 0, []string{ada}},
		{"int zero", "employeeNumber", int64(0), 0, []string{bob}},
		{"float", "score", 2.5, 0, []string{ada}},
		{"bool", "vip", false, 0, []string{bob}},
		{"child table", "mail", "ada@x.org", 0, []string{ada}},
		{"child table, shared, in anchor order", "mail", "shared@x.org", 0, both},
		{"child table, limit 1", "mail", "shared@x.org", 1, both[:1]},
		{"child table, no match", "mail", "nobody@x.org", 0, []string{}},
		{"a value with a pattern character", "mail", "%@x.org", 0, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := lookupAnchors(t, c, targets.User, tt.attr, tt.value, tt.limit); !slices.Equal(got, tt.want) {
				t.Errorf("Lookup %s=%v: %q, want %q", tt.attr, tt.value, got, tt.want)
			}
		})
	}
	objs, err := c.Lookup(ctx, targets.User, "mail", "ada@x.org", 0)
	if err != nil || len(objs) != 1 || objs[0].ObjectID != "o-ada" || objs[0].Attrs["userName"] != "ada" {
		t.Errorf("Lookup by mail: %+v, %v; want ada with her object id and attributes", objs, err)
	}

	refusals := []struct {
		name  string
		attr  string
		value any
		want  string
	}{
		// MySQL would compare 'abc' = 0 as true: the types must agree.
		{"string for an int column", "employeeNumber", "0", `attribute "employeeNumber": a value of type string, want an int64`},
		{"int for a string column", "userName", int64(0), `attribute "userName": a value of type int64, want a string`},
		{"several values", "mail", []string{"ada@x.org"}, `attribute "mail": a value of type []string, want a string (one of its values)`},
		{"nil", "userName", nil, `attribute "userName": a value of type <nil>`},
		{"unmapped", "title", "x", `attribute "title" is not mapped to a column (users.attributes)`},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := c.Lookup(ctx, targets.User, tt.attr, tt.value, 0)
			if targets.Class(err) != targets.ErrPermanent || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Lookup: %v, %v; want a permanent error with %q", objs, err, tt.want)
			}
		})
	}

	t.Run("NUL", func(t *testing.T) {
		if srv.Dialect == sqltarget.Postgres {
			// No text value holds NUL: nothing matches, and the value is
			// not sent (PostgreSQL would refuse it).
			if got := lookupAnchors(t, c, targets.User, "userName", "ada\x00", 0); len(got) != 0 {
				t.Errorf("Lookup with NUL: %q, want none", got)
			}
			return
		}
		eve := create("o-eve", map[string]any{"userName": "e\x00ve"})
		if got := lookupAnchors(t, c, targets.User, "userName", "e\x00ve", 0); !slices.Equal(got, []string{eve}) {
			t.Errorf("Lookup with NUL: %q, want eve", got)
		}
		if got := lookupAnchors(t, c, targets.User, "userName", "e", 0); len(got) != 0 {
			t.Errorf("Lookup cut at NUL: %q, want none", got)
		}
	})
}

// testLookupCollation: on tables the app created with the database's
// defaults, Lookup compares as the column's collation, and so as its
// unique index: MariaDB's default utf8mb4 collation ignores case,
// PostgreSQL's text does not. The child table's column alike.
func testLookupCollation(t *testing.T, srv *dbtest.Server) {
	db, sdb := srv.NewDatabase(t)
	suffix := ""
	if srv.Dialect == sqltarget.MySQL {
		suffix = " DEFAULT CHARSET=utf8mb4"
	}
	for _, q := range []string{
		"CREATE TABLE app_users (id VARCHAR(64) PRIMARY KEY, scim_id VARCHAR(255) UNIQUE, login VARCHAR(255) UNIQUE, display_name VARCHAR(255), emp_no SMALLINT)" + suffix,
		"CREATE TABLE app_user_mails (user_id VARCHAR(64) NOT NULL, mail VARCHAR(255) NOT NULL)" + suffix,
	} {
		if _, err := sdb.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	caseInsensitive := srv.Dialect == sqltarget.MySQL
	if caseInsensitive {
		var coll string
		if err := sdb.QueryRow("SELECT collation_name FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = 'app_users' AND column_name = 'login'").Scan(&coll); err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(coll, "_ci") {
			t.Fatalf("the server's default utf8mb4 collation is %s, not a case-insensitive one: this test's premise", coll)
		}
		t.Logf("login's collation: %s", coll)
	}
	cfg := smallConfig(srv, db, false)
	cfg.CreateSchema = false
	c := open(t, cfg)
	ctx := context.Background()
	grace, err := c.Create(ctx, targets.Op{ID: "1", ObjectID: "o-grace", Kind: targets.User,
		Attrs: map[string]any{"userName": "Grace@Contoso.com", "mail": []string{"Grace@Contoso.com"}}})
	if err != nil {
		t.Fatal(err)
	}
	var folded []string // what a lookup in another case finds
	if caseInsensitive {
		folded = []string{grace}
	}
	for _, attr := range []string{"userName", "mail"} {
		if got := lookupAnchors(t, c, targets.User, attr, "Grace@Contoso.com", 0); !slices.Equal(got, []string{grace}) {
			t.Errorf("Lookup %s in the stored case: %q, want grace", attr, got)
		}
		if got := lookupAnchors(t, c, targets.User, attr, "grace@contoso.com", 0); len(got) != len(folded) || len(got) > 0 && got[0] != grace {
			t.Errorf("Lookup %s in lower case: %q, want %q", attr, got, folded)
		}
	}
	// The unique index compares the same way.
	_, err = c.Create(ctx, targets.Op{ID: "2", ObjectID: "o-grace2", Kind: targets.User, Attrs: map[string]any{"userName": "grace@contoso.com"}})
	switch {
	case caseInsensitive && targets.Class(err) != targets.ErrConflict:
		t.Errorf("Create of the login in lower case: %v, want a conflict with grace (the unique index ignores case)", err)
	case !caseInsensitive && err != nil:
		t.Errorf("Create of the login in lower case: %v, want a second user (the unique index compares case)", err)
	}
	// A number out of the column's range matches nothing, with no error.
	if got := lookupAnchors(t, c, targets.User, "employeeNumber", int64(70000), 0); len(got) != 0 {
		t.Errorf("Lookup of a number out of SMALLINT's range: %q", got)
	}
}

// placeholders returns n placeholders of the dialect, separated by commas.
func placeholders(srv *dbtest.Server, n int) string {
	ph := make([]string, n)
	for i := range ph {
		ph[i] = "?"
		if srv.Dialect == sqltarget.Postgres {
			ph[i] = "$" + string(rune('1'+i))
		}
	}
	return strings.Join(ph, ", ")
}
