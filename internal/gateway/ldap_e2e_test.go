package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	ldap "github.com/go-ldap/ldap/v3"

	"github.com/scimgate/scimgate/internal/config"
	"github.com/scimgate/scimgate/internal/engine"
	"github.com/scimgate/scimgate/internal/ldaptest"
	"github.com/scimgate/scimgate/policy"
	"github.com/scimgate/scimgate/targets/registry"
)

// ldapTarget is an ldap target (OpenLDAP: inetOrgPerson users,
// groupOfNames groups, ppolicy disable) for every user and group; %s are
// the server's URL and the bind password file.
const ldapTarget = `
- name: dir
  type: ldap
  config:
    url: %s
    bind_dn: cn=admin,dc=example,dc=org
    bind_password_file: %s
    base_dn: dc=example,dc=org
    pool_size: %d
    users:
      dn_template: "uid={uid},ou=people,dc=example,dc=org"
      object_id_attribute: employeeType
    groups:
      style: groupOfNames
      dn_template: "cn={cn},ou=groups,dc=example,dc=org"
      placeholder_member: "cn=nobody,dc=example,dc=org"
    disable: {method: ppolicy}
  users:
    scope: {all: true}
    mapping:
      - {target: uid, source: userName}
      - {target: cn, source: displayName}
      - {target: displayName, source: displayName}
      - {target: sn, source: name.familyName}
      - {target: givenName, source: name.givenName}
      - {target: mail, source: 'emails[type eq "work"].value'}
      - {target: userPassword, expression: 'RandomString(16, 2, 2, 2, 2)', apply: onCreate}
  groups:
    scope: {all: true}
    mapping:
      - {target: cn, source: displayName}
  lifecycle:
    outOfScope: disable
    deleteGracePeriod: 0s
    deletionGuard: {off: true}
`

// ldapGateway is a running gateway whose target "dir" is a slapd.
type ldapGateway struct {
	g *Gateway
	s *ldaptest.Server
}

// startLDAPGateway starts a slapd and a gateway provisioning it; tune
// adjusts the engine's options.
func startLDAPGateway(t testing.TB, pool int, tune func(*engine.Options)) *ldapGateway {
	t.Helper()
	s := ldaptest.Start(t)
	pw := filepath.Join(t.TempDir(), "bindpw")
	if err := os.WriteFile(pw, []byte(ldaptest.AdminPassword), 0o600); err != nil {
		t.Fatal(err)
	}
	g := startTargetsGateway(t, fmt.Appendf(nil, ldapTarget, s.URL, pw, pool), tune)
	return &ldapGateway{g: g, s: s}
}

func (lg *ldapGateway) wait(t *testing.T) {
	t.Helper()
	waitFor(t, "the engine to deliver every operation", func() (bool, string) { return idleNow(t.Context(), lg.g) })
}

// people returns the user entries by uid.
func (lg *ldapGateway) people(t *testing.T) map[string]*ldap.Entry {
	t.Helper()
	out := map[string]*ldap.Entry{}
	for _, e := range lg.s.Entries(t, ldaptest.BaseDN, "(objectClass=inetOrgPerson)") {
		out[e.GetAttributeValue("uid")] = e
	}
	return out
}

// group returns the group entry named cn, nil when absent.
func (lg *ldapGateway) group(t *testing.T, cn string) *ldap.Entry {
	t.Helper()
	es := lg.s.Entries(t, ldaptest.GroupsDN, "(cn="+ldap.EscapeFilter(cn)+")")
	if len(es) != 1 {
		return nil
	}
	return es[0]
}

func ldapUser(userName, displayName string) map[string]any {
	u := entraUser(userName, "ext-"+userName)
	u["displayName"] = displayName
	u["emails"] = []any{map[string]any{"primary": true, "type": "work", "value": "user@contoso.com"}}
	return u
}

