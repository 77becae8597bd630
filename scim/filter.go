package scim

// Filters (RFC 7644 §3.4.2.2) and PATCH paths (§3.5.2).
//
// Parsing. A lexer splits the filter into words, strings (with JSON
// escapes), parentheses and brackets; a recursive-descent parser over those
// tokens resolves each attribute path against the schema and returns the
// store condition directly. Errors say what is wrong and at which byte
// position (1-based). Beyond RFC 7644's grammar it reads URNs in any case
// and two forms Microsoft Entra ID sends:
//   - emails[type eq "work"].value eq "x" — a valuePath followed by a
//     sub-attribute comparison; it means the same element has type "work"
//     and value "x";
//   - externalId eq jyoung — an unquoted value. A bare word in value
//     position that is not true, false, null or a JSON number is a string.
//
// Limits. A filter is at most maxFilterBytes long, holds at most
// maxComparisons comparisons (those inside [ ] included) and nests
// parentheses at most maxDepth deep; past a limit it is refused with an
// ErrInvalidFilter naming the limit. They bound the SQL a filter becomes (and
// SQLite's own limits on it); clients send far less (Entra: one or two
// comparisons, no parentheses).
//
// Semantics (identical in Cond, evaluated by the store, and Match):
//   - Attribute names and operators are case-insensitive. An attribute
//     without URN that is not in the core schema is looked up in the
//     extensions (Entra sends "manager" for the enterprise manager).
//   - Values are normalised like IndexEntries normalises stored values:
//     strings are lower-cased unless the attribute is caseExact (id,
//     externalId, $ref, reference and binary attributes and those the schema
//     declares caseExact), booleans are "true"/"false", dateTimes are UTC
//     store.TimeFormat, numbers compare numerically.
//   - A multi-valued attribute matches when any value does. ne holds when no
//     value equals the literal, so also when the attribute is absent.
//   - A complex attribute compared directly means its "value" sub-attribute
//     (manager eq "id", members eq "id", emails co "@x"); "pr" on a complex
//     attribute holds when any sub-attribute has a value.
//   - attr eq null holds when attr has no value, attr ne null when it has one.
//   - Literal types must fit the attribute: booleans take true/false or the
//     strings "true"/"false" in any case (Entra sends "True"); numbers take
//     numbers or numeric strings; dateTimes take xsd:dateTime strings;
//     strings take strings, and also numbers (as written: Entra sends
//     externalId eq 12345 unquoted).
//   - gt/ge/lt/le are refused on booleans and binary attributes (RFC 7644);
//     co/sw/ew are refused on booleans, numbers and dateTimes.
//   - Never-returned attributes (password) cannot be filtered on.
//   - schemas (rendered, not stored) holds the core schema URN and the URNs
//     of the extensions the resource has a value in; only eq, ne and pr.
//   - id, meta.created and meta.lastModified compare the store's columns
//     (pseudo-paths "id", "meta.created", "meta.lastmodified");
//     meta.resourceType compares with the resource type's name;
//     meta.location and meta.version are refused. A canonical resource
//     carries no meta, so in Match comparisons on meta.created and
//     meta.lastModified see no value (ne holds, the others do not) unless
//     the map carries a rendered "meta" object, whose values are then used.

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/scimgate/scimgate/internal/store"
)

// Filter is a parsed, schema-resolved RFC 7644 filter for one resource type.
// It is immutable and safe for concurrent use.
type Filter struct {
	rt   *ResourceType
	cond store.Cond
}

// ParseFilter parses a filter against rt. Attribute names resolve
// case-insensitively (with or without schema URN prefix); literals are
// checked against the attribute's type. Errors are ErrInvalidFilter
// Errors whose detail says what is wrong and where, or which limit the
// filter exceeds.
func (rt *ResourceType) ParseFilter(s string) (*Filter, error) {
	c, err := parseFilter(rt, s, nil)
	if err != nil {
		return nil, Errorf(ErrInvalidFilter, "invalid filter: %v", err)
	}
	return &Filter{rt: rt, cond: c}, nil
}

// Cond compiles the filter to a store condition over index paths, with
// literals normalised exactly as IndexEntries normalises stored values.
// The result is shared: callers must not modify it.
func (f *Filter) Cond() store.Cond { return f.cond }

// Match evaluates the filter in memory against a canonical resource, with
// the same semantics as Cond evaluated by the store (see the file comment
// for meta.created and meta.lastModified).
func (f *Filter) Match(res map[string]any) bool {
	ev := evaluator{entries: f.rt.IndexEntries(res), res: res}
	return ev.eval(f.cond, "", 0)
}

