package scim

import (
	"fmt"

	"github.com/elimity-com/scim/optional"
	"github.com/elimity-com/scim/schema"
)

// CustomExtension is an extra schema extending User or Group, such as
// Entra's "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User",
// as the configuration declares it (scim.custom_extensions, whose keys the
// yaml tags are; internal/config validates it).
type CustomExtension struct {
	// URN is the schema id; it ends with ":2.0:" + Resource.
	URN string `yaml:"urn"`
	// Resource is User or Group.
	Resource   string            `yaml:"resource"`
	Attributes []CustomAttribute `yaml:"attributes"`
}

// CustomAttribute is one single-level attribute of a CustomExtension.
type CustomAttribute struct {
	Name string `yaml:"name"`
	// Type is one of CustomAttributeTypes.
	Type        string `yaml:"type"`
	MultiValued bool   `yaml:"multi_valued"`
	CaseExact   bool   `yaml:"case_exact"`
	Required    bool   `yaml:"required"`
	Description string `yaml:"description"`
}

// CustomAttributeTypes are the SCIM attribute types a CustomAttribute may
// have (RFC 7643 section 2.3, without complex).
var CustomAttributeTypes = []string{"string", "boolean", "integer", "decimal", "dateTime", "reference", "binary"}

// ResourceTypes builds User and Group, in that order, with the custom
// extensions exts.
func ResourceTypes(exts []CustomExtension) ([]*ResourceType, error) {
	var users, groups []schema.Schema
	for _, e := range exts {
		s := schema.Schema{ID: e.URN, Name: optional.NewString(e.URN), Description: optional.NewString("Custom extension")}
		for _, a := range e.Attributes {
			s.Attributes = append(s.Attributes, customAttribute(a))
		}
		switch e.Resource {
		case "User":
			users = append(users, s)
		case "Group":
			groups = append(groups, s)
		default:
			return nil, fmt.Errorf("scim.custom_extensions: resource %q is neither User nor Group", e.Resource)
		}
	}
	return []*ResourceType{UserType(users...), GroupType(groups...)}, nil
}

func customAttribute(a CustomAttribute) schema.CoreAttribute {
	desc := optional.NewString(a.Description)
	switch a.Type {
	case "boolean":
		return schema.SimpleCoreAttribute(schema.SimpleBooleanParams(schema.BooleanParams{Name: a.Name, MultiValued: a.MultiValued, Required: a.Required, Description: desc}))
	case "integer", "decimal":
		typ := schema.AttributeTypeInteger()
		if a.Type == "decimal" {
			typ = schema.AttributeTypeDecimal()
		}
		return schema.SimpleCoreAttribute(schema.SimpleNumberParams(schema.NumberParams{Name: a.Name, MultiValued: a.MultiValued, Required: a.Required, Description: desc, Type: typ}))
	case "dateTime":
		return schema.SimpleCoreAttribute(schema.SimpleDateTimeParams(schema.DateTimeParams{Name: a.Name, MultiValued: a.MultiValued, Required: a.Required, Description: desc}))
	case "reference":
		return schema.SimpleCoreAttribute(schema.SimpleReferenceParams(schema.ReferenceParams{Name: a.Name, MultiValued: a.MultiValued, Description: desc, ReferenceTypes: []schema.AttributeReferenceType{"external"}}))
	case "binary":
		return schema.SimpleCoreAttribute(schema.SimpleBinaryParams(schema.BinaryParams{Name: a.Name, MultiValued: a.MultiValued, Required: a.Required, Description: desc}))
	default:
		return schema.SimpleCoreAttribute(schema.SimpleStringParams(schema.StringParams{Name: a.Name, MultiValued: a.MultiValued, Required: a.Required, CaseExact: a.CaseExact, Description: desc}))
	}
}
