package scim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/elimity-com/scim/schema"
)

// PatchOp is one operation of a PATCH request, as decoded (UseNumber).
type PatchOp struct {
	Op    string // "add", "replace" or "remove", any case on input; lower-cased by ParsePatchRequest
	Path  string // "" when absent
	Value any    // nil when absent
}

// ParsePatchRequest decodes and validates a PatchOp request body. Member
// names ("schemas", "Operations", "op", "path", "value") and op values are
// matched case-insensitively; ops are returned lower-cased.
func ParsePatchRequest(body []byte) ([]PatchOp, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var req map[string]any
	if err := dec.Decode(&req); err != nil {
		return nil, Errorf(ErrInvalidSyntax, "the PATCH body is not a valid JSON object: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, Errorf(ErrInvalidSyntax, "the PATCH body has data after the JSON object")
	}
	if req == nil {
		return nil, Errorf(ErrInvalidSyntax, "the PATCH body must be a JSON object")
	}
	fields, err := foldFields(req, "", "schemas", "operations")
	if err != nil {
		return nil, err
	}
	if !listsURN(fields[0], URNPatchOp) {
		return nil, Errorf(ErrInvalidSyntax, "a PATCH body needs \"schemas\": [%q]", URNPatchOp)
	}
	raw, _ := fields[1].([]any)
	if len(raw) == 0 {
		return nil, Errorf(ErrInvalidSyntax, "a PATCH body needs \"Operations\": a non-empty array of operations")
	}
	ops := make([]PatchOp, 0, len(raw))
	for i, r := range raw {
		obj, ok := r.(map[string]any)
		if !ok {
			return nil, Errorf(ErrInvalidSyntax, "Operations[%d]: expected an object, got %s", i, describe(r))
		}
		at := fmt.Sprintf("Operations[%d].", i)
		f, err := foldFields(obj, at, "op", "path", "value")
		if err != nil {
			return nil, err
		}
		opName, ok := f[0].(string)
		if !ok {
			return nil, Errorf(ErrInvalidSyntax, "Operations[%d]: op must be add, replace or remove, got %s", i, describe(f[0]))
		}
		op := PatchOp{Op: strings.ToLower(opName), Value: f[2]}
		switch op.Op {
		case "add", "replace", "remove":
		default:
			return nil, Errorf(ErrInvalidSyntax, "Operations[%d]: unknown op %q; use add, replace or remove", i, opName)
		}
		if f[1] != nil {
			p, ok := f[1].(string)
			if !ok {
				return nil, Errorf(ErrInvalidPath, "Operations[%d]: path must be a string, got %s", i, describe(f[1]))
			}
			op.Path = strings.TrimSpace(p)
		}
		switch {
		case op.Op == "remove" && op.Path == "":
			return nil, Errorf(ErrNoTarget, "Operations[%d]: remove needs a path", i)
		case op.Op != "remove" && op.Value == nil:
			return nil, invalidValue("Operations[%d]: %s needs a value", i, op.Op)
		case op.Op != "remove" && op.Path == "":
			if _, ok := op.Value.(map[string]any); !ok {
				return nil, invalidValue("Operations[%d]: %s without a path needs an object value whose keys are attribute paths, got %s", i, op.Op, describe(op.Value))
			}
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// foldFields returns the values of the named members of obj (names
// lower-case, matched case-insensitively); a member given twice in
// different case is an error. Other members are ignored.
func foldFields(obj map[string]any, at string, names ...string) ([]any, error) {
	vals := make([]any, len(names))
	seen := make([]string, len(names))
	for k, v := range obj {
		for i, n := range names {
			if !strings.EqualFold(k, n) {
				continue
			}
			if seen[i] != "" {
				a, b := seen[i], k
				if a > b {
					a, b = b, a
				}
				return nil, Errorf(ErrInvalidSyntax, "%s%s and %s%s: %q given twice", at, a, at, b, n)
			}
			seen[i], vals[i] = k, v
		}
	}
	return vals, nil
}

func listsURN(v any, urn string) bool {
	list, _ := v.([]any)
	for _, s := range list {
		if s, ok := s.(string); ok && strings.EqualFold(s, urn) {
			return true
		}
	}
	return false
}

// Patch applies ops in order to a canonical resource and returns the new
// canonical resource (res itself is not modified) and whether anything
// changed. All or nothing: on error the result is discarded. The result
// shares unchanged nested values with res: copy a nested value before
// changing it.
//
// Semantics (RFC 7644 §3.5.2, with the tolerance Microsoft Entra ID needs):
//   - A path is parsed with ParsePatchPath; a bare name that only an
//     extension defines ("manager") resolves to that extension. An op without
//     path treats each key of its object value as a path (plain, dotted or
//     URN-prefixed; an extension URN key holds an object of its attributes).
//   - Values are coerced exactly as Normalize does.
//   - add appends to multi-valued attributes, skipping values already there
//     (members by "value"); add and replace set single-valued attributes,
//     and merge the sub-attributes given into a complex one unless the value
//     has a "value" sub-attribute (then it replaces it as a whole: manager).
//     replace of a multi-valued attribute replaces all its values.
//   - With a [filter], add and replace change the matching elements, or
//     create one from the filter's "eq" comparisons when none matches;
//     remove drops the matching elements (or their sub-attribute); matching
//     nothing is no change.
//   - remove of a multi-valued attribute with a value removes the values
//     given (an element is removed when it has all the sub-attributes given;
//     members by "value"); without a value it clears the attribute.
//   - A value that becomes empty (manager "" or {"value":""}) removes the
//     attribute.
//   - An op that makes an element primary clears "primary" on the others.
//   - readOnly attributes cannot be targeted; immutable ones cannot change
//     once set (scimType mutability).
//
// The result is validated with Normalize.
func (rt *ResourceType) Patch(res map[string]any, ops []PatchOp) (map[string]any, bool, error) {
	return rt.patch(res, ops, nil)
}

// patch is Patch; members, when not nil, takes the ops on the core
// "members" attribute (with the op's kind, its path as given, the parsed
// path and the value) instead of applying them to res: a group's members
// are store rows, not part of res. An error it returns fails the patch.
func (rt *ResourceType) patch(res map[string]any, ops []PatchOp, members func(kind, path string, pp PatchPath, v any) error) (map[string]any, bool, error) {
	p := &patcher{rt: rt, res: make(map[string]any, len(res)+2), members: members}
	for k, v := range res {
		p.res[k] = v
	}
	for i, op := range ops {
		if err := p.apply(op); err != nil {
			return nil, false, withDetail(err, fmt.Sprintf("Operations[%d]: ", i))
		}
	}
	out, err := rt.Normalize(p.res)
	if err != nil {
		return nil, false, err
	}
	return out, !Equal(out, res), nil
}

// patcher applies operations copy-on-write: res is its own top-level map,
// and every nested map or slice it changes is replaced by a new one, so
// values shared with the input are never written.
type patcher struct {
	rt  *ResourceType
	res map[string]any
	// members, when set, takes the ops on the core "members" attribute
	// (see ResourceType.patch).
	members func(kind, path string, pp PatchPath, v any) error
}

func (p *patcher) apply(op PatchOp) error {
	kind := strings.ToLower(op.Op)
	switch kind {
	case "add", "replace", "remove":
	default:
		return Errorf(ErrInvalidSyntax, "unknown op %q; use add, replace or remove", op.Op)
	}
	if op.Path == "" {
		if kind == "remove" {
			return Errorf(ErrNoTarget, "remove needs a path")
		}
		obj, ok := op.Value.(map[string]any)
		if !ok {
			return invalidValue("%s without a path needs an object value whose keys are attribute paths, got %s", kind, describe(op.Value))
		}
		return p.applyObject(kind, obj)
	}
	if kind != "remove" && op.Value == nil {
		return invalidValue("%s of %q needs a value", kind, op.Path)
	}
	if urn, ok := p.rt.schemaKey(op.Path); ok {
		return p.applySchema(kind, urn, op.Path, op.Value)
	}
	return p.applyPathText(kind, op.Path, op.Value)
}

// applyObject applies an op without path: each key of obj is a path. Keys
// are applied in sorted order, so that the result does not depend on the
// order of a map.
func (p *patcher) applyObject(kind string, obj map[string]any) error {
	for _, k := range sortedKeys(obj) {
		if strings.EqualFold(k, "schemas") {
			continue
		}
		var err error
		if urn, ok := p.rt.schemaKey(k); ok {
			err = p.applySchema(kind, urn, k, obj[k])
		} else {
			err = p.applyPathText(kind, k, obj[k])
		}
		if err != nil {
			return withDetail(err, fmt.Sprintf("value key %q: ", k))
		}
	}
	return nil
}

// applySchema applies an op whose path is a schema URN: v is an object of
// that schema's attributes; remove removes them all.
func (p *patcher) applySchema(kind, urn, key string, v any) error {
	if kind == "remove" {
		for _, a := range p.rt.Attributes(urn) {
			if p.get(Attr{URN: urn, Def: a}) != nil {
				if err := p.applyPath(kind, a.Name(), PatchPath{Attr: Attr{URN: urn, Def: a}}, nil); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if v == nil {
		return nil
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return invalidValue("%q: expected an object holding attributes of that schema, got %s", key, describe(v))
	}
	for _, k := range sortedKeys(obj) {
		if err := p.applyPathText(kind, pathPrefix(urn)+k, obj[k]); err != nil {
			return err
		}
	}
	return nil
}

func (p *patcher) applyPathText(kind, path string, v any) error {
	path = p.rt.qualify(path)
	pp, err := p.rt.ParsePatchPath(path)
	if err != nil {
		return err
	}
	return p.applyPath(kind, path, pp, v)
}

// applyPath applies one op to the attribute pp names.
func (p *patcher) applyPath(kind, path string, pp PatchPath, v any) error {
	a := pp.Attr
	def := a.Def
	if def.Mutability() == "readOnly" || a.Sub != nil && a.Sub.Mutability() == "readOnly" {
		return Errorf(ErrMutability, "%q is readOnly; it cannot be changed", a.String())
	}
	if p.members != nil && a.URN == "" && def.Name() == "members" {
		return p.members(kind, path, pp, v)
	}
	old := p.get(a)
	var (
		nv  any
		err error
	)
	switch {
	case pp.Elems != nil && (!def.MultiValued() || def.AttributeType() != "complex"):
		return Errorf(ErrInvalidPath, "%q: a [filter] only applies to multi-valued complex attributes", path)
	case def.MultiValued() && (pp.Elems != nil || a.Sub != nil):
		nv, err = applyElems(kind, path, pp, old, v)
	case a.Sub != nil:
		nv, err = applySub(kind, a, old, v)
	default:
		nv, err = applyWhole(kind, a, old, v)
	}
	if err != nil {
		return err
	}
	if def.Mutability() == "immutable" && old != nil && !Equal(old, nv) {
		return Errorf(ErrMutability, "%q is immutable and already has a value; it cannot be changed", a.String())
	}
	p.set(a, nv)
	return nil
}

// get returns the current value of a's top-level attribute.
func (p *patcher) get(a Attr) any {
	if a.URN == "" {
		return p.res[a.Def.Name()]
	}
	ext, _ := p.res[a.URN].(map[string]any)
	return ext[a.Def.Name()]
}

// set stores the value of a's top-level attribute (nil removes it).
func (p *patcher) set(a Attr, v any) {
	if a.URN == "" {
		if v == nil {
			delete(p.res, a.Def.Name())
		} else {
			p.res[a.Def.Name()] = v
		}
		return
	}
	ext := copyMap(p.res[a.URN])
	if v == nil {
		delete(ext, a.Def.Name())
	} else {
		ext[a.Def.Name()] = v
	}
	if len(ext) == 0 {
		delete(p.res, a.URN)
	} else {
		p.res[a.URN] = ext
	}
}

// applyWhole applies an op to a whole attribute (no sub-attribute, no
// filter) and returns its new value.
func applyWhole(kind string, a Attr, old, v any) (any, error) {
	def := a.Def
	prefix := pathPrefix(a.URN)
	oldList, _ := old.([]any)
	if kind == "remove" {
		if v == nil || !def.MultiValued() || old == nil {
			return nil, nil
		}
		given, err := coerceAttr(prefix, def, v)
		if err != nil || given == nil {
			return old, err
		}
		return removeValues(def, oldList, given.([]any)), nil
	}
	nv, err := coerceAttr(prefix, def, v)
	if err != nil {
		return nil, err
	}
	switch {
	case def.MultiValued() && kind == "replace":
		return nv, nil
	case def.MultiValued():
		if nv == nil {
			return old, nil
		}
		return appendValues(def, oldList, nv.([]any)), nil
	case def.AttributeType() == "complex":
		om, _ := old.(map[string]any)
		nm, _ := nv.(map[string]any)
		if _, whole := nm["value"]; om == nil || nm == nil || whole {
			return nv, nil
		}
		merged := copyMap(om)
		for k, x := range nm {
			if err := setField(merged, def, k, x, prefix+def.Name()+"."); err != nil {
				return nil, err
			}
		}
		return finishComplex(merged), nil
	default:
		return nv, nil
	}
}

// applySub applies an op to a sub-attribute of a single-valued complex
// attribute.
func applySub(kind string, a Attr, old, v any) (any, error) {
	subPrefix := pathPrefix(a.URN) + a.Def.Name() + "."
	var c any
	if kind != "remove" {
		var err error
		if c, err = coerceAttr(subPrefix, *a.Sub, v); err != nil {
			return nil, err
		}
	}
	m := copyMap(old)
	if err := setField(m, a.Def, a.Sub.Name(), c, subPrefix); err != nil {
		return nil, err
	}
	return finishComplex(m), nil
}

// applyElems applies an op to the elements of a multi-valued complex
// attribute that pp's filter selects (all of them without a filter), or to
// their sub-attribute.
func applyElems(kind, path string, pp PatchPath, old, v any) (any, error) {
	def, sub := pp.Attr.Def, pp.Attr.Sub
	subPrefix := pathPrefix(pp.Attr.URN) + def.Name() + "."
	var val any
	if kind != "remove" {
		var err error
		if sub != nil {
			val, err = coerceAttr(subPrefix, *sub, v)
		} else {
			val, err = coerceValue(pathPrefix(pp.Attr.URN), def, v, subPrefix)
		}
		if err != nil {
			return nil, err
		}
	}
	makesPrimary := kind != "remove" && (sub != nil && sub.Name() == "primary" && val == true || sub == nil && isPrimary(val))
	update := func(m map[string]any) (any, error) {
		if sub != nil {
			nm := copyMap(m)
			if err := setField(nm, def, sub.Name(), val, subPrefix); err != nil {
				return nil, err
			}
			return finishComplex(nm), nil
		}
		vm, _ := val.(map[string]any)
		if vm == nil { // remove, or the new value is empty
			return nil, nil
		}
		nm := copyMap(m)
		for k, x := range vm {
			if err := setField(nm, def, k, x, subPrefix); err != nil {
				return nil, err
			}
		}
		return finishComplex(nm), nil
	}
	list, _ := old.([]any)
	out := make([]any, 0, len(list)+1)
	var primary []int // indices in out of the elements made primary
	matched := false
	for _, e := range list {
		m, ok := e.(map[string]any)
		if !ok || pp.Elems != nil && !pp.Elems.Match(m) {
			out = append(out, e)
			continue
		}
		matched = true
		ne, err := update(m)
		if err != nil {
			return nil, err
		}
		if ne != nil {
			if makesPrimary {
				primary = append(primary, len(out))
			}
			out = append(out, ne)
		}
	}
	switch {
	case !matched && kind == "remove":
		return old, nil
	case !matched:
		elem, err := newElem(path, pp)
		if err != nil {
			return nil, err
		}
		ne, err := update(elem)
		if err != nil {
			return nil, err
		}
		if ne != nil {
			if makesPrimary {
				primary = append(primary, len(out))
			}
			out = append(out, ne)
		}
	}
	clearPrimary(out, primary)
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// newElem builds the element that an add or replace through a filter that
// matches nothing creates: the filter's "eq" comparisons become its
// sub-attributes (emails[type eq "work"] → {"type":"work"}).
func newElem(path string, pp PatchPath) (map[string]any, error) {
	elem := map[string]any{}
	if pp.Elems == nil {
		return elem, nil
	}
	def := pp.Attr.Def
	subPrefix := pathPrefix(pp.Attr.URN) + def.Name() + "."
	noTarget := Errorf(ErrNoTarget, "%q: no element matches the filter, and none can be created from it (only \"eq\" comparisons of sub-attributes joined by \"and\" can)", path)
	names, lits, ok := filterEqualities(path)
	if !ok {
		return nil, noTarget
	}
	for i, n := range names {
		sub, ok := findDef(def.SubAttributes(), n)
		if !ok {
			return nil, noTarget
		}
		c, err := coerceAttr(subPrefix, sub, lits[i])
		if err != nil {
			return nil, err
		}
		if c != nil {
			elem[sub.Name()] = c
		}
	}
	if !pp.Elems.Match(elem) {
		return nil, noTarget
	}
	return elem, nil
}

// filterEqualities extracts the comparisons of the first [...] filter of a
// path when it is only `name eq literal` comparisons joined by "and".
func filterEqualities(path string) (names []string, lits []any, ok bool) {
	open := strings.IndexByte(path, '[')
	if open < 0 {
		return nil, nil, false
	}
	end, inStr := -1, false
	for i := open + 1; i < len(path) && end < 0; i++ {
		switch c := path[i]; {
		case inStr && c == '\\':
			i++
		case c == '"':
			inStr = !inStr
		case !inStr && c == ']':
			end = i
		}
	}
	if end < 0 {
		return nil, nil, false
	}
	s := path[open+1 : end]
	pos := 0
	word := func() string {
		for pos < len(s) && s[pos] == ' ' {
			pos++
		}
		start := pos
		if pos < len(s) && s[pos] == '"' {
			for pos++; pos < len(s) && s[pos] != '"'; pos++ {
				if s[pos] == '\\' {
					pos++
				}
			}
			pos++
			if pos > len(s) {
				pos = len(s)
			}
		} else {
			for pos < len(s) && s[pos] != ' ' {
				pos++
			}
		}
		return s[start:pos]
	}
	for {
		name, op, lit := word(), word(), word()
		if name == "" || !strings.EqualFold(op, "eq") || lit == "" {
			return nil, nil, false
		}
		dec := json.NewDecoder(strings.NewReader(lit))
		dec.UseNumber()
		var v any
		if dec.Decode(&v) != nil || dec.More() || v == nil {
			return nil, nil, false
		}
		if _, isObj := v.(map[string]any); isObj {
			return nil, nil, false
		}
		if _, isArr := v.([]any); isArr {
			return nil, nil, false
		}
		names, lits = append(names, name), append(lits, v)
		switch next := word(); {
		case next == "":
			return names, lits, true
		case !strings.EqualFold(next, "and"):
			return nil, nil, false
		}
	}
}

// setField sets sub-attribute name (canonical) of complex attribute def in
// m (nil deletes it). An immutable sub-attribute that has a value cannot
// change.
func setField(m map[string]any, def schema.CoreAttribute, name string, v any, subPrefix string) error {
	old, has := m[name]
	if has && !Equal(old, v) {
		if sub, ok := findDef(def.SubAttributes(), name); ok && sub.Mutability() == "immutable" {
			return Errorf(ErrMutability, "%q is immutable and already has a value; it cannot be changed", subPrefix+name)
		}
	}
	if v == nil {
		delete(m, name)
	} else {
		m[name] = v
	}
	return nil
}

// appendValues adds the values of add that are not already in old.
func appendValues(def schema.CoreAttribute, old, add []any) []any {
	out := make([]any, len(old), len(old)+len(add))
	copy(out, old)
	byValue := def.Name() == "members"
	var seen map[string]bool
	if byValue {
		seen = make(map[string]bool, len(old)+len(add))
		for _, e := range old {
			if id, ok := elemValue(e); ok {
				seen[id] = true
			}
		}
	}
	var primary []int
	for _, e := range add {
		if id, ok := elemValue(e); byValue && ok {
			if seen[id] {
				continue
			}
			seen[id] = true
		} else if containsValue(out, e) {
			continue
		}
		if isPrimary(e) {
			primary = append(primary, len(out))
		}
		out = append(out, e)
	}
	clearPrimary(out, primary)
	return out
}

// removeValues removes from old the elements that have all the
// sub-attributes of a given value (members: the same "value").
func removeValues(def schema.CoreAttribute, old, given []any) any {
	byValue := def.Name() == "members"
	drop := map[string]bool{}
	if byValue {
		for _, g := range given {
			if id, ok := elemValue(g); ok {
				drop[id] = true
			}
		}
	}
	out := make([]any, 0, len(old))
	for _, e := range old {
		if id, ok := elemValue(e); byValue && ok {
			if drop[id] {
				continue
			}
		} else if !byValue && matchesAny(e, given) {
			continue
		}
		out = append(out, e)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func matchesAny(e any, given []any) bool {
	for _, g := range given {
		gm, ok1 := g.(map[string]any)
		em, ok2 := e.(map[string]any)
		if !ok1 || !ok2 {
			if Equal(e, g) {
				return true
			}
			continue
		}
		all := true
		for k, gv := range gm {
			if !Equal(em[k], gv) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

func containsValue(list []any, v any) bool {
	for _, e := range list {
		if Equal(e, v) {
			return true
		}
	}
	return false
}

// elemValue is the "value" of a complex element.
func elemValue(e any) (string, bool) {
	m, _ := e.(map[string]any)
	s, ok := m["value"].(string)
	return s, ok
}

// clearPrimary sets "primary" to false on the elements of list that are
// primary and whose index is not in keep. list must be owned by the caller;
// changed elements are copied.
func clearPrimary(list []any, keep []int) {
	if len(keep) == 0 {
		return
	}
	for i, e := range list {
		if !isPrimary(e) || containsInt(keep, i) {
			continue
		}
		m := copyMap(e)
		m["primary"] = false
		list[i] = m
	}
}

func containsInt(list []int, n int) bool {
	for _, x := range list {
		if x == n {
			return true
		}
	}
	return false
}

// copyMap returns a shallow copy of v when it is a map, else a new map.
func copyMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	out := make(map[string]any, len(m)+1)
	for k, x := range m {
		out[k] = x
	}
	return out
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Equal reports whether two canonical values are equal; integers and
// decimals compare by numeric value.
func Equal(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, xv := range x {
			yv, ok := y[k]
			if !ok || !Equal(xv, yv) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !Equal(x[i], y[i]) {
				return false
			}
		}
		return true
	case int64:
		switch y := b.(type) {
		case int64:
			return x == y
		case float64:
			return float64(x) == y
		}
		return false
	case float64:
		switch y := b.(type) {
		case float64:
			return x == y
		case int64:
			return x == float64(y)
		}
		return false
	case string:
		y, ok := b.(string)
		return ok && x == y
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case nil:
		return b == nil
	default:
		return false
	}
}
