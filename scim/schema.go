package scim

import (
	"fmt"
	"slices"
	"strings"

	"github.com/elimity-com/scim/schema"
)

// Schema URNs the gateway knows by name.
const (
	URNUser           = "urn:ietf:params:scim:schemas:core:2.0:User"
	URNGroup          = "urn:ietf:params:scim:schemas:core:2.0:Group"
	URNEnterpriseUser = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	URNListResponse   = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	URNPatchOp        = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	URNSearchRequest  = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
	URNBulkRequest    = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
	URNBulkResponse   = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
	URNError          = "urn:ietf:params:scim:api:messages:2.0:Error"
)

// Extension is a schema extension of a resource type.
type Extension struct {
	Schema   schema.Schema
	Required bool
}

// ResourceType describes one kind of resource the server serves, built on
// elimity-com/scim's schema model.
type ResourceType struct {
	Name       string // "User"
	Endpoint   string // "/Users"
	Schema     schema.Schema
	Extensions []Extension
	// UniqueAttr is the core attribute whose value is unique, compared
	// case-insensitively ("userName", "displayName").
	UniqueAttr string

	core schema.Attributes // Schema.Attributes plus the common ones; see coreAttrs
}

// coreAttrs are the core schema's attributes plus id, externalId and meta.
func (rt *ResourceType) coreAttrs() schema.Attributes {
	if rt.core == nil {
		return append(append(schema.Attributes{}, rt.Schema.Attributes...), commonAttrs...)
	}
	return rt.core
}

// Attr is an attribute resolved from a path such as "userName",
// "name.givenName", "emails.value" or
// "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value".
type Attr struct {
	// URN is the schema of the attribute when it belongs to an extension;
	// "" for core and common attributes (which sit at the top level of the
	// resource JSON; extension attributes sit under the URN key).
	URN string
	// Def is the top-level attribute.
	Def schema.CoreAttribute
	// Sub is the sub-attribute, when the path names one.
	Sub *schema.CoreAttribute
}

// Leaf is the definition the path ends at: Sub when set, else Def.
func (a Attr) Leaf() schema.CoreAttribute {
	if a.Sub != nil {
		return *a.Sub
	}
	return a.Def
}

// IndexPath is the lower-case path under which the attribute's values are
// indexed in the store ("emails.value", "urn:...:user:manager.value").
func (a Attr) IndexPath() string {
	p := strings.ToLower(a.Def.Name())
	if a.Sub != nil {
		p += "." + strings.ToLower(a.Sub.Name())
	}
	if a.URN != "" {
		p = strings.ToLower(a.URN) + ":" + p
	}
	return p
}

// String is the canonical path, for error messages.
func (a Attr) String() string {
	p := a.Def.Name()
	if a.Sub != nil {
		p += "." + a.Sub.Name()
	}
	if a.URN != "" {
		p = a.URN + ":" + p
	}
	return p
}

// ErrUnknownAttribute is returned by Resolve for a path that names no
// attribute of the resource type.
var ErrUnknownAttribute = fmt.Errorf("unknown attribute")

// commonAttrs are id, externalId and meta (schemas is handled apart).
var commonAttrs = func() schema.Attributes {
	var out schema.Attributes
	for _, a := range schema.CommonAttributes() {
		if a.Name() != "schemas" {
			out = append(out, a)
		}
	}
	return out
}()

// Extension returns the extension with the given URN (case-insensitive).
func (rt *ResourceType) Extension(urn string) (Extension, bool) {
	for _, e := range rt.Extensions {
		if strings.EqualFold(e.Schema.ID, urn) {
			return e, true
		}
	}
	return Extension{}, false
}

// SchemaURNs lists the core schema and every extension URN.
func (rt *ResourceType) SchemaURNs() []string {
	out := []string{rt.Schema.ID}
	for _, e := range rt.Extensions {
		out = append(out, e.Schema.ID)
	}
	return out
}

// SplitURN splits an attribute path that starts with a known schema URN
// (core or extension, any case) into that URN, canonically spelled, and the
// rest. ok is false when the path starts with no known URN.
func (rt *ResourceType) SplitURN(path string) (urn, rest string, ok bool) {
	for _, id := range rt.SchemaURNs() {
		if len(path) > len(id) && strings.EqualFold(path[:len(id)], id) && path[len(id)] == ':' {
			return id, path[len(id)+1:], true
		}
	}
	return "", path, false
}

