package scimtarget

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/scimgate/scimgate/targets"
)

// path is a target attribute name: a SCIM attribute path of one of the
// forms the package documentation lists.
type path struct {
	urn   string // the extension schema URN; "" for the core schema
	name  string // the attribute
	typed bool   // the path has a [type eq "..."] filter
	typ   string // its value
	sub   string // the sub-attribute; "" for none
}

// errPath is the error of an attribute name that is no supported path.
var errPath = errors.New("not a supported SCIM attribute path")

// parsePath parses a target attribute name. It accepts only the canonical
// spelling (String returns s), since Get and List return attributes under
// that spelling.
func parsePath(s string) (path, error) {
	var p path
	rest := s
	if len(s) > 4 && strings.EqualFold(s[:4], "urn:") {
		limit := len(s)
		if i := strings.IndexByte(s, '['); i >= 0 {
			limit = i
		}
		i := strings.LastIndexByte(s[:limit], ':')
		if i <= len("urn:") {
			return p, fmt.Errorf("%q: %w (a schema URN, then ':' and the attribute)", s, errPath)
		}
		p.urn, rest = s[:i], s[i+1:]
	}
	p.name, rest = attrName(rest)
	if p.name == "" {
		return p, fmt.Errorf("%q: %w (an attribute name must start with a letter)", s, errPath)
	}
	if strings.HasPrefix(rest, "[") {
		const open = "[type eq "
		if !strings.HasPrefix(rest, open) {
			return p, fmt.Errorf("%q: %w (the only filter is [type eq \"value\"])", s, errPath)
		}
		rest = rest[len(open):]
		end := quotedEnd(rest)
		if end < 0 || end >= len(rest) || rest[end] != ']' {
			return p, fmt.Errorf("%q: %w (the only filter is [type eq \"value\"], the value a JSON string)", s, errPath)
		}
		if err := json.Unmarshal([]byte(rest[:end]), &p.typ); err != nil {
			return p, fmt.Errorf("%q: %w (filter value: %v)", s, errPath, err)
		}
		p.typed, rest = true, rest[end+1:]
		if !strings.HasPrefix(rest, ".") {
			return p, fmt.Errorf("%q: %w (a [type eq] filter is followed by .subAttribute)", s, errPath)
		}
	}
	if strings.HasPrefix(rest, ".") {
		p.sub, rest = attrName(rest[1:])
		if p.sub == "" {
			return p, fmt.Errorf("%q: %w (no sub-attribute after '.')", s, errPath)
		}
	}
	if rest != "" {
		return p, fmt.Errorf("%q: %w (unexpected %q)", s, errPath, rest)
	}
	if c := p.String(); c != s {
		return p, fmt.Errorf("%q: %w: write it as %s", s, errPath, c)
	}
	return p, nil
}

// attrName splits an attribute name (RFC 7643 ATTRNAME, or $ref) off s.
func attrName(s string) (name, rest string) {
	if strings.HasPrefix(s, "$ref") {
		return "$ref", s[4:]
	}
	i := 0
	for i < len(s) {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && (c >= '0' && c <= '9' || c == '-' || c == '_') {
			i++
			continue
		}
		break
	}
	return s[:i], s[i:]
}

// quotedEnd returns the index after the JSON string that s starts with,
// or -1.
func quotedEnd(s string) int {
	if !strings.HasPrefix(s, `"`) {
		return -1
	}
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return -1
}

// String is the canonical spelling of the path.
func (p path) String() string {
	var b strings.Builder
	if p.urn != "" {
		b.WriteString(p.urn + ":")
	}
	b.WriteString(p.name)
	if p.typed {
		b.WriteString("[type eq " + quote(p.typ) + "]")
	}
	if p.sub != "" {
		b.WriteString("." + p.sub)
	}
	return b.String()
}

// attrPath is the path without its filter and sub-attribute: the
// attribute that a PATCH of the whole attribute names.
func (p path) attrPath() string { return path{urn: p.urn, name: p.name}.String() }

// writable reports why a mapping may not write p.
func (p path) writable(kind targets.Kind) error {
	switch {
	case p.urn == "" && isReserved(p.name):
		return fmt.Errorf("%q is managed by the connector or the service", p.String())
	case strings.EqualFold(p.urn, userSchema), strings.EqualFold(p.urn, groupSchema):
		return fmt.Errorf("%q: write core attributes without the schema URN", p.String())
	}
	return nil
}

