package scim

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	datetime "github.com/di-wu/xsd-datetime"
	"github.com/elimity-com/scim/schema"
)

// customHint ends the detail of an unknown-attribute error.
const customHint = "custom attributes must be declared in configuration (scim.custom_extensions)"

// Normalize validates a client-supplied resource (a POST or PUT body decoded
// with json.Decoder.UseNumber) and returns its canonical form. Errors are
// ErrInvalidValue Errors whose detail names the attribute. body is not modified;
// the result is a new map but may share complex values that were already
// canonical with body, so copy a nested value before changing it.
//
// Keys are matched case-insensitively and may be plain attribute names,
// dotted sub-attribute paths ("name.givenName"), extension URNs holding an
// object, or URN-prefixed attribute paths
// ("urn:...:enterprise:2.0:User:department"), whether or not the URN is
// listed in "schemas". "schemas" and read-only attributes other than "id"
// are ignored; "id" is kept when it is a string (the caller sets it).
// Several keys may name parts of one complex attribute; naming the same
// value twice is an error.
func (rt *ResourceType) Normalize(body map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(body))
	merged := false // a complex attribute was assembled from several keys
	for k, v := range body {
		urn, ok := rt.schemaKey(k)
		if !ok {
			m, err := rt.normalizeKey(out, "", k, v)
			if err != nil {
				return nil, err
			}
			merged = merged || m
			continue
		}
		if v == nil {
			continue
		}
		obj, isObj := v.(map[string]any)
		if !isObj {
			return nil, invalidValue("%q: expected an object holding the attributes of that schema, got %s", k, describe(v))
		}
		for nk, nv := range obj {
			m, err := rt.normalizeKey(out, urn, nk, nv)
			if err != nil {
				return nil, err
			}
			merged = merged || m
		}
	}
	if merged {
		rt.finishMerged(out)
	}
	if err := rt.checkRequired(out); err != nil {
		return nil, err
	}
	return out, nil
}

// schemaKey reports whether key is the URN of the core schema or of an
// extension (any case), and returns it canonically spelled ("" for core).
func (rt *ResourceType) schemaKey(key string) (string, bool) {
	if len(key) < 4 || !strings.EqualFold(key[:4], "urn:") {
		return "", false
	}
	if strings.EqualFold(key, rt.Schema.ID) {
		return "", true
	}
	if e, ok := rt.Extension(key); ok {
		return e.Schema.ID, true
	}
	return "", false
}

// normalizeKey coerces the value of one body key into out. urn is the
// schema whose object holds the key ("" for the top level). It reports
// whether the value was merged into an existing complex value.
func (rt *ResourceType) normalizeKey(out map[string]any, urn, key string, v any) (bool, error) {
	if urn == "" && strings.EqualFold(key, "schemas") {
		return false, nil
	}
	t, err := rt.resolveKey(urn, key)
	if err != nil {
		return false, err
	}
	def := t.def
	if def.Mutability() == "readOnly" {
		if def.Name() == "id" && t.urn == "" && t.sub == nil {
			if s, ok := v.(string); ok {
				out["id"] = s
			}
		}
		return false, nil
	}
	if t.sub != nil && t.sub.Mutability() == "readOnly" {
		return false, nil
	}
	prefix := pathPrefix(t.urn)
	container := out
	if t.urn != "" {
		ext, _ := out[t.urn].(map[string]any)
		if ext == nil {
			ext = map[string]any{}
		}
		container = ext
		defer func() {
			if len(ext) > 0 {
				out[t.urn] = ext
			}
		}()
	}
	name := def.Name()
	if t.sub == nil {
		c, err := coerceAttr(prefix, def, v)
		if err != nil || c == nil {
			return false, err
		}
		old, exists := container[name]
		if !exists {
			container[name] = c
			return false, nil
		}
		_, ok1 := old.(map[string]any)
		cm, ok2 := c.(map[string]any)
		if !ok1 || !ok2 {
			return false, invalidValue("attribute %q is given more than once", prefix+name)
		}
		om := copyMap(old) // old may be shared with body
		container[name] = om
		for sk, sv := range cm {
			if _, dup := om[sk]; dup {
				return false, invalidValue("attribute %q is given more than once", prefix+name+"."+sk)
			}
			om[sk] = sv
		}
		return true, nil
	}
	if def.MultiValued() {
		return false, invalidValue("%q: a sub-attribute of the multi-valued attribute %q cannot be set on its own; give the whole %q array", prefix+name+"."+t.sub.Name(), prefix+name, name)
	}
	c, err := coerceAttr(prefix+name+".", *t.sub, v)
	if err != nil || c == nil {
		return false, err
	}
	om := copyMap(container[name]) // it may be shared with body
	container[name] = om
	if _, dup := om[t.sub.Name()]; dup {
		return false, invalidValue("attribute %q is given more than once", prefix+name+"."+t.sub.Name())
	}
	om[t.sub.Name()] = c
	return true, nil
}