// Resolve finds the attribute a path names. The path may carry a schema URN
// prefix (core or extension); attribute names are case-insensitive. At most
// one sub-attribute level is allowed, as in SCIM.
func (rt *ResourceType) Resolve(path string) (Attr, error) {
	urn, rest, hasURN := rt.SplitURN(path)
	if hasURN && strings.EqualFold(urn, rt.Schema.ID) {
		urn = ""
	}
	name, sub, hasSub := strings.Cut(rest, ".")
	a, err := rt.ResolveIn(urn, name, sub, hasSub)
	if err == nil || hasURN {
		return a, err
	}
	// Without a URN, a name that is not a core attribute may still name an
	// extension attribute: Entra sends "manager" for the enterprise
	// extension's manager. Accept it when exactly one extension has it.
	var found []Attr
	for _, e := range rt.Extensions {
		if _, ok := findAttr(e.Schema.Attributes, name); ok {
			if x, xerr := rt.ResolveIn(e.Schema.ID, name, sub, hasSub); xerr == nil {
				found = append(found, x)
			} else {
				return Attr{}, xerr
			}
		}
	}
	if len(found) == 1 {
		return found[0], nil
	}
	return Attr{}, err
}

// ResolveIn resolves attribute name (with optional sub-attribute) in the
// schema urn ("" for the core schema and common attributes).
func (rt *ResourceType) ResolveIn(urn, name, sub string, hasSub bool) (Attr, error) {
	var attrs schema.Attributes
	if urn == "" {
		attrs = rt.coreAttrs()
	} else {
		ext, ok := rt.Extension(urn)
		if !ok {
			return Attr{}, fmt.Errorf("%w: schema %q is not a schema of %s", ErrUnknownAttribute, urn, rt.Name)
		}
		urn = ext.Schema.ID
		attrs = ext.Schema.Attributes
	}
	def, ok := findAttr(attrs, name)
	if !ok {
		return Attr{}, fmt.Errorf("%w: %q is not an attribute of %s", ErrUnknownAttribute, joinPath(urn, name), rt.Name)
	}
	a := Attr{URN: urn, Def: def}
	if hasSub {
		s, ok := findAttr(def.SubAttributes(), sub)
		if !ok {
			return Attr{}, fmt.Errorf("%w: %q has no sub-attribute %q", ErrUnknownAttribute, joinPath(urn, def.Name()), sub)
		}
		a.Sub = &s
	}
	return a, nil
}

func joinPath(urn, name string) string {
	if urn == "" {
		return name
	}
	return urn + ":" + name
}

func findAttr(attrs schema.Attributes, name string) (schema.CoreAttribute, bool) {
	for _, a := range attrs {
		if strings.EqualFold(a.Name(), name) {
			return a, true
		}
	}
	return schema.CoreAttribute{}, false
}

// Attributes returns the attributes of schema urn ("" = core plus common).
func (rt *ResourceType) Attributes(urn string) schema.Attributes {
	if urn == "" {
		return rt.coreAttrs()
	}
	if ext, ok := rt.Extension(urn); ok {
		return ext.Schema.Attributes
	}
	return nil
}

// UserType is the User resource type with the enterprise extension and the
// given extra extensions.
func UserType(extra ...schema.Schema) *ResourceType {
	rt := &ResourceType{
		Name:       "User",
		Endpoint:   "/Users",
		Schema:     schema.CoreUserSchema(),
		Extensions: []Extension{{Schema: schema.ExtensionEnterpriseUser()}},
		UniqueAttr: "userName",
	}
	for _, s := range extra {
		rt.Extensions = append(rt.Extensions, Extension{Schema: s})
	}
	rt.core = slices.Clip(rt.coreAttrs())
	return rt
}

// GroupType is the Group resource type with the given extra extensions.
func GroupType(extra ...schema.Schema) *ResourceType {
	rt := &ResourceType{
		Name:       "Group",
		Endpoint:   "/Groups",
		Schema:     schema.CoreGroupSchema(),
		UniqueAttr: "displayName",
	}
	for _, s := range extra {
		rt.Extensions = append(rt.Extensions, Extension{Schema: s})
	}
	rt.core = slices.Clip(rt.coreAttrs())
	return rt
}