// PatchPath is a parsed PATCH "path".
type PatchPath struct {
	// Attr is the attribute the path names; Attr.Sub is set for
	// "name.givenName" and for the ".value" of "emails[type eq \"work\"].value".
	Attr Attr
	// Elems selects elements of a multi-valued complex attribute
	// ("emails[type eq \"work\"]", "members[value eq \"x\"]"); nil when the
	// path has no [...] selector.
	Elems *ElemFilter
}

// ElemFilter selects elements of a multi-valued complex attribute.
type ElemFilter struct {
	attr attrPlan   // the multi-valued complex attribute
	cond store.Cond // over the attribute's sub-attribute index paths
}

// Match reports whether one element (a canonical complex value) is selected.
func (f *ElemFilter) Match(elem map[string]any) bool {
	ev := evaluator{entries: f.attr.appendElem(nil, elem, 0)}
	return ev.eval(f.cond, "", 0)
}

// ParsePatchPath parses a PATCH path against rt. Errors are ErrInvalidPath
// Errors naming the problem.
func (rt *ResourceType) ParsePatchPath(s string) (PatchPath, error) {
	p, err := parsePatchPath(rt, s)
	if err != nil {
		return PatchPath{}, Errorf(ErrInvalidPath, "invalid path %q: %v", s, err)
	}
	return p, nil
}

func parsePatchPath(rt *ResourceType, s string) (PatchPath, error) {
	toks, err := lex(s)
	if err != nil {
		return PatchPath{}, err
	}
	if len(toks) == 0 {
		return PatchPath{}, errors.New("the path is empty")
	}
	if toks[0].kind != tokWord {
		return PatchPath{}, fmt.Errorf("expected an attribute name at position 1, found %q", toks[0].text)
	}
	if len(toks) == 1 {
		a, err := resolveTop(rt, toks[0].text)
		return PatchPath{Attr: a}, err
	}
	if toks[1].kind != tokLBrack {
		return PatchPath{}, fmt.Errorf("unexpected %q at position %d", toks[1].text, toks[1].pos+1)
	}
	if closingBracket(toks, 1) < 0 {
		return PatchPath{}, fmt.Errorf("the [ at position %d is not closed", toks[1].pos+1)
	}
	root, err := valuePathRoot(rt, toks[0].text)
	if err != nil {
		return PatchPath{}, err
	}
	if !root.Def.MultiValued() {
		return PatchPath{}, fmt.Errorf("%s is not multi-valued; [ ] selects elements of a multi-valued attribute", root)
	}
	p := &parser{rt: rt, toks: toks, i: 2}
	c, err := p.elemFilter(&root)
	if err != nil {
		return PatchPath{}, err
	}
	pp := PatchPath{Attr: root, Elems: &ElemFilter{attr: mustPlanAttr(root), cond: c}}
	switch rest := toks[p.i:]; {
	case len(rest) == 0:
	case len(rest) == 1 && rest[0].kind == tokWord && !rest[0].space && strings.HasPrefix(rest[0].text, "."):
		sub, err := rt.ResolveIn(root.URN, root.Def.Name(), rest[0].text[1:], true)
		if err != nil {
			return PatchPath{}, err
		}
		pp.Attr = sub
	default:
		return PatchPath{}, fmt.Errorf("unexpected %q at position %d after ]", rest[0].text, rest[0].pos+1)
	}
	return pp, nil
}

// mustPlanAttr plans a complex attribute for ElemFilter (never hidden: the
// callers have resolved a complex attribute).
func mustPlanAttr(a Attr) attrPlan {
	ap, _ := planAttr(a.URN, a.Def)
	return ap
}

// ---- lexer ----

type tokKind uint8

const (
	tokWord   tokKind = iota // attribute path, operator, keyword or bare value
	tokString                // quoted string; text is decoded
	tokLParen
	tokRParen
	tokLBrack
	tokRBrack
)

type token struct {
	kind  tokKind
	text  string // a word as written, a string decoded, else the character
	pos   int    // byte offset of the token in the filter
	end   int    // byte offset just after the token
	space bool   // white space precedes the token
}