// TestLDAPEndToEnd sends Entra-style SCIM traffic to a gateway provisioning
// a real slapd and checks the entries and memberships in the directory
// after each step: create, group membership, disable, rename, enable,
// member removal, delete, and an injection corpus.
func TestLDAPEndToEnd(t *testing.T) {
	lg := startLDAPGateway(t, 4, nil)
	c := client{t: t, base: lg.g.BaseURL()}
	alice := c.must(201, "POST", "/Users", ldapUser("alice@contoso.com", "Alice Smith")).body["id"].(string)
	bob := c.must(201, "POST", "/Users", ldapUser("bob@contoso.com", "Bob Jones")).body["id"].(string)
	lg.wait(t)

	people := lg.people(t)
	a, b := people["alice@contoso.com"], people["bob@contoso.com"]
	if a == nil || b == nil {
		t.Fatalf("after the creates: people %v", slices.Collect(maps.Keys(people)))
	}
	if a.DN != "uid=alice@contoso.com,ou=people,dc=example,dc=org" || a.GetAttributeValue("cn") != "Alice Smith" ||
		a.GetAttributeValue("sn") != "Family" || a.GetAttributeValue("employeeType") != alice ||
		a.GetAttributeValue("userPassword") == "" || a.GetAttributeValue("mail") != "user@contoso.com" {
		t.Errorf("alice's entry: %s %v", a.DN, a.Attributes)
	}
	aliceUUID, bobDN := a.GetAttributeValue("entryUUID"), b.DN

	group := c.must(201, "POST", "/Groups", map[string]any{
		"displayName": "Sales Team", "members": []any{map[string]any{"value": alice}},
	}).body["id"].(string)
	lg.wait(t)
	members := func(what string, want ...string) {
		t.Helper()
		g := lg.group(t, "Sales Team")
		if g == nil {
			t.Fatalf("%s: no group entry", what)
		}
		got := slices.Sorted(slices.Values(g.GetAttributeValues("member")))
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: member %q, want %q", what, got, want)
		}
	}
	members("group created with alice", a.DN)
	c.must(204, "PATCH", "/Groups/"+group, patchOps(op("Add", "members", []any{map[string]any{"value": bob}})))
	lg.wait(t)
	members("bob added", a.DN, bobDN)

	// Disable: active false locks the account (ppolicy).
	c.must(200, "PATCH", "/Users/"+alice, patchOps(op("Replace", "active", "False")))
	lg.wait(t)
	if got := lg.people(t)["alice@contoso.com"].GetAttributeValue("pwdAccountLockedTime"); got == "" {
		t.Errorf("alice not locked after active=false")
	}

	// Rename: a new userName renames the entry, keeps its entryUUID, and
	// the group follows.
	c.must(200, "PATCH", "/Users/"+alice, patchOps(op("Replace", "userName", "alice.smith@contoso.com")))
	lg.wait(t)
	people = lg.people(t)
	if people["alice@contoso.com"] != nil {
		t.Errorf("the old entry of alice is still there")
	}
	a = people["alice.smith@contoso.com"]
	if a == nil || a.DN != "uid=alice.smith@contoso.com,ou=people,dc=example,dc=org" || a.GetAttributeValue("entryUUID") != aliceUUID {
		t.Fatalf("alice after the rename: %v", a)
	}
	if a.GetAttributeValue("pwdAccountLockedTime") == "" {
		t.Errorf("the rename enabled alice")
	}
	members("after alice's rename", a.DN, bobDN)

	// Enable.
	c.must(200, "PATCH", "/Users/"+alice, patchOps(op("Replace", "active", "True")))
	lg.wait(t)
	if got := lg.people(t)["alice.smith@contoso.com"].GetAttributeValue("pwdAccountLockedTime"); got != "" {
		t.Errorf("alice still locked after active=true: %q", got)
	}

	// Member removal, then delete of the last member: the placeholder
	// keeps the groupOfNames valid.
	c.must(204, "PATCH", "/Groups/"+group, patchOps(op("remove", fmt.Sprintf(`members[value eq "%s"]`, bob), nil)))
	lg.wait(t)
	members("bob removed", a.DN)
	c.must(204, "DELETE", "/Users/"+alice, nil)
	lg.wait(t)
	if lg.people(t)["alice.smith@contoso.com"] != nil {
		t.Errorf("alice's entry survived her delete")
	}
	members("alice deleted", "cn=nobody,dc=example,dc=org")

	// Injection corpus: each hostile user creates, changes and deletes
	// only its own entry; bob and the group are untouched.
	corpus := []string{
		`*`, `*)(uid=*))(|(uid=*`, `bob@contoso.com)(uid=*`, `x,ou=groups,dc=example,dc=org`,
		`cn=Sales Team+uid=x`, `#hash`, ` leading and trailing `, `back\slash\2a`, `quote"d`,
		`semi;colon<angle>`, `Zoë Ångström 日本語`, `\00null-ish`, `a=b`,
	}
	ids := map[string]string{}
	for i, name := range corpus {
		ids[name] = c.must(201, "POST", "/Users", ldapUser(name, fmt.Sprintf("display %d %s", i, name))).body["id"].(string)
	}
	lg.wait(t)
	people = lg.people(t)
	if len(people) != len(corpus)+1 {
		t.Errorf("%d people, want bob and the %d hostile users", len(people), len(corpus))
	}
	for i, name := range corpus {
		e := people[name]
		if e == nil {
			t.Errorf("hostile user %q has no entry of its own", name)
			continue
		}
		if e.GetAttributeValue("employeeType") != ids[name] || e.GetAttributeValue("displayName") != fmt.Sprintf("display %d %s", i, name) {
			t.Errorf("hostile user %q: entry %s %v", name, e.DN, e.Attributes)
		}
		c.must(200, "PATCH", "/Users/"+ids[name], patchOps(op("Replace", "displayName", "changed "+name)))
	}
	lg.wait(t)
	people = lg.people(t)
	for _, name := range corpus {
		if e := people[name]; e == nil || e.GetAttributeValue("displayName") != "changed "+name {
			t.Errorf("hostile user %q after its change: %v", name, e)
		}
		c.must(204, "DELETE", "/Users/"+ids[name], nil)
	}
	lg.wait(t)
	people = lg.people(t)
	if len(people) != 1 || people["bob@contoso.com"] == nil || people["bob@contoso.com"].GetAttributeValue("displayName") != "Bob Jones" ||
		people["bob@contoso.com"].DN != bobDN {
		var names []string
		for k := range people {
			names = append(names, k)
		}
		t.Errorf("after the hostile users' deletes: people %q, want bob untouched", names)
	}
	members("after the injection corpus", "cn=nobody,dc=example,dc=org")
	if n := len(lg.s.Entries(t, ldaptest.BaseDN, "(objectClass=*)")); n != 7 {
		t.Errorf("%d entries in the directory, want 7 (base, policy, 3 OUs, bob, the group)", n)
	}
}