// finishMerged applies finishComplex to the single-valued complex values
// of res, which may have been assembled from several keys.
func (rt *ResourceType) finishMerged(res map[string]any) {
	for k, v := range res {
		m, ok := v.(map[string]any)
		if !ok {
			continue
		}
		if _, isExt := rt.Extension(k); !isExt {
			if finishComplex(m) == nil {
				delete(res, k)
			}
			continue
		}
		for ek, ev := range m {
			if em, ok := ev.(map[string]any); ok && finishComplex(em) == nil {
				delete(m, ek)
			}
		}
		if len(m) == 0 {
			delete(res, k)
		}
	}
}

// keyTarget is the attribute a key or path names.
type keyTarget struct {
	urn string // "" for core and common attributes
	def schema.CoreAttribute
	sub *schema.CoreAttribute
}

// resolveKey resolves a body key: a name with an optional ".sub", with an
// optional schema URN prefix when urn is "" (a top-level key). A bare name
// that only an extension defines resolves to that extension.
func (rt *ResourceType) resolveKey(urn, key string) (keyTarget, error) {
	rest := key
	if urn == "" {
		u, r, ok := rt.SplitURN(key)
		switch {
		case ok && u != rt.Schema.ID:
			urn, rest = u, r
		case ok:
			rest = r
		case len(key) >= 4 && strings.EqualFold(key[:4], "urn:"):
			return keyTarget{}, invalidValue("%q names no schema of %s (known: %s); %s", key, rt.Name, strings.Join(rt.SchemaURNs(), ", "), customHint)
		}
	}
	name, subName, hasSub := strings.Cut(rest, ".")
	def, ok := rt.lookup(urn, name)
	if !ok && urn == "" && rest == key {
		if urn = rt.extensionDefining(name); urn != "" {
			def, ok = rt.lookup(urn, name)
		}
	}
	if !ok {
		return keyTarget{}, invalidValue("unknown attribute %q: it is not in the %s schema%s; %s", pathPrefix(urn)+name, rt.Name, schemaNote(urn), customHint)
	}
	t := keyTarget{urn: urn, def: def}
	if hasSub {
		s, ok := findDef(def.SubAttributes(), subName)
		if !ok {
			return keyTarget{}, invalidValue("unknown attribute %q: %q has no sub-attribute %q; %s", pathPrefix(urn)+name+"."+subName, pathPrefix(urn)+def.Name(), subName, customHint)
		}
		t.sub = &s
	}
	return t, nil
}

func schemaNote(urn string) string {
	if urn == "" {
		return ""
	}
	return " extension " + urn
}

// qualify prefixes a path without schema URN whose leading attribute name
// no core or common attribute has but exactly one extension defines with
// that extension's URN (Entra sends "manager" for the enterprise manager).
// Other paths are returned as they are.
func (rt *ResourceType) qualify(path string) string {
	if len(path) >= 4 && strings.EqualFold(path[:4], "urn:") {
		return path
	}
	name := path
	if i := strings.IndexAny(path, ".["); i >= 0 {
		name = path[:i]
	}
	if _, ok := rt.lookup("", name); ok {
		return path
	}
	if urn := rt.extensionDefining(name); urn != "" {
		return urn + ":" + path
	}
	return path
}

// extensionDefining returns the URN of the only extension that defines
// attribute name, or "".
func (rt *ResourceType) extensionDefining(name string) string {
	found := ""
	for i := range rt.Extensions {
		e := &rt.Extensions[i]
		if _, ok := findDef(e.Schema.Attributes, name); ok {
			if found != "" {
				return ""
			}
			found = e.Schema.ID
		}
	}
	return found
}