// lex splits s into tokens.
func lex(s string) ([]token, error) {
	var toks []token
	space := false
	for i := 0; i < len(s); {
		c := s[i]
		switch c {
		case ' ', '\t', '\r', '\n':
			space = true
			i++
			continue
		case '(', ')', '[', ']':
			k := tokLParen
			switch c {
			case ')':
				k = tokRParen
			case '[':
				k = tokLBrack
			case ']':
				k = tokRBrack
			}
			toks = append(toks, token{kind: k, text: s[i : i+1], pos: i, end: i + 1, space: space})
			i++
		case '"':
			j := i + 1
			escaped := false
			for ; j < len(s) && s[j] != '"'; j++ {
				if s[j] == '\\' {
					escaped = true
					j++
				}
			}
			if j >= len(s) {
				return nil, fmt.Errorf("the string starting at position %d is not closed", i+1)
			}
			raw := s[i : j+1]
			text := raw[1 : len(raw)-1]
			if escaped {
				if err := json.Unmarshal([]byte(raw), &text); err != nil {
					return nil, fmt.Errorf("bad escape in the string %s at position %d", raw, i+1)
				}
			}
			toks = append(toks, token{kind: tokString, text: text, pos: i, end: j + 1, space: space})
			i = j + 1
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\r\n()[]\"", rune(s[j])) {
				j++
			}
			toks = append(toks, token{kind: tokWord, text: s[i:j], pos: i, end: j, space: space})
			i = j
		}
		space = false
	}
	return toks, nil
}

// closingBracket returns the index of the ] closing the [ at toks[open], or -1.
func closingBracket(toks []token, open int) int {
	for j := open + 1; j < len(toks); j++ {
		if toks[j].kind == tokRBrack {
			return j
		}
	}
	return -1
}

// ---- parser ----

// Limits of a filter (see the file comment).
const (
	maxFilterBytes = 8 << 10
	maxComparisons = 200
	maxDepth       = 32
)

var compareOps = map[string]store.Op{
	"eq": store.Eq, "ne": store.Ne, "co": store.Co, "sw": store.Sw, "ew": store.Ew,
	"gt": store.Gt, "ge": store.Ge, "lt": store.Lt, "le": store.Le,
}

type litKind uint8

const (
	litString litKind = iota
	litNumber
	litBool
	litNull
)

// literal is a comparison value as written.
type literal struct {
	kind litKind
	text string // string value, number or word as written
	pos  int
}

func (l literal) String() string {
	if l.kind == litString {
		return strconv.Quote(l.text)
	}
	return l.text
}

// parser compiles a filter's tokens to a store condition by recursive
// descent (keywords and operators in any case; and binds tighter than or):
//
//	filter     = or
//	or         = and *("or" and)
//	and        = unary *("and" unary)
//	unary      = "not" "(" or ")" / "(" or ")" / comparison
//	comparison = path (op value / "pr")
//	           / path "[" or "]" ["." sub (op value / "pr")]
//
// Inside [ ] (parent set) a path names a sub-attribute of parent and cannot
// have [ ] of its own.
type parser struct {
	rt     *ResourceType
	toks   []token
	i      int   // index of the next token
	parent *Attr // inside [ ]: the complex attribute whose sub-attributes are named
	depth  int   // parentheses open
	n      int   // comparisons read
	// mark, when set (by the fuzz test's oracle), replaces the condition
	// of each comparison outside [ ] with mark(start, end), the comparison's
	// byte range in the filter.
	mark func(start, end int) store.Cond
}

// parseFilter parses the whole filter s; mark is parser.mark.
func parseFilter(rt *ResourceType, s string, mark func(start, end int) store.Cond) (store.Cond, error) {
	if len(s) > maxFilterBytes {
		return nil, fmt.Errorf("the filter is %d bytes long, more than the limit of %d bytes", len(s), maxFilterBytes)
	}
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		return nil, errors.New("the filter is empty")
	}
	p := &parser{rt: rt, toks: toks, mark: mark}
	c, err := p.or()
	if err != nil {
		return nil, err
	}
	if t, ok := p.next(); ok {
		return nil, p.unexpected(t)
	}
	return c, nil
}

// next returns the next token and moves past it; false at the end.
func (p *parser) next() (token, bool) {
	if p.i >= len(p.toks) {
		return token{}, false
	}
	p.i++
	return p.toks[p.i-1], true
}

// peekIs reports whether the next token is of kind k.
func (p *parser) peekIs(k tokKind) bool { return p.i < len(p.toks) && p.toks[p.i].kind == k }

// peekWord reports whether the next token is the word w (in any case).
func (p *parser) peekWord(w string) bool {
	return p.peekIs(tokWord) && strings.EqualFold(p.toks[p.i].text, w)
}

