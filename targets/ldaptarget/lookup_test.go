package ldaptarget

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	ldap "github.com/go-ldap/ldap/v3"

	"github.com/scimgate/scimgate/internal/ldaptest"
	"github.com/scimgate/scimgate/targets"
)

// TestLookupFilter: the filter of a lookup is the kind's filter and one
// equality match whose value is escaped per RFC 4515, whatever the value.
func TestLookupFilter(t *testing.T) {
	k := &kind{filter: "(objectClass=inetOrgPerson)"}
	for _, c := range []struct{ value, want string }{
		{"alice", `(&(objectClass=inetOrgPerson)(uid=alice))`},
		{"*", `(&(objectClass=inetOrgPerson)(uid=\2a))`},
		{"*)(uid=*", `(&(objectClass=inetOrgPerson)(uid=\2a\29\28uid=\2a))`},
		{`a\2a`, `(&(objectClass=inetOrgPerson)(uid=a\5c2a))`},
		{"a\x00b", `(&(objectClass=inetOrgPerson)(uid=a\00b))`},
		{"Zoë", `(&(objectClass=inetOrgPerson)(uid=Zo\c3\ab))`},
	} {
		if got := k.lookupFilter("uid", c.value); got != c.want {
			t.Errorf("lookupFilter(uid, %q) = %s, want %s", c.value, got, c.want)
		}
	}
	for _, h := range hostile {
		t.Run(h.name, func(t *testing.T) {
			f := k.lookupFilter("uid", h.value)
			packet, err := ldap.CompileFilter(f)
			if err != nil {
				t.Fatalf("CompileFilter(%q): %v", f, err)
			}
			if len(packet.Children) != 2 || packet.Children[1].Tag != ldap.FilterEqualityMatch {
				t.Fatalf("%q is not the kind's filter and one equality match", f)
			}
			if got := packet.Children[1].Children[1].Data.String(); got != h.value {
				t.Errorf("assertion value %q, want %q", got, h.value)
			}
		})
	}
}

// TestAttributeTypeNames parses the attribute type descriptions of a
// subschema entry.
func TestAttributeTypeNames(t *testing.T) {
	for _, c := range []struct {
		def  string
		want []string
	}{
		{"( 2.5.4.3 NAME ( 'cn' 'commonName' ) DESC 'RFC4519: common name(s) for which the entity is known by' SUP name )", []string{"2.5.4.3", "cn", "commonName"}},
		{"( 0.9.2342.19200300.100.1.1 NAME 'uid' EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15{256} )", []string{"0.9.2342.19200300.100.1.1", "uid"}},
		{"( 1.2.3 DESC 'has NAME in it' NAME 'x-y' )", []string{"1.2.3", "x-y"}},
		{"( 1.2.840.113556.1.4.221 NAME 'sAMAccountName' SYNTAX '1.3.6.1.4.1.1466.115.121.1.15' SINGLE-VALUE )", []string{"1.2.840.113556.1.4.221", "sAMAccountName"}},
		{"( 1.2.4 )", []string{"1.2.4"}},
		{"garbage", nil},
		{"( 1.2.5 NAME 'unterminated", []string{"1.2.5", "unterminated"}},
	} {
		if got := attributeTypeNames(c.def); !slices.Equal(got, c.want) {
			t.Errorf("attributeTypeNames(%q) = %q, want %q", c.def, got, c.want)
		}
	}
}

