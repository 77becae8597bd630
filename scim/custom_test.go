package scim

import (
	"strings"
	"testing"
)

// TestResourceTypes: the configured custom extensions extend User and
// Group, each attribute with its SCIM type and flags; a resource that is
// neither is refused.
func TestResourceTypes(t *testing.T) {
	const (
		userExt  = "urn:ietf:params:scim:schemas:extension:Contoso:2.0:User"
		groupExt = "urn:ietf:params:scim:schemas:extension:Contoso:2.0:Group"
	)
	var attrs []CustomAttribute
	for _, typ := range CustomAttributeTypes {
		attrs = append(attrs, CustomAttribute{Name: "a" + typ, Type: typ, MultiValued: typ == "reference", CaseExact: typ == "string"})
	}
	types, err := ResourceTypes([]CustomExtension{
		{URN: userExt, Resource: "User", Attributes: attrs},
		{URN: groupExt, Resource: "Group", Attributes: []CustomAttribute{{Name: "costCenter", Type: "string", Required: true}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(types) != 2 || types[0].Name != "User" || types[1].Name != "Group" {
		t.Fatalf("got %d types, want User and Group", len(types))
	}
	users, groups := types[0], types[1]
	for _, a := range attrs {
		t.Run(a.Type, func(t *testing.T) {
			got, err := users.Resolve(userExt + ":" + a.Name)
			if err != nil {
				t.Fatal(err)
			}
			// References and binaries are caseExact whatever the
			// configuration says (RFC 7643 §2.3.6, §2.3.7).
			caseExact := a.CaseExact || a.Type == "reference" || a.Type == "binary"
			if d := got.Def; d.AttributeType() != a.Type || d.MultiValued() != a.MultiValued || d.CaseExact() != caseExact {
				t.Errorf("%s: type %s, multi-valued %v, caseExact %v", a.Name, d.AttributeType(), d.MultiValued(), d.CaseExact())
			}
		})
	}
	if got, err := groups.Resolve(groupExt + ":costCenter"); err != nil || !got.Def.Required() {
		t.Errorf("group extension attribute: %+v, %v", got, err)
	}
	if _, err := users.Resolve(groupExt + ":costCenter"); err == nil {
		t.Error("the Group extension extends User too")
	}
	if _, err := ResourceTypes([]CustomExtension{{URN: "urn:x:2.0:Device", Resource: "Device"}}); err == nil || !strings.Contains(err.Error(), `"Device"`) {
		t.Errorf("resource Device: %v, want an error naming it", err)
	}
}