// Schema URNs.
const (
	userSchema    = "urn:ietf:params:scim:schemas:core:2.0:User"
	groupSchema   = "urn:ietf:params:scim:schemas:core:2.0:Group"
	patchSchema   = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	errorSchema   = "urn:ietf:params:scim:api:messages:2.0:Error"
	listSchema    = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	spConfigPath  = "/ServiceProviderConfig"
	opReplace     = "replace"
	opAdd         = "add"
	opRemove      = "remove"
	scimNoTarget  = "noTarget"
	maxLookupSize = 10
)

// quote returns s as a JSON (and SCIM filter) string.
func quote(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}

// attr is one attribute of an operation: its path and value.
type attr struct {
	p path
	v any // nil: clear
}

// parseAttrs parses the attributes of an operation, in the order of their
// names. An attribute the connector cannot write is ErrPermanent naming it.
func (c *Connector) parseAttrs(kind targets.Kind, attrs map[string]any) ([]attr, error) {
	if err := targets.CheckAttrs(attrs); err != nil {
		return nil, err
	}
	out := make([]attr, 0, len(attrs))
	lists, typed := map[string]string{}, map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(attrs)) {
		p, err := parsePath(name)
		if err == nil {
			err = p.writable(kind)
		}
		if err == nil && p == c.objectID {
			err = fmt.Errorf("%q is where the connector records the gateway's object id (object_id_attribute)", name)
		}
		v := attrs[name]
		if l, ok := v.([]string); ok && len(l) == 0 {
			v = nil
		}
		switch v.(type) {
		case []string:
			if p.typed {
				err = fmt.Errorf("%q: one value per [type eq] element, not a list", name)
			}
		}
		if err != nil {
			return nil, targets.Permanent(fmt.Errorf("attribute %w", err))
		}
		// A list under attr.sub owns the multi-valued attribute; it cannot
		// share it with [type eq] paths.
		key := strings.ToLower(p.attrPath())
		if _, isList := v.([]string); isList && p.sub != "" {
			if l, ok := lists[key]; ok {
				return nil, targets.Permanent(fmt.Errorf("attributes %q and %q: only one list path per multi-valued attribute", l, name))
			}
			lists[key] = name
		}
		if p.typed {
			typed[key] = name
		}
		out = append(out, attr{p: p, v: v})
	}
	for key, l := range lists {
		if t, ok := typed[key]; ok {
			return nil, targets.Permanent(fmt.Errorf("attributes %q and %q: a list under %s replaces every element of it, so it cannot be combined with a [type eq] path", l, t, key))
		}
	}
	return out, nil
}

// lookupKey returns the key of m that equals name case-insensitively, or
// name.
func lookupKey(m map[string]any, name string) string {
	if _, ok := m[name]; ok {
		return name
	}
	for k := range m {
		if strings.EqualFold(k, name) {
			return k
		}
	}
	return name
}

// container returns the object that holds p's attribute: res, or the
// extension object of p's URN (created when create is set; nil if absent).
func container(res map[string]any, p path, create bool) (map[string]any, error) {
	if p.urn == "" {
		return res, nil
	}
	k := lookupKey(res, p.urn)
	switch ext := res[k].(type) {
	case map[string]any:
		return ext, nil
	case nil:
		if !create {
			return nil, nil
		}
		m := map[string]any{}
		res[k] = m
		return m, nil
	default:
		return nil, fmt.Errorf("%s is not an object", p.urn)
	}
}

// setPath sets p to v (not nil) in the resource res.
func setPath(res map[string]any, p path, v any) error {
	c, err := container(res, p, true)
	if err != nil {
		return err
	}
	k := lookupKey(c, p.name)
	list, isList := v.([]string)
	switch {
	case p.sub == "":
		c[k] = jsonValue(v)
	case !p.typed && isList:
		elems := make([]any, len(list))
		for i, s := range list {
			elems[i] = map[string]any{p.sub: s}
		}
		c[k] = elems
	case !p.typed:
		m, ok := c[k].(map[string]any)
		if !ok {
			if c[k] != nil {
				return fmt.Errorf("%s is multi-valued: give a list, or use a [type eq] path", p.attrPath())
			}
			m = map[string]any{}
			c[k] = m
		}
		m[lookupKey(m, p.sub)] = jsonValue(v)
	default:
		elems, ok := c[k].([]any)
		if !ok && c[k] != nil {
			return fmt.Errorf("%s is not multi-valued", p.attrPath())
		}
		el := typedElem(elems, p.typ)
		if el == nil {
			el = map[string]any{"type": p.typ}
			c[k] = append(elems, el)
		}
		el[lookupKey(el, p.sub)] = jsonValue(v)
	}
	return nil
}

