package scim

// Index entries: the normalised leaf values of a canonical resource that the
// store keeps to answer filters. Filter literals are normalised by the same
// code (leafPlan.normalize), so that a stored value and a literal compare
// equal exactly when SCIM says they do.

import (
	"math"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
	"weak"

	"github.com/elimity-com/scim/schema"
	"github.com/scimgate/scimgate/internal/store"
)

// valueKind is how a leaf value is normalised and compared.
type valueKind uint8

const (
	kindString   valueKind = iota // string, reference, binary: Str, lower-cased unless caseExact
	kindBool                      // "true" / "false"
	kindInt                       // Str decimal text, Num set
	kindDecimal                   // Str decimal text, Num set
	kindDateTime                  // Str in store.TimeFormat (UTC)
)

// leafPlan describes one indexable leaf: a simple attribute or a
// sub-attribute of a complex one.
type leafPlan struct {
	key       string // name in the canonical resource map (schema spelling)
	path      string // index path, Attr.IndexPath()
	kind      valueKind
	caseExact bool
	binary    bool // binary data: no ordering comparisons
	multi     bool
}

// attrPlan describes one top-level attribute of a schema.
type attrPlan struct {
	leafPlan            // key, path and multi of the attribute; kind etc. for simple ones
	complex  bool       // complex: the leaves are subs
	subs     []leafPlan // indexable sub-attributes of a complex attribute
}

// schemaPlan lists the indexable attributes of the core schema (urn "") or
// of one extension (its values sit in the map under urn).
type schemaPlan struct {
	urn   string
	attrs []attrPlan
}

// indexPlan is the precomputed walk of IndexEntries for one resource type.
type indexPlan struct {
	schemas []schemaPlan
	// What the plan was built from, to notice a modified ResourceType.
	nAttrs, nExt int
}

// plans caches the indexPlan of each ResourceType (resource types are built
// once and then only read). Entries go away with their ResourceType.
var plans sync.Map // weak.Pointer[ResourceType] -> *indexPlan

func (rt *ResourceType) indexPlan() *indexPlan {
	key := weak.Make(rt)
	if v, ok := plans.Load(key); ok {
		if p := v.(*indexPlan); p.nAttrs == len(rt.Schema.Attributes) && p.nExt == len(rt.Extensions) {
			return p
		}
	}
	p := buildIndexPlan(rt)
	if _, loaded := plans.Swap(key, p); !loaded {
		runtime.AddCleanup(rt, func(k weak.Pointer[ResourceType]) { plans.Delete(k) }, key)
	}
	return p
}

func buildIndexPlan(rt *ResourceType) *indexPlan {
	p := &indexPlan{nAttrs: len(rt.Schema.Attributes), nExt: len(rt.Extensions)}
	core := schemaPlan{}
	for _, def := range rt.Attributes("") {
		// id and meta are columns of the store, not index entries.
		if strings.EqualFold(def.Name(), "id") || strings.EqualFold(def.Name(), "meta") {
			continue
		}
		if ap, ok := planAttr("", def); ok {
			core.attrs = append(core.attrs, ap)
		}
	}
	p.schemas = append(p.schemas, core)
	for _, ext := range rt.Extensions {
		sp := schemaPlan{urn: ext.Schema.ID}
		for _, def := range ext.Schema.Attributes {
			if ap, ok := planAttr(ext.Schema.ID, def); ok {
				sp.attrs = append(sp.attrs, ap)
			}
		}
		p.schemas = append(p.schemas, sp)
	}
	return p
}

// planAttr plans a top-level attribute; ok is false for attributes that are
// never indexed (never returned, such as password).
func planAttr(urn string, def schema.CoreAttribute) (attrPlan, bool) {
	if hidden(def) {
		return attrPlan{}, false
	}
	a := Attr{URN: urn, Def: def}
	ap := attrPlan{leafPlan: leafOf(a)}
	if def.AttributeType() == "complex" {
		ap.complex = true
		for _, sub := range def.SubAttributes() {
			if hidden(sub) {
				continue
			}
			s := sub
			ap.subs = append(ap.subs, leafOf(Attr{URN: urn, Def: def, Sub: &s}))
		}
	}
	return ap, true
}

// hidden reports whether an attribute is never returned (writeOnly or
// returned "never", such as password): it is neither indexed nor filterable.
func hidden(a schema.CoreAttribute) bool {
	return a.Returned() == "never" || a.Mutability() == "writeOnly"
}

// leafOf describes the leaf a resolved attribute path ends at.
func leafOf(a Attr) leafPlan {
	leaf := a.Leaf()
	lp := leafPlan{key: leaf.Name(), path: a.IndexPath(), multi: leaf.MultiValued()}
	switch leaf.AttributeType() {
	case "boolean":
		lp.kind = kindBool
	case "integer":
		lp.kind = kindInt
	case "decimal":
		lp.kind = kindDecimal
	case "dateTime":
		lp.kind = kindDateTime
	case "binary":
		lp.binary = true
		lp.caseExact = true
	case "reference":
		lp.caseExact = true
	}
	name := leaf.Name()
	if leaf.CaseExact() || name == "$ref" ||
		(a.URN == "" && a.Sub == nil && (strings.EqualFold(name, "id") || strings.EqualFold(name, "externalId"))) {
		lp.caseExact = true
	}
	return lp
}

