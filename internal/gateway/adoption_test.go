package gateway

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/scimgate/scimgate/internal/dbtest"
	"github.com/scimgate/scimgate/internal/ldaptest"
)

// matchingBy adds matching attributes to the users of a target's YAML.
func matchingBy(targetYAML string, attrs string) string {
	const users = "  users:\n    scope: {all: true}\n    mapping:\n"
	if !strings.Contains(targetYAML, users) {
		panic("no users policy in the target")
	}
	return strings.Replace(targetYAML, users, "  users:\n    matching: ["+attrs+"]\n    scope: {all: true}\n    mapping:\n", 1)
}

// deadLetter waits for the one dead letter of target and returns its
// error.
func deadLetter(t *testing.T, g *Gateway, target string) string {
	t.Helper()
	a := adminClient{t: t, base: strings.TrimSuffix(g.BaseURL(), "/scim/v2"), token: adminToken}
	var msg string
	waitFor(t, "a dead letter in "+target, func() (bool, string) {
		dead := list(a.call(200, "GET", "/targets/"+target+"/deadletters"), "deadLetters")
		if len(dead) != 1 {
			return false, fmt.Sprint(dead)
		}
		msg, _ = dead[0]["lastError"].(string)
		return true, ""
	})
	return msg
}

// TestAdoptionSQL: rows that exist in an app's database before the gateway
// (same login as new SCIM users) are adopted, not duplicated nor
// dead-lettered: the row keeps its key, gets the user's SCIM id and the
// mapped values. A row already linked to another identity is a conflict
// naming both. MariaDB and PostgreSQL.
func TestAdoptionSQL(t *testing.T) {
	for _, start := range []func(testing.TB) *dbtest.Server{dbtest.StartMariaDB, dbtest.StartPostgres} {
		srv := start(t)
		t.Run(srv.Dialect, func(t *testing.T) {
			name, db := srv.NewDatabase(t)
			dsn := filepath.Join(t.TempDir(), "dsn")
			if err := os.WriteFile(dsn, []byte(srv.DSN(name)), 0o600); err != nil {
				t.Fatal(err)
			}
			g := startTargetsGateway(t, fmt.Appendf(nil, matchingBy(sqlAppTarget, "userName"), srv.Dialect, dsn, 4), nil)
			sg := &sqlGateway{g: g, db: db}
			c := client{t: t, base: g.BaseURL()}
			const users = "SELECT id, COALESCE(scim_id, '-'), login, display_name FROM app_users ORDER BY login"

			// karl is provisioned; the app already has grace's row.
			karl := c.must(201, "POST", "/Users", entraUser("karl@contoso.com", "ext-karl")).body["id"].(string)
			sg.rows(t, "SELECT login FROM app_users", "karl@contoso.com")
			if _, err := db.ExecContext(t.Context(),
				"INSERT INTO app_users (id, login, display_name, status) VALUES ('legacy-17', 'grace@contoso.com', 'G. Hopper (old)', 'active')"); err != nil {
				t.Fatal(err)
			}
			karlRow := dbtest.Dump(t, db, "SELECT id FROM app_users WHERE login = 'karl@contoso.com'")[0]

			grace := c.must(201, "POST", "/Users", entraUser("grace@contoso.com", "ext-grace")).body["id"].(string)
			sg.rows(t, users,
				"legacy-17\t"+grace+"\tgrace@contoso.com\tGiven Family",
				karlRow+"\t"+karl+"\tkarl@contoso.com\tGiven Family")

			// karl's row renamed by hand to judy's login: judy cannot take it.
			if _, err := db.ExecContext(t.Context(), "UPDATE app_users SET login = 'judy@contoso.com' WHERE id = '"+karlRow+"'"); err != nil {
				t.Fatal(err)
			}
			judy := c.must(201, "POST", "/Users", entraUser("judy@contoso.com", "ext-judy")).body["id"].(string)
			msg := deadLetter(t, g, "app")
			for _, want := range []string{"linked to another identity", karl, "karl@contoso.com", judy, "judy@contoso.com", `userName="judy@contoso.com"`} {
				if !strings.Contains(msg, want) {
					t.Errorf("the conflict %q does not name %q", msg, want)
				}
			}
			sg.rows(t, "SELECT COUNT(*) FROM app_users", "2")
		})
	}
}

// TestAdoptionLDAP: an entry that exists in the directory before the
// gateway, with the uid of a new SCIM user, is adopted: same DN and
// entryUUID, the object id and mapped values written, no second entry.
func TestAdoptionLDAP(t *testing.T) {
	s := ldaptest.Start(t)
	pw := filepath.Join(t.TempDir(), "bindpw")
	if err := os.WriteFile(pw, []byte(ldaptest.AdminPassword), 0o600); err != nil {
		t.Fatal(err)
	}
	conn := s.MustDial(t)
	add := ldap.NewAddRequest("uid=grace@contoso.com,ou=people,dc=example,dc=org", nil)
	add.Attribute("objectClass", []string{"inetOrgPerson"})
	add.Attribute("uid", []string{"grace@contoso.com"})
	add.Attribute("cn", []string{"G. Hopper (old)"})
	add.Attribute("sn", []string{"Hopper"})
	add.Attribute("userPassword", []string{"her-own-password"})
	if err := conn.Add(add); err != nil {
		t.Fatal(err)
	}
	before := s.Entries(t, ldaptest.BaseDN, "(uid=grace@contoso.com)")[0].GetAttributeValue("entryUUID")

	g := startTargetsGateway(t, fmt.Appendf(nil, matchingBy(ldapTarget, "uid"), s.URL, pw, 2), nil)
	lg := &ldapGateway{g: g, s: s}
	c := client{t: t, base: g.BaseURL()}
	grace := c.must(201, "POST", "/Users", ldapUser("grace@contoso.com", "Grace Hopper")).body["id"].(string)
	lg.wait(t)
	es := s.Entries(t, ldaptest.BaseDN, "(uid=grace@contoso.com)")
	if len(es) != 1 {
		t.Fatalf("%d entries with grace's uid, want 1", len(es))
	}
	e := es[0]
	if got := e.GetAttributeValue("entryUUID"); got != before {
		t.Errorf("entryUUID %s, want the existing entry's %s", got, before)
	}
	if e.GetAttributeValue("employeeType") != grace || e.GetAttributeValue("cn") != "Grace Hopper" {
		t.Errorf("adopted entry: employeeType %q cn %q, want %s and Grace Hopper", e.GetAttributeValue("employeeType"), e.GetAttributeValue("cn"), grace)
	}
	if err := conn.Bind("uid=grace@contoso.com,ou=people,dc=example,dc=org", "her-own-password"); err != nil {
		t.Errorf("the adopted account's own password no longer works (an initial password was written): %v", err)
	}
}
