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
		{"sortvals", Options{SortVals: true}},
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

// TestOperations: the counters count each operation once, the search
// that reads them included.
func TestOperations(t *testing.T) {
	s := Start(t)
	c := s.MustDial(t)
	before := s.Operations(t)
	for range 3 {
		r := ldap.NewModifyRequest(PeopleDN, nil)
		r.Replace("description", []string{"x"})
		if err := c.Modify(r); err != nil {
			t.Fatal(err)
		}
	}
	after := s.Operations(t)
	if got := after["Modify"] - before["Modify"]; got != 3 {
		t.Errorf("Modify counted %d times, want 3", got)
	}
	if got := after["Search"] - before["Search"]; got != 1 { // the second read
		t.Errorf("Search counted %d times, want 1", got)
	}
}