// TestLDAPExamples: the shipped LDAP examples load and validate, and the
// OpenLDAP one, pointed at a real slapd, provisions a user and a group
// and locks a disabled user.
func TestLDAPExamples(t *testing.T) {
	if _, err := config.Load("../../examples/ldap-ad.yaml", nil); err != nil {
		t.Errorf("ldap-ad.yaml: %v", err)
	}
	cfg, err := config.Load("../../examples/ldap-openldap.yaml", nil)
	if err != nil {
		t.Fatalf("ldap-openldap.yaml: %v", err)
	}
	s := ldaptest.Start(t)
	t.Setenv("LDAP_BIND_PASSWORD", ldaptest.AdminPassword)
	if len(cfg.Targets) != 1 {
		t.Fatalf("%d targets, want 1", len(cfg.Targets))
	}
	node := &cfg.Targets[0].Config
	for i := 0; i+1 < len(node.Content); i += 2 {
		if node.Content[i].Value == "url" {
			node.Content[i+1].Value = s.URL
		}
	}
	lg := &ldapGateway{s: s}
	base := startGatewayWith(t, func(c *config.Config) { c.Targets = cfg.Targets })
	c := client{t: t, base: base}
	id := c.must(201, "POST", "/Users", ldapUser("walk@contoso.com", "Walk Through")).body["id"].(string)
	c.must(201, "POST", "/Groups", map[string]any{"displayName": "Walkers", "members": []any{map[string]any{"value": id}}})
	waitFor(t, "the user and the group in slapd", func() (bool, string) {
		u := lg.people(t)["walk@contoso.com"]
		g := lg.group(t, "Walkers")
		return u != nil && g != nil && slices.Contains(g.GetAttributeValues("member"), u.DN), fmt.Sprint(u, g)
	})
	c.must(200, "PATCH", "/Users/"+id, patchOps(op("Replace", "active", "False")))
	waitFor(t, "the user locked", func() (bool, string) {
		u := lg.people(t)["walk@contoso.com"]
		return u.GetAttributeValue("pwdAccountLockedTime") != "", fmt.Sprint(u)
	})

	// Entra sends no displayName for users that have none: cn (required
	// by person) falls back to the name, then to userName.
	noDisplay := entraUser("nodisplay@contoso.com", "ext-nodisplay")
	bare := map[string]any{"userName": "bare@contoso.com", "active": true}
	c.must(201, "POST", "/Users", noDisplay)
	c.must(201, "POST", "/Users", bare)
	for _, tc := range []struct{ uid, cn string }{
		{"nodisplay@contoso.com", "Given Family"},
		{"bare@contoso.com", "bare@contoso.com"},
	} {
		waitFor(t, tc.uid+" without displayName in slapd", func() (bool, string) {
			people := lg.people(t)
			return people[tc.uid] != nil, fmt.Sprint("entries of ", slices.Sorted(maps.Keys(people)))
		})
		u := lg.people(t)[tc.uid]
		if got := u.GetAttributeValues("cn"); !slices.Equal(got, []string{tc.cn}) {
			t.Errorf("%s: cn %q, want %q", tc.uid, got, tc.cn)
		}
		if got := u.GetAttributeValue("displayName"); got != "" {
			t.Errorf("%s: displayName %q, want none", tc.uid, got)
		}
	}
}