// TestLookup against slapd: the directory's matching rules (uid and mail
// ignore case), any value of a multi-valued attribute, hostile values
// literally, the limit, groups with their members, and the attributes
// refused.
func TestLookup(t *testing.T) {
	s := ldaptest.Start(t)
	c := open(t, testConfig(t, s))
	ctx := t.Context()
	alice := mustCreate(t, c, user("Alice", "mail", []string{"alice@example.org", "a.smith@example.org"}, "displayName", "Team A"))
	bob := mustCreate(t, c, user("bob", "displayName", "Team A"))
	g := mustCreate(t, c, newOp(targets.Group, map[string]any{"cn": "staff"}))
	must(t, "AddMembers", c.AddMembers(ctx, next(g, nil, alice.Anchor)))
	found := func(t *testing.T, kind targets.Kind, attr string, value any, limit int) []string {
		t.Helper()
		objs, err := c.Lookup(ctx, kind, attr, value, limit)
		if err != nil {
			t.Fatalf("Lookup %s=%q: %v", attr, value, err)
		}
		out := []string{}
		for _, o := range objs {
			out = append(out, o.Anchor)
		}
		return out
	}
	teamA := slices.Sorted(slices.Values([]string{alice.Anchor, bob.Anchor}))
	tests := []struct {
		name  string
		kind  targets.Kind
		attr  string
		value any
		limit int
		want  []string
	}{
		{"uid", targets.User, "uid", "Alice", 0, []string{alice.Anchor}},
		{"uid ignores case (caseIgnoreMatch)", targets.User, "uid", "alice", 0, []string{alice.Anchor}},
		{"attribute name in another case", targets.User, "UID", "alice", 0, []string{alice.Anchor}},
		{"mail, second value, other case", targets.User, "mail", "A.Smith@example.org", 0, []string{alice.Anchor}},
		{"shared value, in anchor order", targets.User, "displayName", "Team A", 0, teamA},
		{"shared value, limit 1", targets.User, "displayName", "Team A", 1, teamA[:1]},
		{"star", targets.User, "displayName", "*", 0, []string{}},
		{"star suffix", targets.User, "uid", "ali*", 0, []string{}},
		{"filter injection", targets.User, "uid", "*)(uid=*", 0, []string{}},
		{"empty value", targets.User, "uid", "", 0, []string{}},
		{"option of an attribute", targets.User, "cn;lang-en", "Alice", 0, []string{}},
		{"a user is not a group", targets.User, "cn", "staff", 0, []string{}},
		{"group", targets.Group, "cn", "staff", 0, []string{g.Anchor}},
		{"a group is not a user", targets.Group, "uid", "bob", 0, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := found(t, tt.kind, tt.attr, tt.value, tt.limit); !slices.Equal(got, tt.want) {
				t.Errorf("Lookup %s %s=%q: %q, want %q", tt.kind, tt.attr, tt.value, got, tt.want)
			}
		})
	}
	objs, err := c.Lookup(ctx, targets.Group, "cn", "staff", 0)
	if err != nil || len(objs) != 1 || !slices.Equal(objs[0].Members, []string{alice.Anchor}) || objs[0].ObjectID != g.ObjectID {
		t.Errorf("Lookup of the group: %+v, %v; want it with its object id and alice as member", objs, err)
	}
	for _, h := range hostile {
		if strings.ContainsAny(h.value, "\x00\t\n\r") || strings.TrimSpace(h.value) != h.value {
			continue // slapd's uid matching folds spaces: " abc" is "abc "
		}
		u := mustCreate(t, c, user(h.value))
		if got := found(t, targets.User, "uid", h.value, 0); !slices.Equal(got, []string{u.Anchor}) {
			t.Errorf("Lookup of the uid %q (%s): %q, want its user %s", h.value, h.name, got, u.Anchor)
		}
	}

	refusals := []struct {
		name  string
		kind  targets.Kind
		attr  string
		value any
		want  string
	}{
		{"not in the schema", targets.User, "scimgateNoSuchAttribute", "x", `attribute "scimgateNoSuchAttribute" is not an attribute type of the directory's schema`},
		{"not an attribute name", targets.User, "uid)(cn=*", "x", `"uid)(cn=*" is not an attribute name`},
		{"empty name", targets.User, "", "x", `"" is not an attribute name`},
		{"object class", targets.User, "objectClass", "inetOrgPerson", `attribute "objectClass" is kept by the connector`},
		{"anchor", targets.User, "entryUUID", alice.Anchor, `attribute "entryUUID" is kept by the connector`},
		{"password", targets.User, "userPassword", "secret", `attribute "userPassword" is kept by the connector`},
		{"object id", targets.User, "employeeType", alice.ObjectID, `attribute "employeeType" is kept by the connector`},
		{"disable", targets.User, "pwdAccountLockedTime", lockedForever, `attribute "pwdAccountLockedTime" is kept by the connector`},
		{"members", targets.Group, "member", "cn=nobody," + ldaptest.BaseDN, `attribute "member" is kept by the connector`},
		{"several values", targets.User, "mail", []string{"alice@example.org"}, `a value of type []string`},
		{"nil", targets.User, "uid", nil, `a value of type <nil>`},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := c.Lookup(ctx, tt.kind, tt.attr, tt.value, 0)
			if targets.Class(err) != targets.ErrPermanent || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Lookup: %v, %v; want a permanent error with %q", objs, err, tt.want)
			}
		})
	}
}

// TestLookupSchemaHidden: a bind account that cannot read the schema
// still looks up; attribute names are then not checked.
func TestLookupSchemaHidden(t *testing.T) {
	s := ldaptest.Start(t, ldaptest.Options{Access: []string{
		`to dn.base="cn=Subschema" by * none`,
		`to * by users manage by anonymous auth`,
	}})
	const svcDN, svcPassword = "cn=svc," + ldaptest.BaseDN, "svc-secret-0123"
	admin := s.MustDial(t)
	add := ldap.NewAddRequest(svcDN, nil)
	add.Attribute("objectClass", []string{"person"})
	add.Attribute("cn", []string{"svc"})
	add.Attribute("sn", []string{"svc"})
	add.Attribute("userPassword", []string{svcPassword})
	must(t, "add the service account", admin.Add(add))
	cfg := testConfig(t, s)
	cfg.BindDN = svcDN
	cfg.BindPasswordFile = filepath.Join(t.TempDir(), "svcpw")
	must(t, "write the password", os.WriteFile(cfg.BindPasswordFile, []byte(svcPassword), 0o600))
	c := open(t, cfg)
	u := mustCreate(t, c, user("carol"))
	objs, err := c.Lookup(t.Context(), targets.User, "uid", "carol", 0)
	if err != nil || len(objs) != 1 || objs[0].Anchor != u.Anchor {
		t.Errorf("Lookup uid=carol: %+v, %v; want carol", objs, err)
	}
	objs, err = c.Lookup(t.Context(), targets.User, "scimgateNoSuchAttribute", "carol", 0)
	if err != nil || len(objs) != 0 {
		t.Errorf("Lookup by an attribute the hidden schema cannot tell: %+v, %v; want no match and no error", objs, err)
	}
}