// IndexEntries derives the store index entries of a canonical resource: one
// entry per leaf value except password (never returned) and id/meta (store
// columns), in schema order. Path is Attr.IndexPath(); Elem is the element
// number within a multi-valued attribute (for a multi-valued complex
// attribute, the element its sub-attribute value belongs to) and 0 otherwise.
// Values that do not have their attribute's type are skipped.
func (rt *ResourceType) IndexEntries(res map[string]any) []store.IndexEntry {
	p := rt.indexPlan()
	out := make([]store.IndexEntry, 0, 32)
	for i := range p.schemas {
		sp := &p.schemas[i]
		m := res
		if sp.urn != "" {
			m, _ = res[sp.urn].(map[string]any)
			if m == nil {
				continue
			}
		}
		for j := range sp.attrs {
			if v, ok := m[sp.attrs[j].key]; ok && v != nil {
				out = sp.attrs[j].appendEntries(out, v)
			}
		}
	}
	return out
}

// appendEntries appends the entries of value v of the attribute.
func (a *attrPlan) appendEntries(out []store.IndexEntry, v any) []store.IndexEntry {
	if a.multi {
		if vs, ok := v.([]any); ok {
			for i, e := range vs {
				out = a.appendElem(out, e, i)
			}
			return out
		}
	}
	return a.appendElem(out, v, 0)
}

// appendElem appends the entries of one value (element elem) of the attribute.
func (a *attrPlan) appendElem(out []store.IndexEntry, v any, elem int) []store.IndexEntry {
	if !a.complex {
		return a.leafPlan.appendLeaf(out, v, elem)
	}
	m, _ := v.(map[string]any)
	for i := range a.subs {
		s := &a.subs[i]
		sv, ok := m[s.key]
		if !ok || sv == nil {
			continue
		}
		if vs, isList := sv.([]any); isList && s.multi {
			for _, x := range vs {
				out = s.appendLeaf(out, x, elem)
			}
			continue
		}
		out = s.appendLeaf(out, sv, elem)
	}
	return out
}

func (lp *leafPlan) appendLeaf(out []store.IndexEntry, v any, elem int) []store.IndexEntry {
	str, num, ok := lp.normalize(v)
	if !ok {
		return out
	}
	e := store.IndexEntry{Path: lp.path, Elem: elem, Str: str}
	if num {
		f := numberOf(v)
		e.Num = &f
	}
	return append(out, e)
}

// normalize turns a canonical value (or a literal converted to the
// canonical Go type) into the normalised IndexEntry.Str; num reports that
// the value is numeric (its float64 is numberOf(v)). ok is false when v does
// not have the attribute's type.
func (lp *leafPlan) normalize(v any) (str string, num, ok bool) {
	switch lp.kind {
	case kindBool:
		if b, isBool := v.(bool); isBool {
			return strconv.FormatBool(b), false, true
		}
		return "", false, false
	case kindInt, kindDecimal:
		switch n := v.(type) {
		case int64:
			return strconv.FormatInt(n, 10), true, true
		case int:
			return strconv.Itoa(n), true, true
		case float64:
			if math.IsNaN(n) || math.IsInf(n, 0) {
				return "", false, false
			}
			return formatNumber(lp.kind, n), true, true
		}
		return "", false, false
	case kindDateTime:
		s, isStr := v.(string)
		if !isStr {
			return "", false, false
		}
		if t, valid := parseDateTime(s); valid {
			return t.Format(store.TimeFormat), false, true
		}
		// Not a dateTime we can order: kept as sent, equal only to itself.
		return s, false, true
	default:
		s, isStr := v.(string)
		if !isStr {
			return "", false, false
		}
		if lp.caseExact {
			return s, false, true
		}
		return strings.ToLower(s), false, true
	}
}

// numberOf is the float64 of a numeric canonical value.
func numberOf(v any) float64 {
	switch n := v.(type) {
	case int64:
		return float64(n)
	case int:
		return float64(n)
	case float64:
		return n
	}
	return 0
}

// formatNumber is the decimal text of a number: integral values of integer
// attributes without fraction, others in the shortest exact form.
func formatNumber(kind valueKind, f float64) string {
	if kind == kindInt && f == math.Trunc(f) && math.Abs(f) < 1<<63 {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// parseDateTime parses an xsd:dateTime ("2006-01-02T15:04:05[.f][Z|±hh:mm]";
// no zone means UTC) and returns it in UTC. Years outside 0000–9999 are
// rejected, so that store.TimeFormat strings order like the times.
func parseDateTime(s string) (time.Time, bool) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t, err = time.ParseInLocation("2006-01-02T15:04:05.999999999", s, time.UTC)
		if err != nil {
			return time.Time{}, false
		}
	}
	t = t.UTC()
	if y := t.Year(); y < 0 || y > 9999 {
		return time.Time{}, false
	}
	return t, true
}