// TestLDAPExampleCN: the LDAP examples map a cn for every user, since
// person requires it and the AD example names entries by it: displayName,
// else the name, else userName.
func TestLDAPExampleCN(t *testing.T) {
	for _, file := range []string{"ldap-openldap.yaml", "ldap-ad.yaml"} {
		cfg, err := config.Load("../../examples/"+file, nil)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		pol, err := policy.Compile(cfg.Policy(registry.New(registry.Services{})))
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for _, tc := range []struct {
			name string
			user map[string]any
			cn   string
		}{
			{"displayName", map[string]any{"userName": "a@contoso.com", "displayName": "Ada L.", "name": map[string]any{"givenName": "Ada", "familyName": "Lovelace"}}, "Ada L."},
			{"empty displayName", map[string]any{"userName": "a@contoso.com", "displayName": "", "name": map[string]any{"givenName": "Ada", "familyName": "Lovelace"}}, "Ada Lovelace"},
			{"name only", map[string]any{"userName": "a@contoso.com", "name": map[string]any{"givenName": "Ada", "familyName": "Lovelace"}}, "Ada Lovelace"},
			{"familyName only", map[string]any{"userName": "a@contoso.com", "name": map[string]any{"familyName": "Lovelace"}}, "Lovelace"},
			{"userName only", map[string]any{"userName": "a@contoso.com"}, "a@contoso.com"},
		} {
			t.Run(file+"/"+tc.name, func(t *testing.T) {
				ds := pol.EvaluateUser(tc.user, nil)
				if len(ds) != 1 || ds[0].Err != nil || !ds[0].InScope {
					t.Fatalf("decisions %+v", ds)
				}
				if got := ds[0].Attributes["cn"]; got != tc.cn {
					t.Errorf("cn %#v, want %q", got, tc.cn)
				}
			})
		}
	}
}