// unexpected is the error for t where a comparison may end: and, or, ) or
// the end (inside [ ], the ]) must follow.
func (p *parser) unexpected(t token) error {
	if t.kind == tokRParen {
		return fmt.Errorf("unbalanced ) at position %d", t.pos+1)
	}
	return fmt.Errorf("expected and, or, ) or the end at position %d, found %q", t.pos+1, t.text)
}

func (p *parser) or() (store.Cond, error) {
	c, err := p.and()
	if err != nil || !p.peekWord("or") {
		return c, err
	}
	terms := []store.Cond{c}
	for p.peekWord("or") {
		p.i++
		c, err := p.and()
		if err != nil {
			return nil, err
		}
		terms = append(terms, c)
	}
	return or(terms...), nil
}

func (p *parser) and() (store.Cond, error) {
	c, err := p.unary()
	if err != nil || !p.peekWord("and") {
		return c, err
	}
	terms := []store.Cond{c}
	for p.peekWord("and") {
		p.i++
		c, err := p.unary()
		if err != nil {
			return nil, err
		}
		terms = append(terms, c)
	}
	return and(terms...), nil
}

func (p *parser) unary() (store.Cond, error) {
	t, ok := p.next()
	switch {
	case !ok:
		return nil, fmt.Errorf("the filter ends after %q: expected an attribute name", p.toks[p.i-1].text)
	case t.kind == tokLParen:
		return p.group(t)
	case t.kind == tokWord && strings.EqualFold(t.text, "not") && p.peekIs(tokLParen):
		open, _ := p.next()
		c, err := p.group(open)
		if err != nil {
			return nil, err
		}
		return store.Not{C: c}, nil
	case t.kind == tokWord && strings.EqualFold(t.text, "not") && p.peekIs(tokWord):
		return nil, fmt.Errorf("not at position %d must be followed by (", t.pos+1)
	case t.kind == tokWord:
		return p.comparison(t)
	case t.kind == tokRBrack && p.parent != nil && p.toks[p.i-2].kind == tokLBrack:
		return nil, fmt.Errorf("empty [ ] after %s at position %d", p.parent, p.toks[p.i-2].pos+1)
	}
	return nil, fmt.Errorf("expected an attribute name at position %d, found %q", t.pos+1, t.text)
}

// group reads the rest of "(" or ")"; open is the (.
func (p *parser) group(open token) (store.Cond, error) {
	if p.depth++; p.depth > maxDepth {
		return nil, fmt.Errorf("parentheses nested deeper than the limit of %d at position %d", maxDepth, open.pos+1)
	}
	c, err := p.or()
	if err != nil {
		return nil, err
	}
	t, ok := p.next()
	switch {
	case ok && t.kind == tokRParen:
		p.depth--
		return c, nil
	case !ok || t.kind == tokRBrack:
		return nil, fmt.Errorf("the ( at position %d is not closed", open.pos+1)
	}
	return nil, p.unexpected(t)
}

// comparison reads a comparison or valuePath whose path is the token path.
func (p *parser) comparison(path token) (c store.Cond, err error) {
	if p.peekIs(tokLBrack) {
		c, err = p.valuePath(path)
	} else {
		c, err = p.attrExp(path)
	}
	if err == nil && p.mark != nil && p.parent == nil {
		c = p.mark(path.pos, p.toks[p.i-1].end)
	}
	return c, err
}

// operator reads the operator and value of a comparison of path (written
// as what); lit is nil for pr.
func (p *parser) operator(path token, what string) (op string, lit *literal, err error) {
	t, ok := p.next()
	if !ok {
		return "", nil, fmt.Errorf("the filter ends after %s: expected an operator", what)
	}
	op = strings.ToLower(t.text)
	if _, cmp := compareOps[op]; t.kind != tokWord || (!cmp && op != "pr") {
		return "", nil, fmt.Errorf("expected an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr) after %s at position %d, found %q", what, t.pos+1, t.text)
	}
	if p.n++; p.n > maxComparisons {
		return "", nil, fmt.Errorf("the filter has more than the limit of %d comparisons (comparison %d is at position %d)", maxComparisons, p.n, path.pos+1)
	}
	if op == "pr" {
		return op, nil, nil
	}
	what += " " + t.text
	v, ok := p.next()
	if !ok {
		return "", nil, fmt.Errorf("the filter ends after %s: expected a value", what)
	}
	lit = &literal{kind: litString, text: v.text, pos: v.pos}
	switch {
	case v.kind == tokString:
	case v.kind != tokWord:
		return "", nil, fmt.Errorf("expected a value after %s at position %d, found %q", what, v.pos+1, v.text)
	case strings.EqualFold(v.text, "true") || strings.EqualFold(v.text, "false"):
		lit.kind = litBool
	case strings.EqualFold(v.text, "null"):
		lit.kind = litNull
	case isJSONNumber(v.text):
		lit.kind = litNumber
	}
	return op, lit, nil
}