// lookup finds attribute name in schema urn ("" = core plus common)
// without allocating.
func (rt *ResourceType) lookup(urn, name string) (schema.CoreAttribute, bool) {
	if urn == "" {
		if a, ok := findDef(rt.Schema.Attributes, name); ok {
			return a, true
		}
		return findDef(commonAttrs, name)
	}
	if e, ok := rt.Extension(urn); ok {
		return findDef(e.Schema.Attributes, name)
	}
	return schema.CoreAttribute{}, false
}

// findDef is findAttr without copying every definition it passes over
// (Normalize runs it for every key).
func findDef(attrs schema.Attributes, name string) (schema.CoreAttribute, bool) {
	for i := range attrs {
		if n := attrs[i].Name(); n == name || strings.EqualFold(n, name) {
			return attrs[i], true
		}
	}
	return schema.CoreAttribute{}, false
}

// pathPrefix is what precedes an attribute name of schema urn in a path.
func pathPrefix(urn string) string {
	if urn == "" {
		return ""
	}
	return urn + ":"
}

// checkRequired makes sure the required attributes of the core schema and
// of required extensions have a value.
func (rt *ResourceType) checkRequired(res map[string]any) error {
	for _, a := range rt.Schema.Attributes {
		if a.Required() && a.Name() != "id" && empty(res[a.Name()]) {
			return invalidValue("%s is required", a.Name())
		}
	}
	for _, e := range rt.Extensions {
		if !e.Required {
			continue
		}
		ext, _ := res[e.Schema.ID].(map[string]any)
		for _, a := range e.Schema.Attributes {
			if a.Required() && empty(ext[a.Name()]) {
				return invalidValue("%s:%s is required", e.Schema.ID, a.Name())
			}
		}
	}
	return nil
}

func empty(v any) bool {
	s, isStr := v.(string)
	return v == nil || isStr && s == ""
}

// coerceAttr converts v to the canonical value of the whole attribute def
// (all its values when it is multi-valued); nil means absent. prefix is what
// precedes def's name in error details ("", "name.", "urn:...:User:").
func coerceAttr(prefix string, def schema.CoreAttribute, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	arr, isArr := v.([]any)
	if def.MultiValued() {
		if !isArr {
			arr = []any{v}
		}
		return coerceMulti(prefix, def, arr)
	}
	if isArr {
		switch {
		case len(arr) == 0:
			return nil, nil
		case len(arr) == 1 && def.AttributeType() == "complex":
			v = arr[0]
		default:
			return nil, invalidValue("attribute %q: expected %s, got %s", prefix+def.Name(), expected(def), describe(v))
		}
	}
	return coerceValue(prefix, def, v, "")
}