// typedElem returns the element of a multi-valued attribute whose type is
// typ, or nil.
func typedElem(elems []any, typ string) map[string]any {
	for _, e := range elems {
		if m, ok := e.(map[string]any); ok {
			if t, _ := m[lookupKey(m, "type")].(string); t == typ {
				return m
			}
		}
	}
	return nil
}

// removePath removes p from the resource res: the attribute, the
// sub-attribute (of every element without a type, for a multi-valued
// attribute), or the sub-attribute of the typed element. Objects and
// elements left empty go too.
func removePath(res map[string]any, p path) {
	c, _ := container(res, p, false)
	if c == nil {
		return
	}
	k := lookupKey(c, p.name)
	switch v := c[k].(type) {
	case map[string]any:
		if p.sub == "" {
			delete(c, k)
			break
		}
		delete(v, lookupKey(v, p.sub))
		if len(v) == 0 {
			delete(c, k)
		}
	case []any:
		if p.sub == "" {
			delete(c, k)
			break
		}
		kept := v[:0:0]
		for _, e := range v {
			m, ok := e.(map[string]any)
			if !ok {
				kept = append(kept, e)
				continue
			}
			t, hasType := m[lookupKey(m, "type")].(string)
			if p.typed && hasType && t == p.typ || !p.typed && !hasType {
				m = maps.Clone(m)
				delete(m, lookupKey(m, p.sub))
				if len(m) == 0 || len(m) == 1 && hasType {
					continue
				}
			}
			kept = append(kept, m)
		}
		if len(kept) == 0 {
			delete(c, k)
		} else {
			c[k] = kept
		}
	default:
		if p.sub == "" {
			delete(c, k)
		}
	}
	if p.urn != "" && len(c) == 0 {
		delete(res, lookupKey(res, p.urn))
	}
}

// jsonValue returns an attribute value as it goes into a JSON body.
func jsonValue(v any) any {
	if l, ok := v.([]string); ok {
		out := make([]any, len(l))
		for i, s := range l {
			out[i] = s
		}
		return out
	}
	return v
}

// compValue returns v as a SCIM filter comparison value.
func compValue(name string, v any) (string, error) {
	switch v := v.(type) {
	case string:
		return quote(v), nil
	case bool:
		return strconv.FormatBool(v), nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64), nil
	default:
		return "", targets.Permanent(fmt.Errorf("attribute %q: cannot look up a value of type %T", name, v))
	}
}

// filter returns the SCIM filter that matches p holding v: a [type eq]
// path becomes attr[type eq "t" and sub eq v] (RFC 7644's valuePath).
func filter(p path, v any) (string, error) {
	cv, err := compValue(p.String(), v)
	if err != nil {
		return "", err
	}
	if p.typed {
		return fmt.Sprintf("%s[type eq %s and %s eq %s]", p.attrPath(), quote(p.typ), p.sub, cv), nil
	}
	return p.String() + " eq " + cv, nil
}

// flatten returns the attributes of a resource under their paths: every
// attribute except those in skip; see the package documentation.
func flatten(res map[string]any, boolStrings bool, skip func(string) bool) map[string]any {
	out := map[string]any{}
	for k, v := range res {
		if skip(k) {
			continue
		}
		if ext, ok := v.(map[string]any); ok && len(k) > 4 && strings.EqualFold(k[:4], "urn:") {
			for name, ev := range ext {
				flattenAttr(out, k+":", name, ev, boolStrings)
			}
			continue
		}
		flattenAttr(out, "", k, v, boolStrings)
	}
	return out
}

