package policy

import (
	"reflect"
	"slices"
	"strings"

	"github.com/elimity-com/scim/schema"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"

	"github.com/scimgate/scimgate/scim"
)

// This file binds canonical resources (see scim/resource.go) into CEL
// without copying them: object and multi are CEL values that read the
// canonical map on demand.
//
// Reading is null-safe: an absent attribute reads as null, an absent
// complex attribute or extension as an empty object and an absent
// multi-valued attribute as an empty list, so user.name.givenName is null,
// not an error, when the user has no name.

// node describes an attribute of a resource type for the views.
type node struct {
	key      string           // key in the canonical map (the URN for an extension)
	typ      string           // SCIM type: string, boolean, integer, decimal, dateTime, reference, binary or complex
	multi    bool             // multi-valued
	hasValue bool             // multi-valued complex with a "value" sub-attribute
	children map[string]*node // complex: binding name → sub-attribute
	elem     *node            // multi-valued: the node of one element
}

// isComplex reports whether n is a complex attribute, an extension or a resource.
func (n *node) isComplex() bool { return n != nil && n.typ == "complex" }

// subNames lists the binding names of n's children, sorted, for messages.
func (n *node) subNames() []string {
	out := make([]string, 0, len(n.children))
	for k := range n.children {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// enterpriseAlias is the binding name of the enterprise extension.
const enterpriseAlias = "enterprise"

// schemaTree builds the node tree of a resource type: core and common
// attributes under their names, each extension under its URN, and for
// users the enterprise extension also under "enterprise".
func schemaTree(rt *scim.ResourceType) *node {
	root := &node{typ: "complex", children: map[string]*node{}}
	for _, a := range rt.Attributes("") {
		root.children[a.Name()] = attrNode(a)
	}
	for _, e := range rt.Extensions {
		ext := &node{key: e.Schema.ID, typ: "complex", children: map[string]*node{}}
		for _, a := range e.Schema.Attributes {
			ext.children[a.Name()] = attrNode(a)
		}
		root.children[e.Schema.ID] = ext
		if e.Schema.ID == scim.URNEnterpriseUser {
			root.children[enterpriseAlias] = ext
		}
	}
	return root
}

func attrNode(a schema.CoreAttribute) *node {
	n := &node{key: a.Name(), typ: a.AttributeType()}
	if n.typ == "complex" {
		n.children = map[string]*node{}
		for _, s := range a.SubAttributes() {
			n.children[s.Name()] = &node{key: s.Name(), typ: s.AttributeType()}
		}
	}
	if a.MultiValued() {
		n.elem = &node{key: n.key, typ: n.typ, children: n.children}
		n.multi = true
		_, n.hasValue = n.children["value"]
	}
	return n
}

// wrap turns a canonical value into a CEL value; n describes it (nil when
// the schema does not know it).
func wrap(raw any, n *node) ref.Val {
	switch v := raw.(type) {
	case nil:
		return absent(n)
	case string:
		return types.String(v)
	case bool:
		return types.Bool(v)
	case int64:
		return types.Int(v)
	case int:
		return types.Int(v)
	case float64:
		return types.Double(v)
	case map[string]any:
		return &object{m: v, n: n}
	case []any:
		if n != nil && !n.multi {
			n = nil
		}
		return &multi{items: v, n: n}
	default:
		return types.DefaultTypeAdapter.NativeToValue(v)
	}
}

// absent is the value of an attribute the resource does not have.
func absent(n *node) ref.Val {
	switch {
	case n == nil:
		return types.NullValue
	case n.multi:
		return &multi{n: n}
	case n.isComplex():
		return &object{n: n}
	}
	return types.NullValue
}

// object is a complex value, an extension or a whole resource.
type object struct {
	m map[string]any
	n *node // nil: shape unknown
	// groups, on the root of a user only, is the binding's "groups": the
	// groups the user is a member of, as {value: id, display: displayName}.
	groups *memberships
}

// memberships builds user.groups when an expression first reads it.
type memberships struct {
	of   []GroupRef
	n    *node
	list *multi
}

func (g *memberships) value() *multi {
	if g.list == nil {
		g.list = groupsValue(g.of, g.n)
	}
	return g.list
}

var (
	_ traits.Indexer     = (*object)(nil)
	_ traits.FieldTester = (*object)(nil)
	_ traits.Container   = (*object)(nil)
	_ traits.Iterable    = (*object)(nil)
	_ traits.Sizer       = (*object)(nil)
)

func (o *object) lookup(name string) ref.Val {
	if o.groups != nil && name == "groups" {
		return o.groups.value()
	}
	var c *node
	key := name
	if o.n != nil {
		if c = o.n.children[name]; c != nil {
			key = c.key
		}
	}
	return wrap(o.m[key], c)
}

// Get implements traits.Indexer.
func (o *object) Get(index ref.Val) ref.Val {
	s, ok := index.(types.String)
	if !ok {
		return types.NewErr("no such key: %v", index)
	}
	return o.lookup(string(s))
}

// IsSet implements traits.FieldTester: has(user.x) is true when x is present.
func (o *object) IsSet(field ref.Val) ref.Val {
	s, ok := field.(types.String)
	if !ok {
		return types.False
	}
	return types.Bool(!isNullish(o.lookup(string(s))))
}

// Contains implements traits.Container ("x" in user).
func (o *object) Contains(value ref.Val) ref.Val { return o.IsSet(value) }

// Size implements traits.Sizer: the number of attributes present.
func (o *object) Size() ref.Val { return types.Int(len(o.keys())) }

func (o *object) keys() []string {
	keys := make([]string, 0, len(o.m)+1)
	for k, v := range o.m {
		if v != nil {
			keys = append(keys, k)
		}
	}
	if o.groups != nil && len(o.groups.of) > 0 {
		keys = append(keys, "groups")
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

// Iterator implements traits.Iterable: the keys present, sorted.
func (o *object) Iterator() traits.Iterator {
	keys := o.keys()
	vals := make([]ref.Val, len(keys))
	for i, k := range keys {
		vals[i] = types.String(k)
	}
	return &iterator{vals: vals}
}

// ConvertToNative implements ref.Val.
func (o *object) ConvertToNative(typeDesc reflect.Type) (any, error) {
	return convertNative(o, typeDesc)
}

// ConvertToType implements ref.Val.
func (o *object) ConvertToType(t ref.Type) ref.Val {
	switch t {
	case types.TypeType:
		return types.MapType
	case types.MapType:
		return o
	}
	return types.NewErr("type conversion error from map to %s", t.TypeName())
}

// Equal implements ref.Val.
func (o *object) Equal(other ref.Val) ref.Val { return equalNative(o, other) }

// Type implements ref.Val.
func (o *object) Type() ref.Type { return types.MapType }

// Value implements ref.Val.
func (o *object) Value() any { return o.m }

// multiType is the CEL type of a multi-valued attribute: iterable, sized
// and indexed like a list, and also indexed by type (user.emails.work).
var multiType = types.NewObjectType("scimgate.MultiValued",
	traits.ContainerType, traits.IndexerType, traits.IterableType, traits.SizerType)

// multi is a multi-valued attribute.
//
// Indexed by an integer it is a list. Indexed by a string it selects the
// first element whose "type" equals the string (case-insensitively), or
// the element marked primary for "primary", and yields that element's
// "value" when the attribute has one (user.emails.work), else the element
// (user.addresses.work.locality); null, or an empty object, when none
// matches.
type multi struct {
	items []any
	n     *node // nil: shape unknown
}

var (
	_ traits.Indexer     = (*multi)(nil)
	_ traits.FieldTester = (*multi)(nil)
	_ traits.Container   = (*multi)(nil)
	_ traits.Iterable    = (*multi)(nil)
	_ traits.Sizer       = (*multi)(nil)
)

func (l *multi) elemNode() *node {
	if l.n == nil {
		return nil
	}
	return l.n.elem
}

func (l *multi) elem(i int) ref.Val { return wrap(l.items[i], l.elemNode()) }

// typed finds the element a string index selects.
func (l *multi) typed(key string) ref.Val {
	for _, it := range l.items {
		m, ok := it.(map[string]any)
		if !ok {
			continue
		}
		var hit bool
		if key == "primary" {
			hit = m["primary"] == true
		} else {
			t, _ := m["type"].(string)
			hit = strings.EqualFold(t, key)
		}
		if !hit {
			continue
		}
		if l.n != nil && l.n.hasValue {
			return wrap(m["value"], l.n.elem.children["value"])
		}
		return wrap(m, l.elemNode())
	}
	if l.n != nil && l.n.hasValue {
		return types.NullValue
	}
	return absent(l.elemNode())
}

// Get implements traits.Indexer.
func (l *multi) Get(index ref.Val) ref.Val {
	switch i := index.(type) {
	case types.String:
		return l.typed(string(i))
	case types.Int:
		if i < 0 || int(i) >= len(l.items) {
			return types.NewErr("index out of range: %d", int64(i))
		}
		return l.elem(int(i))
	case types.Uint:
		return l.Get(types.Int(i))
	case types.Double:
		if float64(i) == float64(int64(i)) {
			return l.Get(types.Int(i))
		}
	}
	return types.NewErr("unsupported index type '%s' in list", index.Type().TypeName())
}

// IsSet implements traits.FieldTester: has(user.emails.work).
func (l *multi) IsSet(field ref.Val) ref.Val {
	s, ok := field.(types.String)
	if !ok {
		return types.False
	}
	return types.Bool(!isNullish(l.typed(string(s))))
}

// Contains implements traits.Container: an element, or an element's
// "value" when the attribute has one, equals value.
func (l *multi) Contains(value ref.Val) ref.Val {
	for i := range l.items {
		e := l.elem(i)
		if o, ok := e.(*object); ok && l.n != nil && l.n.hasValue {
			e = o.lookup("value")
		}
		if e.Equal(value) == types.True {
			return types.True
		}
	}
	return types.False
}

// Size implements traits.Sizer.
func (l *multi) Size() ref.Val { return types.Int(len(l.items)) }

// Iterator implements traits.Iterable.
func (l *multi) Iterator() traits.Iterator {
	vals := make([]ref.Val, len(l.items))
	for i := range l.items {
		vals[i] = l.elem(i)
	}
	return &iterator{vals: vals}
}

// ConvertToNative implements ref.Val.
func (l *multi) ConvertToNative(typeDesc reflect.Type) (any, error) {
	return convertNative(l, typeDesc)
}

// ConvertToType implements ref.Val.
func (l *multi) ConvertToType(t ref.Type) ref.Val {
	switch t {
	case types.TypeType:
		return multiType
	case multiType:
		return l
	}
	if t.TypeName() == "list" {
		return types.NewDynamicList(types.DefaultTypeAdapter, l.values())
	}
	return types.NewErr("type conversion error from list to %s", t.TypeName())
}

func (l *multi) values() []ref.Val {
	out := make([]ref.Val, len(l.items))
	for i := range l.items {
		out[i] = l.elem(i)
	}
	return out
}

// Equal implements ref.Val.
func (l *multi) Equal(other ref.Val) ref.Val { return equalNative(l, other) }

// Type implements ref.Val.
func (l *multi) Type() ref.Type { return multiType }

// Value implements ref.Val.
func (l *multi) Value() any { return l.items }

// iterator iterates over precomputed values.
type iterator struct {
	vals []ref.Val
	i    int
}

func (it *iterator) HasNext() ref.Val { return types.Bool(it.i < len(it.vals)) }

func (it *iterator) Next() ref.Val {
	if it.i >= len(it.vals) {
		return types.NewErr("iterator exhausted")
	}
	v := it.vals[it.i]
	it.i++
	return v
}

func (it *iterator) ConvertToNative(reflect.Type) (any, error) {
	return nil, errIterator
}
func (it *iterator) ConvertToType(ref.Type) ref.Val {
	return types.NewErr("iterator has no type conversion")
}
func (it *iterator) Equal(ref.Val) ref.Val { return types.False }
func (it *iterator) Type() ref.Type        { return types.IteratorType }
func (it *iterator) Value() any            { return nil }

// isNullish reports whether v is null, an empty object or an empty list:
// what IsNull calls null (an absent attribute).
func isNullish(v ref.Val) bool {
	switch x := v.(type) {
	case types.Null:
		return true
	case *object:
		return len(x.m) == 0 && (x.groups == nil || len(x.groups.of) == 0)
	case *multi:
		return len(x.items) == 0
	case traits.Lister:
		return x.Size() == types.IntZero
	case traits.Mapper:
		return x.Size() == types.IntZero
	}
	return false
}

// groupsValue builds the binding's user.groups from memberships.
func groupsValue(memberOf []GroupRef, n *node) *multi {
	items := make([]any, len(memberOf))
	for i, g := range memberOf {
		m := make(map[string]any, 2)
		if g.ID != "" {
			m["value"] = g.ID
		}
		if g.DisplayName != "" {
			m["display"] = g.DisplayName
		}
		items[i] = m
	}
	return &multi{items: items, n: n}
}