// isJSONNumber reports whether s is a JSON number.
func isJSONNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			n++
		}
		return n
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case digits() == 0:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}

// and joins conditions, flattening nested Ands.
func and(terms ...store.Cond) store.Cond {
	if len(terms) == 1 {
		return terms[0]
	}
	var out store.And
	for _, c := range terms {
		if a, ok := c.(store.And); ok {
			out = append(out, a...)
		} else {
			out = append(out, c)
		}
	}
	return out
}

// or joins conditions, flattening nested Ors.
func or(terms ...store.Cond) store.Cond {
	if len(terms) == 1 {
		return terms[0]
	}
	var out store.Or
	for _, c := range terms {
		if o, ok := c.(store.Or); ok {
			out = append(out, o...)
		} else {
			out = append(out, c)
		}
	}
	return out
}

// attrExp compiles "path op value" and "path pr".
func (p *parser) attrExp(path token) (store.Cond, error) {
	op, lit, err := p.operator(path, path.text)
	if err != nil {
		return nil, err
	}
	if p.parent == nil && strings.EqualFold(path.text, "schemas") {
		return p.schemas(op, lit)
	}
	var a Attr
	if p.parent != nil {
		if strings.ContainsAny(path.text, ".:") {
			return nil, fmt.Errorf("inside %s[ ] name a sub-attribute of %s, not %q (position %d)", p.parent, p.parent, path.text, path.pos+1)
		}
		a, err = p.rt.ResolveIn(p.parent.URN, p.parent.Def.Name(), path.text, true)
	} else {
		a, err = resolveTop(p.rt, path.text)
	}
	if err != nil {
		return nil, err
	}
	return p.compare(a, op, lit)
}

// valuePath compiles attr[filter] and attr[filter].sub op value; the next
// token is the [.
func (p *parser) valuePath(path token) (store.Cond, error) {
	open, _ := p.next()
	if p.parent != nil {
		return nil, fmt.Errorf("[ ] at position %d cannot be nested inside %s[ ]", open.pos+1, p.parent)
	}
	if closingBracket(p.toks, p.i-1) < 0 {
		return nil, fmt.Errorf("the [ at position %d is not closed", open.pos+1)
	}
	root, err := valuePathRoot(p.rt, path.text)
	if err != nil {
		return nil, err
	}
	c, err := p.elemFilter(&root)
	if err != nil {
		return nil, err
	}
	if p.i < len(p.toks) {
		if t := p.toks[p.i]; t.kind == tokWord && !t.space && strings.HasPrefix(t.text, ".") {
			p.i++
			sub, err := p.rt.ResolveIn(root.URN, root.Def.Name(), t.text[1:], true)
			if err != nil {
				return nil, err
			}
			op, lit, err := p.operator(path, path.text+"[...]"+t.text)
			if err != nil {
				return nil, err
			}
			p.parent = &root
			cmp, err := p.compare(sub, op, lit)
			p.parent = nil
			if err != nil {
				return nil, err
			}
			c = and(c, cmp)
		}
	}
	return store.Elem{Root: root.IndexPath(), C: c}, nil
}

// elemFilter reads the filter inside [ ] (the [ read, the ] known to
// follow) over the sub-attributes of root, and the ].
func (p *parser) elemFilter(root *Attr) (store.Cond, error) {
	p.parent = root
	defer func() { p.parent = nil }()
	c, err := p.or()
	if err != nil {
		return nil, err
	}
	if t, ok := p.next(); !ok || t.kind != tokRBrack {
		return nil, p.unexpected(t)
	}
	return c, nil
}

// valuePathRoot resolves the attribute before [ ]: a complex attribute
// other than meta.
func valuePathRoot(rt *ResourceType, path string) (Attr, error) {
	a, err := resolveTop(rt, path)
	switch {
	case err != nil:
		return Attr{}, err
	case a.Sub != nil:
		return Attr{}, fmt.Errorf("[ ] must follow a complex attribute, not the sub-attribute %s", a)
	case a.Def.AttributeType() != "complex":
		return Attr{}, fmt.Errorf("%s is not a complex attribute; [ ] filters the sub-attributes of one", a)
	case isMeta(a):
		return Attr{}, errors.New("meta cannot be filtered with [ ]")
	case hidden(a.Def):
		return Attr{}, fmt.Errorf("%s is never returned and cannot be filtered", a)
	}
	return a, nil
}

