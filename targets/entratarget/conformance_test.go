package entratarget

import (
	"testing"

	"github.com/scimgate/scimgate/conformance/connector"
	"github.com/scimgate/scimgate/internal/entra"
	"github.com/scimgate/scimgate/targets"
)

// TestConformance runs the connector conformance suite against an entra
// target that creates users (create_users), on the fake tenant: users
// only (Entra groups follow the group rules, not SCIM groups), lookups,
// disable and delete.
func TestConformance(t *testing.T) {
	features := entra.Features{Membership: true, EnableDisable: true, DeleteUsers: true, UpdateUsers: true, CreateUsers: true}
	tn := newTenant(t, []string{"User.ReadWrite.All", "GroupMember.ReadWrite.All"}, features)
	connector.Run(t, func(t *testing.T) targets.Connector {
		cfg := &Config{WriteBack: []string{"userPrincipalName", "displayName", "jobTitle", "department"},
			Disable: true, Delete: true, CreateUsers: true, Client: tn.client}
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		c, err := cfg.Open(t.Context(), targets.Env{Name: "entra", Attributes: map[targets.Kind][]string{
			targets.User: {"userPrincipalName", "displayName", "jobTitle", "department"}}})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}, connector.WithSchema(connector.Schema{UserName: "userPrincipalName", Text: "displayName",
		Values: map[string]any{"jobTitle": "Engineer", "department": "R&D"}, PlainNames: true, NameSuffix: "@contoso.example",
		Unmanaged: "manager"}))
}
