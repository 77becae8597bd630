package gateway

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/scimgate/scimgate/internal/config"
	"github.com/scimgate/scimgate/internal/dbtest"
	"github.com/scimgate/scimgate/internal/engine"
	"github.com/scimgate/scimgate/policy"
)

// The app's state as a person reads it: every column but the anchors,
// which a re-created row changes.
const (
	hrUsers   = "SELECT login, COALESCE(scim_id, '-'), COALESCE(email, '-'), COALESCE(first_name, '-'), COALESCE(last_name, '-'), COALESCE(display_name, '-'), COALESCE(department, '-'), COALESCE(job_title, '-'), status FROM app_users ORDER BY login"
	hrPhones  = "SELECT u.login, p.phone FROM app_user_phones p JOIN app_users u ON u.id = p.user_id ORDER BY u.login, p.phone"
	hrMembers = "SELECT g.name, u.login FROM app_group_members m JOIN app_groups g ON g.id = m.group_id JOIN app_users u ON u.id = m.user_id ORDER BY g.name, u.login"
)

// TestSQLReconcile is the acceptance of reconciliation on MariaDB: the
// shipped example app (examples/sql-mariadb.yaml, target hrapp, matching
// on userName, orphans deleted) whose rows are edited, deleted and added by
// hand; a dry run through the admin API (as scimgate reconcile --dry-run
// calls it) lists exactly those differences and changes no row; a run
// converges the app through the outbox, back to the rows the gateway
// provisioned; a second run has nothing to do.
func TestSQLReconcile(t *testing.T) {
	g, db := startSQLExample(t, func(tc *config.Target) {
		tc.Users.Matching = []string{"userName"}
		tc.Orphans = policy.OrphansDelete
	})
	c := client{t: t, base: g.BaseURL()}
	a := adminClient{t: t, base: strings.TrimSuffix(g.BaseURL(), "/scim/v2"), token: adminToken}
	dump := func() []string {
		var out []string
		for _, q := range []string{hrUsers, hrPhones, hrMembers} {
			out = append(out, dbtest.Dump(t, db, q)...)
		}
		return out
	}
	converge := func(what string, want []string) {
		t.Helper()
		waitFor(t, what, func() (bool, string) {
			if ok, detail := idleNow(t.Context(), g); !ok {
				return false, detail
			}
			got := dump()
			return slices.Equal(got, want), fmt.Sprintf("rows\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
		})
	}

	ids := map[string]string{}
	for _, name := range []string{"alice", "bob", "carol", "dave"} {
		u := entraUser(name+"@contoso.com", "ext-"+name)
		u["title"] = "Guide"
		u["phoneNumbers"] = []any{map[string]any{"type": "work", "value": "+1 555 0100"}, map[string]any{"type": "mobile", "value": "+1 555 0199"}}
		ids[name] = c.must(201, "POST", "/Users", u).body["id"].(string)
	}
	c.must(201, "POST", "/Groups", map[string]any{"displayName": "Walkers",
		"members": []any{map[string]any{"value": ids["alice"]}, map[string]any{"value": ids["bob"]}}})
	var provisioned []string
	waitFor(t, "the users and the group in the app", func() (bool, string) {
		ok, detail := idleNow(t.Context(), g)
		provisioned = dump()
		return ok && len(provisioned) == 4+8+2, detail + fmt.Sprint(provisioned)
	})

	// By hand, in the app's database.
	var daveID string
	if err := db.QueryRow("SELECT id FROM app_users WHERE login = 'dave@contoso.com'").Scan(&daveID); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		"UPDATE app_users SET job_title = 'Hacked', department = 'Nowhere' WHERE login = 'bob@contoso.com'",
		"UPDATE app_users SET status = 'suspended' WHERE login = 'carol@contoso.com'",
		"DELETE FROM app_user_phones WHERE phone = '+1 555 0199' AND user_id = (SELECT id FROM app_users WHERE login = 'alice@contoso.com')",
		"DELETE FROM app_group_members WHERE user_id = (SELECT id FROM app_users WHERE login = 'alice@contoso.com')",
		"DELETE FROM app_user_phones WHERE user_id = '" + daveID + "'",
		"DELETE FROM app_users WHERE id = '" + daveID + "'",
		"INSERT INTO app_users (id, login, email, display_name, status) VALUES ('local-1', 'intern@contoso.com', 'intern@contoso.com', 'Summer Intern', 'active')",
	} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	edited := dump()

	// The lines of a report: outcome, kind, name, action, differences,
	// detail (anchors and the missing account's anchor left out).
	lines := func(rep engine.Report) []string {
		var out []string
		for _, it := range rep.Items {
			line := fmt.Sprintf("%s %s %s %s", it.Outcome, it.Type, it.Name, it.Action)
			if d := Differences(it.Diffs); d != "" {
				line += ": " + d
			}
			out = append(out, line)
		}
		slices.Sort(out)
		return out
	}
	want := []string{
		`drift Group Walkers update: members: +alice@contoso.com`,
		`drift User alice@contoso.com update: phones: ["+1 555 0100"] → ["+1 555 0100","+1 555 0199"]`,
		`drift User bob@contoso.com update: department: "Nowhere" → "Sales"; title: "Hacked" → "Guide"`,
		`drift User carol@contoso.com update: disabled: true → false`,
		`missing User dave@contoso.com create`,
		`orphan User intern@contoso.com delete`,
	}

	dry := a.reconcile("hrapp", "?dryRun=true", "")
	if got := lines(dry); !slices.Equal(got, want) || dry.Status != engine.StatusDone || dry.Changes != 6 {
		t.Fatalf("dry run (%s, %d changes):\n got:\n\t%s\nwant:\n\t%s", dry.Status, dry.Changes, strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
	if dry.Read != 4+1 || dry.Identities != 4+1 || dry.Counts[engine.OutcomeOK] != 0 {
		t.Errorf("dry run: read %d, identities %d, counts %v", dry.Read, dry.Identities, dry.Counts)
	}
	if got := dump(); !slices.Equal(got, edited) {
		t.Fatalf("the dry run changed the app:\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(edited, "\n\t"))
	}

	run := a.reconcile("hrapp", "", "")
	if got := lines(run); !slices.Equal(got, want) || run.Status != engine.StatusDone || run.DryRun {
		t.Fatalf("run:\n got:\n\t%s\nwant:\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
	converge("the app back to the provisioned rows", provisioned)
	var newDave string
	if err := db.QueryRow("SELECT id FROM app_users WHERE login = 'dave@contoso.com'").Scan(&newDave); err != nil || newDave == daveID {
		t.Errorf("dave re-created with anchor %q (%v); the old one was %q", newDave, err, daveID)
	}

	again := a.reconcile("hrapp", "", "")
	if again.Changes != 0 || len(again.Items) != 0 || again.Counts[engine.OutcomeOK] != 4+1 || again.Read != 4+1 {
		t.Errorf("the second run has something to do: %+v", again)
	}
}