func isMeta(a Attr) bool { return a.URN == "" && strings.EqualFold(a.Def.Name(), "meta") }

// resolveTop resolves an attribute path outside [ ]. Beyond rt.Resolve, an
// attribute without URN that is not a core attribute is looked up in the
// extensions (Entra sends "manager" for the enterprise manager).
func resolveTop(rt *ResourceType, path string) (Attr, error) {
	a, err := rt.Resolve(path)
	if err == nil {
		return a, nil
	}
	if _, _, hasURN := rt.SplitURN(path); hasURN {
		return Attr{}, err
	}
	if strings.Contains(path, ":") {
		return Attr{}, fmt.Errorf("%w: %q starts with no schema URN of %s", ErrUnknownAttribute, path, rt.Name)
	}
	name, sub, hasSub := strings.Cut(path, ".")
	var found []Attr
	for _, ext := range rt.Extensions {
		if _, ok := findAttr(ext.Schema.Attributes, name); ok {
			ea, eerr := rt.ResolveIn(ext.Schema.ID, name, sub, hasSub)
			if eerr != nil {
				return Attr{}, eerr
			}
			found = append(found, ea)
		}
	}
	if len(found) == 1 {
		return found[0], nil
	}
	if len(found) > 1 {
		return Attr{}, fmt.Errorf("%w: %q is ambiguous; prefix it with its schema URN", ErrUnknownAttribute, path)
	}
	return Attr{}, err
}

// compare compiles "a op lit" (lit is nil for pr).
func (p *parser) compare(a Attr, op string, lit *literal) (store.Cond, error) {
	if isMeta(a) && p.parent == nil {
		return p.meta(a, op, lit)
	}
	if hidden(a.Def) || (a.Sub != nil && hidden(*a.Sub)) {
		return nil, fmt.Errorf("%s is never returned and cannot be used in a filter", a)
	}
	if a.Sub == nil && a.Def.AttributeType() == "complex" {
		if op == "pr" || lit.kind == litNull {
			var paths []string
			for _, s := range mustPlanAttr(a).subs {
				paths = append(paths, s.path)
			}
			return presence(store.Compare{Paths: paths, Op: store.Pr}, a, op, lit)
		}
		v, ok := findAttr(a.Def.SubAttributes(), "value")
		if !ok {
			return nil, fmt.Errorf("%s is complex and has no value sub-attribute; compare one of its sub-attributes", a)
		}
		a.Sub = &v
	}
	lp := leafOf(a)
	pseudo := a.URN == "" && a.Sub == nil && strings.EqualFold(a.Def.Name(), "id")
	if op == "pr" || lit.kind == litNull {
		if pseudo { // every resource has an id
			return presence(store.Const(true), a, op, lit)
		}
		return presence(store.Compare{Paths: []string{lp.path}, Op: store.Pr}, a, op, lit)
	}
	return compileCompare(lp, a.String(), op, lit)
}

// presence compiles pr, eq null and ne null given the presence condition.
func presence(pr store.Cond, a Attr, op string, lit *literal) (store.Cond, error) {
	switch {
	case op == "pr" || op == "ne":
		return pr, nil
	case op == "eq":
		if c, ok := pr.(store.Const); ok {
			return !c, nil
		}
		return store.Not{C: pr}, nil
	}
	return nil, fmt.Errorf("%s %s null: null can only be compared with eq or ne (position %d)", a, op, lit.pos+1)
}

// compileCompare compiles a comparison of the leaf lp (named name) with a
// non-null literal.
func compileCompare(lp leafPlan, name, op string, lit *literal) (store.Cond, error) {
	o := compareOps[op]
	switch {
	case (lp.kind == kindBool || lp.binary) && (o == store.Gt || o == store.Ge || o == store.Lt || o == store.Le):
		return nil, fmt.Errorf("%s %s: %s is not defined on %s attributes", name, op, op, kindName(lp))
	case lp.kind != kindString && (o == store.Co || o == store.Sw || o == store.Ew):
		return nil, fmt.Errorf("%s %s: %s is not defined on %s attributes", name, op, op, kindName(lp))
	}
	v, err := literalValue(lp, name, *lit)
	if err != nil {
		return nil, err
	}
	str, num, ok := lp.normalize(v)
	if !ok {
		return nil, fmt.Errorf("%s: %s is not a valid value (position %d)", name, lit, lit.pos+1)
	}
	c := store.Compare{Paths: []string{lp.path}, Op: o, Str: str}
	if num {
		f := numberOf(v)
		c.Num = &f
	}
	return c, nil
}

