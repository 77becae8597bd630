package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/graphtest"
)

// The fake tenant of the entra tests.
const (
	entraApp       = "11111111-2222-4333-8444-555555555555"
	entraSmallApp  = "22222222-2222-4333-8444-555555555555" // without GroupMember.ReadWrite.All
	entraSecret    = "entra-cli-s3cret-never-printed-0123456789"
	entraAlice     = "a11ce000-0000-4000-8000-000000000001"
	entraBob       = "b0b00000-0000-4000-8000-000000000002"
	entraGuest     = "c4401000-0000-4000-8000-000000000005"
	entraStaff     = "57aff000-0000-4000-8000-000000000003"
	entraDynamic   = "d1000000-0000-4000-8000-000000000004"
	entraGuestUPN  = "carol_fabrikam.example#EXT#@contoso.example"
	entraFeatures  = "{membership: true, enable_disable: true, delete_users: true, revoke_sessions: true}"
	entraConfigFmt = `entra:
  tenant_id: %s
  client_id: %s
  credential: client_secret
  client_secret_env: TEST_ENTRA_CLIENT_SECRET
  authority_host: %s
  graph_url: %s
  features: ` + entraFeatures + "\n"
)

// entraTenant starts the fake tenant with both apps, and makes the
// gateway processes started after it trust its CA (SSL_CERT_FILE) and
// find the client secret.
func entraTenant(t *testing.T) *graphtest.Server {
	t.Helper()
	s := graphtest.Start(t)
	s.AddApp(graphtest.App{ClientID: entraApp, Secret: entraSecret, Roles: []string{"User.Read.All", "GroupMember.ReadWrite.All",
		"User.EnableDisableAccount.All", "User.ReadWrite.All", "User.RevokeSessions.All"}})
	s.AddApp(graphtest.App{ClientID: entraSmallApp, Secret: entraSecret, Roles: []string{"User.Read.All", "GroupMember.Read.All",
		"User.EnableDisableAccount.All", "User.ReadWrite.All", "User.RevokeSessions.All"}})
	created := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	s.AddUser(graphtest.User{ID: entraAlice, UserPrincipalName: "alice@contoso.example", DisplayName: "Alice Adams", GivenName: "Alice",
		Surname: "Adams", Mail: "alice@contoso.example", JobTitle: "Engineer", Department: "R&D", AccountEnabled: true, CreatedDateTime: created})
	s.AddUser(graphtest.User{ID: entraBob, UserPrincipalName: "bob@contoso.example", DisplayName: "Bob Brown", AccountEnabled: true, CreatedDateTime: created})
	s.AddUser(graphtest.User{ID: entraGuest, UserPrincipalName: entraGuestUPN, DisplayName: "Carol (guest)", Mail: "carol@fabrikam.example",
		UserType: "Guest", ExternalUserState: "Accepted", AccountEnabled: true, CreatedDateTime: created})
	s.AddGroup(graphtest.Group{ID: entraStaff, DisplayName: "Staff", SecurityEnabled: true, Members: []string{entraAlice}, Owners: []string{entraAlice}})
	s.AddGroup(graphtest.Group{ID: entraDynamic, DisplayName: "All R&D", SecurityEnabled: true, GroupTypes: []string{"DynamicMembership"},
		MembershipRule: `(user.department -eq "R&D")`})
	ca := filepath.Join(t.TempDir(), "graphtest-ca.pem")
	if err := os.WriteFile(ca, s.CertificatePEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SSL_CERT_FILE", ca)
	t.Setenv("TEST_ENTRA_CLIENT_SECRET", entraSecret)
	for _, k := range []string{"SCIMGATE_ADMIN_TOKEN", "SCIMGATE_ADMIN_URL"} {
		t.Setenv(k, "") // restored after the test
		os.Unsetenv(k)  // the gateway generates its admin token
	}
	return s
}

// entraProc is a gateway process and the way to run "scimgate entra"
// against it.
type entraProc struct {
	adminURL, tokenFile string
}

// startEntraProc starts a gateway process with config (none when "").
func startEntraProc(t *testing.T, config string) entraProc {
	t.Helper()
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	var flags []string
	if config != "" {
		cfgFile := filepath.Join(dir, "scimgate.yaml")
		if err := os.WriteFile(cfgFile, []byte(config), 0o600); err != nil {
			t.Fatal(err)
		}
		flags = []string{"--config", cfgFile}
	}
	p := startProc(t, dataDir, flags...)
	return entraProc{adminURL: strings.TrimSuffix(p.base, "/scim/v2"), tokenFile: filepath.Join(dataDir, "admin-token")}
}

func entraConfig(s *graphtest.Server, clientID string) string {
	return fmt.Sprintf(entraConfigFmt, graphtest.TenantID, clientID, s.AuthorityHost, s.GraphURL)
}

// run runs "scimgate entra ARGS" (through run, or entraCmd when stdin is
// given) against the gateway, checks its exit code and that neither the
// admin token nor the client secret shows.
func (p entraProc) run(t *testing.T, code int, stdin string, args ...string) (stdout, stderr string) {
	t.Helper()
	args = append([]string{"--url", p.adminURL, "--token-file", p.tokenFile}, args...)
	var out, errOut bytes.Buffer
	var got int
	if stdin != "" {
		got = entraCmd(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	} else {
		got = run(append([]string{"entra"}, args...), &out, &errOut)
	}
	if got != code {
		t.Fatalf("scimgate entra %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args[4:], " "), got, code, out.String(), errOut.String())
	}
	token, err := os.ReadFile(p.tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{strings.TrimSpace(string(token)), entraSecret} {
		if strings.Contains(out.String()+errOut.String(), secret) {
			t.Fatalf("scimgate entra %s shows a secret", strings.Join(args[4:], " "))
		}
	}
	return out.String(), errOut.String()
}

// TestEntraEndToEnd runs "scimgate entra" against a real gateway process
// whose entra section names the fake tenant over TLS: lookups (an id, a
// UPN, a guest's #EXT# UPN), group lookups, member changes and their
// repeats, disable/enable/revoke, delete with and without confirmation,
// the check, a dynamic group's refusal; the audit log names the admin
// token that asked for every change. Tables and JSON are compared with
// testdata/entra/*.golden.
func TestEntraEndToEnd(t *testing.T) {
	s := entraTenant(t)
	p := startEntraProc(t, entraConfig(s, entraApp))

	for _, tc := range []struct {
		name   string
		args   []string
		golden string
	}{
		{"user by id", []string{"user", entraAlice}, "user"},
		{"user by UPN", []string{"user", "alice@contoso.example"}, "user"},
		{"guest by #EXT# UPN", []string{"user", entraGuestUPN}, "user-guest"},
		{"user as JSON", []string{"user", "--json", "alice@contoso.example"}, "user-json"},
		{"group", []string{"group", entraStaff}, "group"},
		{"dynamic group", []string{"group", entraDynamic}, "group-dynamic"},
		{"group as JSON", []string{"--json", "group", entraStaff}, "group-json"},
		{"add member by UPN", []string{"add-member", entraStaff, "bob@contoso.example"}, "add-member"},
		{"add member again: already a member", []string{"add-member", entraStaff, entraBob}, "add-member-again"},
		{"add member as JSON", []string{"add-member", entraStaff, entraBob, "--json"}, "add-member-json"},
		{"remove member", []string{"remove-member", entraStaff, entraBob}, "remove-member"},
		{"remove member again: not a member", []string{"remove-member", entraStaff, "bob@contoso.example"}, "remove-member-again"},
		{"disable", []string{"disable", "alice@contoso.example"}, "disable"},
		{"enable", []string{"enable", entraAlice}, "enable"},
		{"revoke", []string{"revoke", entraAlice}, "revoke"},
		{"check", []string{"check"}, "check"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, _ := p.run(t, 0, "", tc.args...)
			checkGoldenIn(t, "entra", tc.golden, []byte(out))
		})
	}
	if u, _ := s.User(entraAlice); !u.AccountEnabled || u.SessionsRevoked != 1 {
		t.Errorf("alice: %+v", u)
	}
	if g, _ := s.Group(entraStaff); strings.Join(g.Members, ",") != entraAlice {
		t.Errorf("staff members: %v", g.Members)
	}

	t.Run("dynamic group refuses a member", func(t *testing.T) {
		_, errOut := p.run(t, 1, "", "add-member", entraDynamic, entraBob)
		for _, want := range []string{"scimgate entra: entra: add member: dynamic group: its members follow its membership rule and cannot be changed",
			`membershipRule "(user.department -eq \"R&D\")"`, "(HTTP 409)"} {
			if !strings.Contains(errOut, want) {
				t.Errorf("stderr lacks %q:\n%s", want, errOut)
			}
		}
	})
	t.Run("delete not confirmed", func(t *testing.T) {
		out, errOut := p.run(t, 1, "no\n", "delete", entraGuestUPN)
		if out != "" || !strings.Contains(errOut, "Delete the Entra user Carol (guest) <"+entraGuestUPN+"> (id "+entraGuest+", Guest)?") ||
			!strings.Contains(errOut, "scimgate entra: user "+entraGuestUPN+" not deleted: not confirmed (type yes, or give --yes)") {
			t.Errorf("stdout:\n%s\nstderr:\n%s", out, errOut)
		}
		if s.Deleted(entraGuest) {
			t.Fatal("deleted without confirmation")
		}
	})
	t.Run("delete confirmed", func(t *testing.T) {
		out, errOut := p.run(t, 0, "yes\n", "delete", entraGuestUPN)
		if !strings.HasPrefix(errOut, "Delete the Entra user Carol (guest)") {
			t.Errorf("stderr:\n%s", errOut)
		}
		checkGoldenIn(t, "entra", "delete", []byte(out))
		if !s.Deleted(entraGuest) {
			t.Error("not deleted")
		}
	})
	t.Run("delete --yes as JSON", func(t *testing.T) {
		out, _ := p.run(t, 0, "", "delete", "bob@contoso.example", "--yes", "--json")
		checkGoldenIn(t, "entra", "delete-json", []byte(out))
		if !s.Deleted(entraBob) {
			t.Error("not deleted")
		}
	})
	t.Run("unknown user", func(t *testing.T) {
		if _, errOut := p.run(t, 1, "", "user", "nobody@contoso.example"); !strings.Contains(errOut, "scimgate entra: entra: look up user: not found") ||
			!strings.Contains(errOut, "(HTTP 404)") {
			t.Errorf("stderr:\n%s", errOut)
		}
	})

	// The audit log: every change with the admin token that asked.
	var out, errOut bytes.Buffer
	if code := run([]string{"admin", "--url", p.adminURL, "--token-file", p.tokenFile, "audit"}, &out, &errOut); code != 0 {
		t.Fatalf("admin audit: %d %s", code, errOut.String())
	}
	actor := `\S+Z +admin: static token #1 +`
	for _, want := range []string{
		actor + `entra delete user +EntraUser +- +` + entraBob + ` +- +ok\n  detail: bob@contoso\.example\n`,
		actor + `entra delete user +EntraUser +- +` + entraGuest + ` +- +ok\n`,
		actor + `entra add member +EntraGroup +- +` + entraDynamic + ` +- +failed\n  detail: member ` + entraBob + `: entra: add member: dynamic group`,
		actor + `entra revoke sessions user +EntraUser +- +` + entraAlice + ` +- +ok\n`,
		actor + `entra enable user +EntraUser +- +` + entraAlice + ` +- +ok\n`,
		actor + `entra disable user +EntraUser +- +` + entraAlice + ` +- +ok\n  detail: alice@contoso\.example\n`,
		actor + `entra remove member +EntraGroup +- +` + entraStaff + ` +- +ok\n  detail: member ` + entraBob + ` \(bob@contoso\.example\): not a member, nothing changed\n`,
		actor + `entra remove member +EntraGroup +- +` + entraStaff + ` +- +ok\n  detail: member ` + entraBob + `: removed\n`,
		actor + `entra add member +EntraGroup +- +` + entraStaff + ` +- +ok\n  detail: member ` + entraBob + `: already a member, nothing changed\n`,
		actor + `entra add member +EntraGroup +- +` + entraStaff + ` +- +ok\n  detail: member ` + entraBob + ` \(bob@contoso\.example\): added\n`,
	} {
		if !regexp.MustCompile(want).MatchString(out.String()) {
			t.Errorf("the audit log does not match %s:\n%s", want, out.String())
		}
	}
	if n := strings.Count(out.String(), " entra "); n != 11 { // 2 adds, 1 repeated add as JSON, 2 removes, 1 refused, 3 user actions, 2 deletes
		t.Errorf("%d Entra entries in the audit log, want 11 (no lookup, no unconfirmed delete):\n%s", n, out.String())
	}
}

// TestEntraRefusals: readable errors for a missing permission (the app
// lacks GroupMember.ReadWrite.All) from add-member and check, and for a
// gateway without an entra section.
func TestEntraRefusals(t *testing.T) {
	s := entraTenant(t)
	p := startEntraProc(t, entraConfig(s, entraSmallApp))
	_, errOut := p.run(t, 1, "", "add-member", entraStaff, "bob@contoso.example")
	for _, want := range []string{"scimgate entra: entra: add member: permission missing: the app needs the application permission(s) GroupMember.ReadWrite.All, admin consented",
		"(HTTP 403)"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("add-member stderr lacks %q:\n%s", want, errOut)
		}
	}
	out, errOut := p.run(t, 1, "", "check")
	checkGoldenIn(t, "entra", "check-missing", []byte(out))
	if errOut != "scimgate entra: permissions missing: GroupMember.ReadWrite.All (grant them to the app registration as application permissions, with admin consent)\n" {
		t.Errorf("check stderr:\n%s", errOut)
	}

	none := startEntraProc(t, "")
	for _, args := range [][]string{{"user", entraAlice}, {"add-member", entraStaff, entraBob}, {"delete", entraBob, "--yes"}, {"check"}} {
		_, errOut := none.run(t, 1, "", args...)
		if !strings.HasPrefix(errOut, "scimgate entra: no entra section in the configuration") || !strings.Contains(errOut, "(HTTP 404)") {
			t.Errorf("%v without an entra section: %s", args, errOut)
		}
	}
}

// TestEntraUsage: "scimgate entra -h" is the usage, naming every command;
// bad command lines print it and call nothing.
func TestEntraUsage(t *testing.T) {
	for name := range entraCommands {
		if !strings.Contains(entraUsage, "\n  "+name+" ") {
			t.Errorf("the entra usage does not list %q", name)
		}
	}
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		golden string
		stderr string
	}{
		{"help", []string{"-h"}, 0, "usage", ""},
		{"no command", nil, 2, "", "Usage: scimgate entra COMMAND"},
		{"unknown command", []string{"frobnicate"}, 2, "", `scimgate entra: usage: unknown entra command "frobnicate"`},
		{"missing argument", []string{"add-member", entraStaff}, 2, "", "scimgate entra: usage: add-member GROUP USER (got 1 argument)"},
		{"--yes of another command", []string{"disable", entraBob, "--yes"}, 2, "", "scimgate entra: usage: --yes does not apply to disable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := run(append([]string{"entra"}, tc.args...), &out, &errOut); code != tc.code {
				t.Errorf("exit %d, want %d", code, tc.code)
			}
			if !strings.Contains(errOut.String(), tc.stderr) || tc.stderr == "" && errOut.Len() > 0 {
				t.Errorf("stderr:\n%s", errOut.String())
			}
			checkGoldenIn(t, "entra", tc.golden, out.Bytes())
		})
	}
}