func flattenAttr(out map[string]any, prefix, name string, v any, boolStrings bool) {
	key := prefix + name
	switch v := v.(type) {
	case map[string]any:
		for sub, sv := range v {
			if x := readScalar(sv, boolStrings); x != nil {
				out[key+"."+sub] = x
			} else if l := readStrings(sv); l != nil {
				out[key+"."+sub] = l
			}
		}
	case []any:
		if l := readStrings(v); l != nil {
			out[key] = l
			return
		}
		lists := map[string][]string{}
		for _, e := range v {
			m, ok := e.(map[string]any)
			if !ok {
				continue
			}
			typ, typed := m[lookupKey(m, "type")].(string)
			for sub, sv := range m {
				if typed && strings.EqualFold(sub, "type") {
					continue
				}
				if typed {
					k := key + "[type eq " + quote(typ) + "]." + sub
					if x := readScalar(sv, boolStrings); x != nil && out[k] == nil {
						out[k] = x
					}
				} else if s, ok := sv.(string); ok {
					lists[sub] = append(lists[sub], s)
				}
			}
		}
		for sub, l := range lists {
			out[key+"."+sub] = l
		}
	default:
		if x := readScalar(v, boolStrings); x != nil {
			out[key] = x
		}
	}
}

// readScalar converts a JSON scalar into an attribute value: a string, a
// bool, an int64 (a number without fraction or exponent) or a float64; nil
// for anything else.
func readScalar(v any, boolStrings bool) any {
	switch v := v.(type) {
	case string:
		if boolStrings {
			switch v {
			case "True":
				return true
			case "False":
				return false
			}
		}
		return v
	case bool:
		return v
	case json.Number:
		if !strings.ContainsAny(string(v), ".eE") {
			if i, err := v.Int64(); err == nil {
				return i
			}
		}
		if f, err := v.Float64(); err == nil {
			return f
		}
	case float64:
		return v
	}
	return nil
}

// readStrings returns a non-empty JSON array of strings as a []string, or
// nil.
func readStrings(v any) []string {
	a, ok := v.([]any)
	if !ok || len(a) == 0 {
		return nil
	}
	out := make([]string, len(a))
	for i, e := range a {
		s, ok := e.(string)
		if !ok {
			return nil
		}
		out[i] = s
	}
	return out
}

// boolsAsStrings returns v with every boolean replaced by "True" or
// "False" (the booleans_as_strings quirk).
func boolsAsStrings(v any) any {
	switch v := v.(type) {
	case bool:
		if v {
			return "True"
		}
		return "False"
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = boolsAsStrings(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = boolsAsStrings(e)
		}
		return out
	case []patchOp:
		out := make([]patchOp, len(v))
		for i, op := range v {
			op.Value = boolsAsStrings(op.Value)
			out[i] = op
		}
		return out
	case patchRequest:
		v.Operations = boolsAsStrings(v.Operations).([]patchOp)
		return v
	}
	return v
}

// patchRequest is an RFC 7644 PatchOp message.
type patchRequest struct {
	Schemas    []string  `json:"schemas"`
	Operations []patchOp `json:"Operations"`
}

type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path,omitempty"`
	Value any    `json:"value,omitempty"`
}

func newPatch(ops ...patchOp) patchRequest {
	return patchRequest{Schemas: []string{patchSchema}, Operations: ops}
}

// patchOps returns the operations that apply attrs: a replace per value,
// a remove per cleared attribute; with withoutPath, the replaces of paths
// without filter folded into one operation without path.
func patchOps(attrs []attr, withoutPath bool) ([]patchOp, error) {
	var ops []patchOp
	folded := map[string]any{}
	for _, a := range attrs {
		p, v := a.p, a.v
		list, isList := v.([]string)
		switch {
		case v == nil:
			ops = append(ops, patchOp{Op: opRemove, Path: p.String()})
		case withoutPath && !p.typed:
			if err := setPath(folded, p, v); err != nil {
				return nil, targets.Permanent(fmt.Errorf("attribute %q: %w", p, err))
			}
		case isList && p.sub != "":
			elems := make([]any, len(list))
			for i, s := range list {
				elems[i] = map[string]any{p.sub: s}
			}
			ops = append(ops, patchOp{Op: opReplace, Path: p.attrPath(), Value: elems})
		default:
			ops = append(ops, patchOp{Op: opReplace, Path: p.String(), Value: jsonValue(v)})
		}
	}
	if len(folded) > 0 {
		ops = append([]patchOp{{Op: opReplace, Value: folded}}, ops...)
	}
	return ops, nil
}