func kindName(lp leafPlan) string {
	switch {
	case lp.binary:
		return "binary"
	case lp.kind == kindBool:
		return "boolean"
	case lp.kind == kindInt:
		return "integer"
	case lp.kind == kindDecimal:
		return "decimal"
	case lp.kind == kindDateTime:
		return "dateTime"
	}
	return "string"
}

// literalValue converts a literal to the canonical Go value of the leaf's
// type, or says why it does not fit.
func literalValue(lp leafPlan, name string, lit literal) (any, error) {
	bad := func(want string) error {
		return fmt.Errorf("%s is %s %s attribute: %s at position %d is not %s", name, article(kindName(lp)), kindName(lp), lit, lit.pos+1, want)
	}
	switch lp.kind {
	case kindBool:
		switch {
		case lit.kind != litBool && lit.kind != litString:
		case strings.EqualFold(lit.text, "true"):
			return true, nil
		case strings.EqualFold(lit.text, "false"):
			return false, nil
		}
		return nil, bad("true or false")
	case kindInt, kindDecimal:
		if (lit.kind == litNumber || lit.kind == litString) && isJSONNumber(lit.text) {
			f, err := strconv.ParseFloat(lit.text, 64)
			if err == nil {
				return f, nil
			}
			return nil, bad("a number in range")
		}
		return nil, bad("a number")
	case kindDateTime:
		if lit.kind == litString {
			if _, ok := parseDateTime(lit.text); ok {
				return lit.text, nil
			}
		}
		return nil, bad(`an xsd:dateTime such as "2024-05-13T04:42:34Z"`)
	}
	if lit.kind == litString || lit.kind == litNumber {
		return lit.text, nil
	}
	return nil, bad("a string")
}

func article(s string) string {
	if strings.ContainsRune("aeiou", rune(s[0])) {
		return "an"
	}
	return "a"
}

// meta compiles comparisons on meta and its sub-attributes.
func (p *parser) meta(a Attr, op string, lit *literal) (store.Cond, error) {
	if a.Sub == nil {
		if op == "pr" || (lit.kind == litNull && (op == "eq" || op == "ne")) {
			return presence(store.Const(true), a, op, lit)
		}
		return nil, errors.New("meta cannot be compared; compare meta.created, meta.lastModified or meta.resourceType")
	}
	switch name := a.Sub.Name(); name {
	case "created", "lastModified":
		if op == "pr" || lit.kind == litNull {
			return presence(store.Const(true), a, op, lit)
		}
		return compileCompare(leafOf(a), a.String(), op, lit)
	case "resourceType":
		if op == "pr" || lit.kind == litNull {
			return presence(store.Const(true), a, op, lit)
		}
		c, err := compileCompare(leafOf(a), a.String(), op, lit)
		if err != nil {
			return nil, err
		}
		cmp := c.(store.Compare)
		r := test(&cmp, &store.IndexEntry{Str: p.rt.Name})
		return store.Const(r == matched || (r == undecided && cmp.Op == store.Ne)), nil
	default:
		return nil, fmt.Errorf("%s cannot be used in a filter", a)
	}
}

// schemas compiles comparisons on the rendered "schemas" attribute: it
// holds the core schema URN and the URN of every extension the resource
// has a value in.
func (p *parser) schemas(op string, lit *literal) (store.Cond, error) {
	if op == "pr" {
		return store.Const(true), nil
	}
	if (op != "eq" && op != "ne") || lit.kind != litString {
		return nil, fmt.Errorf("schemas can only be compared with eq or ne and a schema URN, not %s %s", op, lit)
	}
	var has store.Cond = store.Const(false)
	if strings.EqualFold(lit.text, p.rt.Schema.ID) {
		has = store.Const(true)
	}
	for _, sp := range p.rt.indexPlan().schemas {
		if sp.urn == "" || !strings.EqualFold(lit.text, sp.urn) {
			continue
		}
		var paths []string
		for _, a := range sp.attrs {
			if !a.complex {
				paths = append(paths, a.path)
			}
			for _, sub := range a.subs {
				paths = append(paths, sub.path)
			}
		}
		if len(paths) > 0 {
			has = store.Compare{Paths: paths, Op: store.Pr}
		}
	}
	if op == "eq" {
		return has, nil
	}
	if c, ok := has.(store.Const); ok {
		return !c, nil
	}
	return store.Not{C: has}, nil
}

