package ldaptest

import (
	"testing"
	"time"

	ldap "github.com/go-ldap/ldap/v3"
)

func TestStart(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"plain", Options{}},
		{"tls", Options{TLS: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			s := Start(t, tc.opts)
			t.Logf("slapd started with the base entries in %v", time.Since(start))
			if got := len(s.Entries(t, BaseDN, "(objectClass=organizationalUnit)")); got != 3 {
				t.Errorf("%d organizational units, want 3", got)
			}
			if tc.opts.TLS {
				c, err := ldap.DialURL(s.LDAPSURL, ldap.DialWithTLSConfig(s.TLSConfig(t)))
				if err != nil {
					t.Fatalf("ldaps: %v", err)
				}
				defer c.Close()
				if err := c.Bind(AdminDN, AdminPassword); err != nil {
					t.Fatalf("bind over ldaps: %v", err)
				}
			}
		})
	}
}