// exampleSlapd starts slapd with examples/ldap-slapd.conf, its directory
// paths moved from /tmp/scimgate-ldap to a temporary directory and extra
// appended, on a free loopback port, loads examples/ldap-base.ldif with
// ldapadd as the README does, and returns its URL. slapd stops when t ends.
func exampleSlapd(t *testing.T, extra string) string {
	t.Helper()
	ldaptest.SkipIfMissing(t)
	ldapadd, err := exec.LookPath("ldapadd")
	if err != nil {
		t.Skip("WARNING: ldapadd not installed: run `make test-deps` (apt-get install ldap-utils); the example slapd test is SKIPPED")
	}
	conf, err := os.ReadFile("../../examples/ldap-slapd.conf")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if !strings.Contains(string(conf), "/tmp/scimgate-ldap/") {
		t.Fatal("ldap-slapd.conf no longer keeps its files under /tmp/scimgate-ldap: update this test")
	}
	confFile := filepath.Join(dir, "slapd.conf")
	if err := os.WriteFile(confFile, []byte(strings.ReplaceAll(string(conf), "/tmp/scimgate-ldap/", dir+"/")+extra), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "db"), 0o700); err != nil {
		t.Fatal(err)
	}
	var url string
	for try := 0; ; try++ { // a free port may be taken before slapd binds it
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		var out bytes.Buffer
		cmd := exec.Command("/usr/sbin/slapd", "-f", confFile, "-h", "ldap://"+addr+"/", "-d", "0")
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		stop := func() {
			cmd.Process.Signal(os.Interrupt)
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-exited
			}
		}
		if err := waitListening(addr, exited); err != nil {
			stop()
			if try < 4 {
				continue
			}
			t.Fatalf("slapd with the example configuration: %v: %s", err, out.String())
		}
		t.Cleanup(stop)
		url = "ldap://" + addr
		break
	}
	out, err := exec.Command(ldapadd, "-x", "-H", url, "-D", "cn=admin,dc=example,dc=org", "-w", exampleAdminPassword,
		"-f", "../../examples/ldap-base.ldif").CombinedOutput()
	if err != nil {
		t.Fatalf("ldapadd examples/ldap-base.ldif: %v: %s", err, out)
	}
	return url
}

// exampleAdminPassword is the rootpw of examples/ldap-slapd.conf.
const exampleAdminPassword = "admin-secret"

// waitListening waits until addr accepts connections, or exited is
// closed, or 10 s pass.
func waitListening(addr string, exited <-chan struct{}) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return errors.New("slapd exited")
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not listening on %s after 10s", addr)
		}
	}
}

// TestLDAPExampleSlapdHoldsThousands: the README's throwaway OpenLDAP
// (examples/ldap-slapd.conf) takes 8,000 users shaped as
// examples/ldap-openldap.yaml writes them; with LMDB's default 10 MiB map
// it filled up at about 5,600 ("Other": txn_commit failed).
func TestLDAPExampleSlapdHoldsThousands(t *testing.T) {
	// dbnosync only spares the test 8,000 fsyncs; the size is the example's.
	url := exampleSlapd(t, "dbnosync\n")
	const users, conns = 8000, 8
	errs := make(chan error, conns)
	for w := range conns {
		go func() {
			errs <- func() error {
				c, err := ldap.DialURL(url)
				if err != nil {
					return err
				}
				defer c.Close()
				if err := c.Bind("cn=admin,dc=example,dc=org", exampleAdminPassword); err != nil {
					return err
				}
				for i := w; i < users; i += conns {
					uid := fmt.Sprintf("user%05d@example.org", i)
					r := ldap.NewAddRequest("uid="+ldap.EscapeDN(uid)+",ou=people,dc=example,dc=org", nil)
					r.Attribute("objectClass", []string{"top", "person", "organizationalPerson", "inetOrgPerson"})
					r.Attribute("uid", []string{uid})
					r.Attribute("cn", []string{fmt.Sprintf("User %05d", i)})
					r.Attribute("displayName", []string{fmt.Sprintf("User %05d", i)})
					r.Attribute("sn", []string{fmt.Sprintf("%05d", i)})
					r.Attribute("givenName", []string{"User"})
					r.Attribute("mail", []string{uid})
					r.Attribute("title", []string{"Engineer"})
					r.Attribute("userPassword", []string{"Ab1!cd2@EF3#gh4$"})
					r.Attribute("employeeType", []string{fmt.Sprintf("6f1c2a3b-0000-4000-8000-%012d", i)})
					if err := c.Add(r); err != nil {
						return fmt.Errorf("add user %d: %w", i, err)
					}
				}
				return nil
			}()
		}()
	}
	for range conns {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	c, err := ldap.DialURL(url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Bind("cn=admin,dc=example,dc=org", exampleAdminPassword); err != nil {
		t.Fatal(err)
	}
	res, err := c.SearchWithPaging(ldap.NewSearchRequest("ou=people,dc=example,dc=org", ldap.ScopeSingleLevel,
		ldap.NeverDerefAliases, 0, 0, false, "(objectClass=inetOrgPerson)", []string{"1.1"}, nil), 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Entries) != users {
		t.Errorf("%d users in the directory, want %d", len(res.Entries), users)
	}
}