// coerceMulti converts the values of multi-valued attribute def, dropping
// absent ones; at most one may be primary.
func coerceMulti(prefix string, def schema.CoreAttribute, arr []any) (any, error) {
	out := make([]any, 0, len(arr))
	subPrefix := ""
	if def.AttributeType() == "complex" {
		subPrefix = prefix + def.Name() + "."
	}
	primaries := 0
	seen := map[string]int{} // (type, value) → index in out
	for _, e := range arr {
		c, err := coerceValue(prefix, def, e, subPrefix)
		if err != nil {
			return nil, err
		}
		if c == nil {
			continue
		}
		// RFC 7643 §2.4: the same (type, value) once per attribute; a
		// repeated one is dropped (its primary mark kept).
		if k, ok := typeValue(c); ok {
			if i, dup := seen[k]; dup {
				if isPrimary(c) && !isPrimary(out[i]) {
					out[i].(map[string]any)["primary"] = true
					primaries++
				}
				continue
			}
			seen[k] = len(out)
		}
		if isPrimary(c) {
			primaries++
		}
		out = append(out, c)
	}
	if primaries > 1 {
		return nil, invalidValue("attribute %q: %d values have \"primary\": true; at most one may", prefix+def.Name(), primaries)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// typeValue returns the (type, value) key of a multi-valued attribute's
// value: the value itself for a simple one, its type and value
// sub-attributes for a complex one that has a value; ok is false when it
// has none.
func typeValue(v any) (string, bool) {
	m, complexValue := v.(map[string]any)
	if !complexValue {
		b, err := json.Marshal(v)
		return string(b), err == nil
	}
	val, ok := m["value"]
	if !ok {
		return "", false
	}
	b, err := json.Marshal([]any{m["type"], val})
	return string(b), err == nil
}

func isPrimary(v any) bool {
	m, ok := v.(map[string]any)
	return ok && m["primary"] == true
}

// coerceValue converts one value of def's type; nil means absent.
// subPrefix, when not "", is prefix+def.Name()+"." (precomputed for the
// elements of a multi-valued complex attribute).
func coerceValue(prefix string, def schema.CoreAttribute, v any, subPrefix string) (any, error) {
	if v == nil {
		return nil, nil
	}
	bad := func() error {
		return invalidValue("attribute %q: expected %s, got %s", prefix+def.Name(), expected(def), describe(v))
	}
	switch def.AttributeType() {
	case "string", "reference":
		if s, ok := v.(string); ok {
			return s, nil
		}
	case "boolean":
		switch x := v.(type) {
		case bool:
			return x, nil
		case string:
			if strings.EqualFold(x, "true") {
				return true, nil
			}
			if strings.EqualFold(x, "false") {
				return false, nil
			}
		}
	case "integer":
		var s string
		switch x := v.(type) {
		case int64:
			return x, nil
		case int:
			return int64(x), nil
		case float64:
			if x == math.Trunc(x) && math.Abs(x) < 1<<63 {
				return int64(x), nil
			}
			return nil, bad()
		case json.Number:
			s = string(x)
		case string:
			s = x
		default:
			return nil, bad()
		}
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i, nil
		}
	case "decimal":
		var s string
		switch x := v.(type) {
		case float64:
			if !math.IsInf(x, 0) && !math.IsNaN(x) {
				return x, nil
			}
			return nil, bad()
		case int64:
			return float64(x), nil
		case int:
			return float64(x), nil
		case json.Number:
			s = string(x)
		case string:
			s = x
		default:
			return nil, bad()
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
			return f, nil
		}
	case "dateTime":
		if s, ok := v.(string); ok {
			if _, err := datetime.Parse(s); err != nil {
				return nil, invalidValue("attribute %q: expected %s, got %s (%v)", prefix+def.Name(), expected(def), describe(v), err)
			}
			return s, nil
		}
	case "binary":
		if s, ok := v.(string); ok {
			if _, err := base64.StdEncoding.DecodeString(s); err != nil {
				return nil, invalidValue("attribute %q: expected %s, got %s (%v)", prefix+def.Name(), expected(def), describe(v), err)
			}
			return s, nil
		}
	case "complex":
		if subPrefix == "" {
			subPrefix = prefix + def.Name() + "."
		}
		return coerceComplex(prefix, def, v, subPrefix)
	}
	return nil, bad()
}

// coerceComplex converts a complex value: an object, or a plain string when
// def has a "value" sub-attribute. Read-only sub-attributes are dropped; an
// empty result, or one whose "value" is "", is absent.
func coerceComplex(prefix string, def schema.CoreAttribute, v any, subPrefix string) (any, error) {
	var m map[string]any
	switch x := v.(type) {
	case map[string]any:
		m = x
	case string:
		if _, ok := findDef(def.SubAttributes(), "value"); !ok {
			return nil, invalidValue("attribute %q: expected an object, got %s", prefix+def.Name(), describe(v))
		}
		m = map[string]any{"value": x}
	default:
		return nil, invalidValue("attribute %q: expected an object, got %s", prefix+def.Name(), describe(v))
	}
	if def.Name() == "roles" {
		m = expandRole(m)
	}
	if isCanonical(def, m) {
		return finishComplex(m), nil
	}
	out := make(map[string]any, len(m))
	for k, raw := range m {
		sub, ok := findDef(def.SubAttributes(), k)
		if !ok {
			return nil, invalidValue("unknown attribute %q: %q has no sub-attribute %q; %s", subPrefix+k, prefix+def.Name(), k, customHint)
		}
		if sub.Mutability() == "readOnly" {
			continue
		}
		c, err := coerceAttr(subPrefix, sub, raw)
		if err != nil {
			return nil, err
		}
		if c == nil {
			continue
		}
		if _, dup := out[sub.Name()]; dup {
			return nil, invalidValue("attribute %q is given more than once", subPrefix+sub.Name())
		}
		out[sub.Name()] = c
	}
	return finishComplex(out), nil
}

// isCanonical reports whether m is a valid complex value of def already in
// canonical form, so that it can be used as it is: stored resources
// normalize without copying every element of a large multi-valued
// attribute (Patch validates its whole result). When it is not, the caller
// converts m and reports what is wrong.
func isCanonical(def schema.CoreAttribute, m map[string]any) bool {
	for k, raw := range m {
		sub, ok := findDef(def.SubAttributes(), k)
		if !ok || sub.Name() != k || sub.Mutability() == "readOnly" || sub.MultiValued() || !canonicalScalar(sub, raw) {
			return false
		}
	}
	return true
}

// canonicalScalar reports whether v is a valid canonical value of the
// simple, single-valued attribute def.
func canonicalScalar(def schema.CoreAttribute, v any) bool {
	switch x := v.(type) {
	case string:
		switch def.AttributeType() {
		case "string", "reference":
			return true
		case "dateTime":
			_, err := datetime.Parse(x)
			return err == nil
		case "binary":
			_, err := base64.StdEncoding.DecodeString(x)
			return err == nil
		}
	case bool:
		return def.AttributeType() == "boolean"
	case int64:
		return def.AttributeType() == "integer"
	case float64:
		return def.AttributeType() == "decimal" && !math.IsInf(x, 0) && !math.IsNaN(x)
	}
	return false
}

// finishComplex returns m, or nil when m is empty or its "value" is the
// empty string (Entra clears the manager with {"value":""}).
func finishComplex(m map[string]any) any {
	if len(m) == 0 || m["value"] == "" {
		return nil
	}
	return m
}

// expandRole handles the role object that Entra JSON-encodes into the
// "value" string of a roles element
// ({"value":"{\"id\":\"..\",\"value\":\"25\",\"displayName\":\"Role1234\"}"}):
// the result takes value, display (from displayName or display), type and
// primary from the encoded object, unless the element itself gives them.
// Other keys of the encoded object (its "id") are ignored. A value that is
// not a JSON object is left as it is; one encoded several times is decoded
// until it is not, so that Normalize stays idempotent.
func expandRole(m map[string]any) map[string]any {
	for {
		next, ok := expandRoleOnce(m)
		if !ok {
			return m
		}
		m = next
	}
}

func expandRoleOnce(m map[string]any) (map[string]any, bool) {
	var s string
	n := 0
	for k, v := range m {
		if strings.EqualFold(k, "value") {
			s, _ = v.(string)
			n++
		}
	}
	if n != 1 || !strings.HasPrefix(strings.TrimSpace(s), "{") {
		return m, false
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var inner map[string]any
	if dec.Decode(&inner) != nil || dec.More() {
		return m, false
	}
	out := make(map[string]any, len(m)+3)
	for k, v := range m {
		if !strings.EqualFold(k, "value") {
			out[k] = v
		}
	}
	pick := func(dst string, keys ...string) {
		for k := range out {
			if strings.EqualFold(k, dst) {
				return
			}
		}
		for _, want := range keys {
			for k, v := range inner {
				if strings.EqualFold(k, want) && v != nil {
					out[dst] = v
					return
				}
			}
		}
	}
	pick("value", "value")
	pick("display", "displayName", "display")
	pick("type", "type")
	pick("primary", "primary")
	return out, true
}

// expected says what a value of def's type looks like, for error details.
func expected(def schema.CoreAttribute) string {
	switch def.AttributeType() {
	case "string":
		return "a string"
	case "reference":
		return "a string (a reference)"
	case "boolean":
		return "a boolean"
	case "integer":
		return "an integer"
	case "decimal":
		return "a number"
	case "dateTime":
		return `an xsd:dateTime string such as "2024-01-31T09:30:00Z"`
	case "binary":
		return "a base64 string"
	default:
		return "an object"
	}
}

// describe names a decoded JSON value for error details.
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return fmt.Sprintf("the boolean %t", x)
	case json.Number, float64, int64, int:
		return fmt.Sprintf("the number %v", x)
	case string:
		if len(x) > 64 {
			x = x[:64] + "…"
		}
		return fmt.Sprintf("the string %q", x)
	case map[string]any:
		return "an object"
	case []any:
		if len(x) == 1 {
			return "an array of 1 value"
		}
		return fmt.Sprintf("an array of %d values", len(x))
	default:
		return fmt.Sprintf("a %T", v)
	}
}
