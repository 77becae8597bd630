package ldaptarget

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/scimgate/scimgate/conformance/connector"
	"github.com/scimgate/scimgate/internal/ldaptest"
	"github.com/scimgate/scimgate/targets"
)

// testConfig returns the configuration of a connector to s: inetOrgPerson
// users, groupOfNames groups, ppolicy disable, object ids recorded.
func testConfig(t testing.TB, s *ldaptest.Server) *Config {
	t.Helper()
	pw := filepath.Join(t.TempDir(), "bindpw")
	if err := os.WriteFile(pw, []byte(ldaptest.AdminPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return &Config{
		URL:              s.URL,
		BindDN:           ldaptest.AdminDN,
		BindPasswordFile: pw,
		BaseDN:           ldaptest.BaseDN,
		PoolSize:         4,
		AttributeTypes: map[string]string{
			"employeeNumber": TypeInteger,
			"roomNumber":     TypeFloat,
			"carLicense":     TypeBoolean,
			"mail":           TypeStrings,
		},
		Users: KindConfig{
			DNTemplate:        "uid={uid}," + ldaptest.PeopleDN,
			ObjectIDAttribute: "employeeType",
		},
		Groups: &GroupsConfig{
			KindConfig: KindConfig{
				DNTemplate:        "cn={cn}," + ldaptest.GroupsDN,
				ObjectIDAttribute: "businessCategory",
			},
			PlaceholderMember: "cn=nobody," + ldaptest.BaseDN,
		},
		Disable: &DisableConfig{Method: DisablePPolicy},
	}
}

// open validates and opens cfg, closing the connector when t ends.
func open(t testing.TB, cfg *Config) *Connector {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	c, err := cfg.Open(t.Context(), targets.Env{Name: "dir"})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { c.Close(t.Context()) })
	return c.(*Connector)
}

var conformanceSchema = connector.Schema{
	UserName:  "uid",
	GroupName: "cn",
	Text:      "displayName",
	Unmanaged: "scimgateNoSuchAttribute",
	Values: map[string]any{
		"givenName":      "Ada",
		"employeeNumber": int64(-1815),
		"roomNumber":     2.75,
		"carLicense":     true,
		"mail":           []string{"ada@example.com", "ada.lovelace@example.org"},
	},
	Base: func(kind targets.Kind, name string) map[string]any {
		if kind == targets.User {
			return map[string]any{"sn": name, "cn": name}
		}
		return nil
	},
}

func TestConformance(t *testing.T) {
	s := ldaptest.Start(t)
	connector.Run(t, func(t *testing.T) targets.Connector {
		cfg := testConfig(t, s)
		c, err := cfg.Open(t.Context(), targets.Env{Name: "dir"})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return c
	}, connector.WithSchema(conformanceSchema))
}