// ---- in-memory evaluation ----

// evaluator evaluates a store.Cond over the index entries of one resource,
// with the store's semantics.
type evaluator struct {
	entries []store.IndexEntry
	res     map[string]any // for the pseudo-paths; nil inside ElemFilter
}

// eval evaluates c; inside an Elem, root is the Elem's root path and elem
// the element under test.
func (ev *evaluator) eval(c store.Cond, root string, elem int) bool {
	switch c := c.(type) {
	case store.Const:
		return bool(c)
	case store.And:
		for _, t := range c {
			if !ev.eval(t, root, elem) {
				return false
			}
		}
		return true
	case store.Or:
		for _, t := range c {
			if ev.eval(t, root, elem) {
				return true
			}
		}
		return false
	case store.Not:
		return !ev.eval(c.C, root, elem)
	case store.Elem:
		var tried []int
	next:
		for i := range ev.entries {
			e := &ev.entries[i]
			if !under(e.Path, c.Root) || (root != "" && e.Elem != elem) {
				continue
			}
			for _, n := range tried {
				if n == e.Elem {
					continue next
				}
			}
			tried = append(tried, e.Elem)
			if ev.eval(c.C, c.Root, e.Elem) {
				return true
			}
		}
		return false
	case store.Compare:
		return ev.compare(&c, root, elem)
	}
	return false
}

// under reports whether path is a sub-attribute path of root.
func under(path, root string) bool {
	return len(path) > len(root) && path[len(root)] == '.' && strings.HasPrefix(path, root)
}

func (ev *evaluator) compare(c *store.Compare, root string, elem int) bool {
	for _, path := range c.Paths {
		if v, isPseudo := ev.pseudo(path); isPseudo {
			if root == "" && v != nil {
				if r := test(c, v); r != undecided {
					return r == matched
				}
			}
			continue
		}
		for i := range ev.entries {
			e := &ev.entries[i]
			if e.Path != path || (root != "" && e.Elem != elem) {
				continue
			}
			if r := test(c, e); r != undecided {
				return r == matched
			}
		}
	}
	return c.Op == store.Ne
}

// outcome is what one value tells about a Compare.
type outcome uint8

const (
	undecided outcome = iota // look at further values
	matched                  // the Compare holds
	failed                   // the Compare does not hold (ne: a value equals)
)

// test applies c to one value. A Compare holds when some value satisfies
// it; ne holds when no value equals.
func test(c *store.Compare, e *store.IndexEntry) outcome {
	switch {
	case c.Op == store.Pr:
		return matched
	case c.Op == store.Ne:
		if holds(store.Eq, e, c) {
			return failed
		}
	case holds(c.Op, e, c):
		return matched
	}
	return undecided
}

// pseudo returns the value of a store-column pseudo-path (nil when the
// resource has none); isPseudo is false for ordinary index paths.
func (ev *evaluator) pseudo(path string) (v *store.IndexEntry, isPseudo bool) {
	var s string
	switch path {
	case "id":
		s, _ = ev.res["id"].(string)
	case "meta.created", "meta.lastmodified":
		m, _ := ev.res["meta"].(map[string]any)
		key := "created"
		if path == "meta.lastmodified" {
			key = "lastModified"
		}
		raw, _ := m[key].(string)
		if t, ok := parseDateTime(raw); ok {
			s = t.Format(store.TimeFormat)
		}
	default:
		return nil, false
	}
	if s == "" {
		return nil, true
	}
	return &store.IndexEntry{Path: path, Str: s}, true
}

// holds applies a comparison (Ne is evaluated as its Eq) to one value.
func holds(op store.Op, e *store.IndexEntry, c *store.Compare) bool {
	if c.Num != nil {
		if e.Num == nil {
			return false
		}
		a, b := *e.Num, *c.Num
		switch op {
		case store.Eq, store.Ne:
			return a == b
		case store.Gt:
			return a > b
		case store.Ge:
			return a >= b
		case store.Lt:
			return a < b
		case store.Le:
			return a <= b
		}
		return false
	}
	a, b := e.Str, c.Str
	switch op {
	case store.Eq, store.Ne:
		return a == b
	case store.Co:
		return strings.Contains(a, b)
	case store.Sw:
		return strings.HasPrefix(a, b)
	case store.Ew:
		return strings.HasSuffix(a, b)
	case store.Gt:
		return a > b
	case store.Ge:
		return a >= b
	case store.Lt:
		return a < b
	case store.Le:
		return a <= b
	}
	return false
}
