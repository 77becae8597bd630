package ldaptarget

import (
	"strings"
	"testing"

	ldap "github.com/go-ldap/ldap/v3"
)

// hostile are values that must neither break nor widen a DN or a filter.
var hostile = []struct{ name, value string }{
	{"comma", "a,ou=admins"},
	{"plus", "a+cn=root"},
	{"quote", `a"b"`},
	{"backslash", `a\b\\c\2a`},
	{"leading hash", "#abc"},
	{"leading space", " abc"},
	{"trailing space", "abc "},
	{"only spaces", "   "},
	{"equals", "cn=x"},
	{"angle and semicolon", "<a>;b"},
	{"filter star", "*"},
	{"filter parens", "*)(uid=*))(|(uid=*"},
	{"nul", "a\x00b"},
	{"control", "tab\tnl\ncr\r"},
	{"non-ascii", "Zoë Łódź 日本語 👩🏽‍💻"},
	{"dn special mix", `cn=x,ou=y+uid=z "q" \#<>;= ,+"\#<>;=`},
}

func TestEscapeDNValue(t *testing.T) {
	for _, h := range hostile {
		t.Run(h.name, func(t *testing.T) {
			dn := "uid=" + EscapeDNValue(h.value) + ",ou=people,dc=example,dc=org"
			parsed, err := ldap.ParseDN(dn)
			if err != nil {
				t.Fatalf("ParseDN(%q): %v", dn, err)
			}
			if len(parsed.RDNs) != 4 {
				t.Fatalf("%q has %d RDNs, want 4: the value broke out", dn, len(parsed.RDNs))
			}
			rdn := parsed.RDNs[0]
			if len(rdn.Attributes) != 1 || rdn.Attributes[0].Type != "uid" {
				t.Fatalf("%q: first RDN %v, want one uid", dn, rdn)
			}
			if got := rdn.Attributes[0].Value; got != h.value {
				t.Errorf("value %q read back as %q", h.value, got)
			}
			if strings.ContainsRune(EscapeDNValue(h.value), 0) {
				t.Errorf("escaped value keeps a raw NUL")
			}
		})
	}
	for _, c := range []struct{ in, want string }{
		{"a,b", `a\,b`},
		{" a ", `\ a\ `},
		{"#a#", `\#a#`},
		{"a\x00", `a\00`},
		{"é", "é"},
	} {
		if got := EscapeDNValue(c.in); got != c.want {
			t.Errorf("EscapeDNValue(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestEscapeFilterValue(t *testing.T) {
	for _, h := range hostile {
		t.Run(h.name, func(t *testing.T) {
			f := and("(objectClass=inetOrgPerson)", eq("uid", h.value))
			packet, err := ldap.CompileFilter(f)
			if err != nil {
				t.Fatalf("CompileFilter(%q): %v", f, err)
			}
			// The filter is an AND of exactly two equality matches: no
			// substring, presence or OR sneaked in.
			if len(packet.Children) != 2 {
				t.Fatalf("%q: %d terms, want 2", f, len(packet.Children))
			}
			m := packet.Children[1]
			if m.Tag != ldap.FilterEqualityMatch {
				t.Fatalf("%q: second term is %s, want an equality match", f, ldap.FilterMap[uint64(m.Tag)])
			}
			if got := m.Children[1].Data.String(); got != h.value {
				t.Errorf("assertion value %q, want %q", got, h.value)
			}
		})
	}
}

func TestTemplate(t *testing.T) {
	for _, c := range []struct {
		name, src, err string
		fixedParent    string
	}{
		{name: "simple", src: "uid={uid},ou=people,dc=example,dc=org", fixedParent: "ou=people,dc=example,dc=org"},
		{name: "ou placeholder", src: "cn={cn},ou={department},dc=example,dc=org"},
		{name: "empty", src: "", err: "required"},
		{name: "no placeholder", src: "uid=x,dc=org", err: "no {attribute}"},
		{name: "unclosed", src: "uid={uid,dc=org", err: "unclosed"},
		{name: "bad name", src: "uid={u id},dc=org", err: "invalid placeholder"},
		{name: "fixed first rdn", src: "uid=x,ou={ou},dc=org", err: "first RDN"},
		{name: "no parent", src: "uid={uid}", err: "parent"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tm, err := parseTemplate(c.src)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("parseTemplate(%q) = %v, want an error with %q", c.src, err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			p, ok := tm.fixedParent()
			if p != c.fixedParent || ok != (c.fixedParent != "") {
				t.Errorf("fixedParent = %q, %v; want %q", p, ok, c.fixedParent)
			}
		})
	}
}

func TestADSetDisabled(t *testing.T) {
	for _, c := range []struct {
		name     string
		uac      string
		disabled bool
		want     string
		err      bool
	}{
		{"absent, disable", "", true, "514", false},
		{"absent, enable", "", false, "512", false},
		{"normal, disable", "512", true, "514", false},
		{"disabled, enable", "514", false, "512", false},
		{"disabled, disable again", "514", true, "514", false},
		{"password never expires kept", "66048", true, "66050", false},
		{"garbage", "x", true, "", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := adSetDisabled(c.uac, c.disabled)
			if (err != nil) != c.err || got != c.want {
				t.Errorf("adSetDisabled(%q, %v) = %q, %v; want %q (error %v)", c.uac, c.disabled, got, err, c.want, c.err)
			}
		})
	}
}

func TestADPassword(t *testing.T) {
	got := adPassword("Pw1é")
	want := "\"\x00P\x00w\x001\x00\xe9\x00\"\x00"
	if got != want {
		t.Errorf("adPassword = %q, want %q", got, want)
	}
}

func TestAnchorFilter(t *testing.T) {
	uuidC := &Connector{cfg: Config{AnchorAttribute: "entryUUID"}}
	guidC := &Connector{cfg: Config{AnchorAttribute: "objectGUID"}, binaryAnchor: true}
	for _, c := range []struct {
		name   string
		conn   *Connector
		anchor string
		want   string
		ok     bool
	}{
		{"uuid", uuidC, "0f8c1e2a-1b2c-4d5e-8f90-a1b2c3d4e5f6", "(entryUUID=0f8c1e2a-1b2c-4d5e-8f90-a1b2c3d4e5f6)", true},
		{"uuid with a star", uuidC, "*", "", false},
		{"uuid with a paren", uuidC, "0f8c)(uid=*", "", false},
		{"empty", uuidC, "", "", false},
		{"guid", guidC, "00112233445566778899aabbccddeeff", `(objectGUID=\00\11\22\33\44\55\66\77\88\99\aa\bb\cc\dd\ee\ff)`, true},
		{"guid not hex", guidC, "zz112233445566778899aabbccddeeff", "", false},
		{"guid short", guidC, "0011", "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, ok := c.conn.anchorFilter(c.anchor)
			if got != c.want || ok != c.ok {
				t.Errorf("anchorFilter(%q) = %q, %v; want %q, %v", c.anchor, got, ok, c.want, c.ok)
			}
		})
	}
}
