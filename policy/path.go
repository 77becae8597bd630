package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/scimgate/scimgate/scim"
)

// attrRef is a SCIM attribute path translated to the CEL binding.
type attrRef struct {
	cel  string // the CEL expression reading it: user.enterprise.department
	leaf *node  // what the path names
	list bool   // it yields a list: a multi-valued attribute, or a sub-attribute of every element
}

// elemFilter matches the selections a path may make in [ ]: the element
// of a type, or the primary element.
var elemFilter = regexp.MustCompile(`(?i)^\s*(type|primary)\s+eq\s+(.+?)\s*$`)

// resolvePath translates a SCIM attribute path (as in a PATCH path:
// "userName", "name.givenName", "urn:...:User:department", "manager",
// `emails[type eq "work"].value`, `addresses[type eq "work"].locality`,
// `emails[primary eq true].value`) to the CEL binding of kind k.
// Attribute names resolve case-insensitively as the SCIM server resolves
// them.
func (k *kind) resolvePath(path string) (attrRef, error) {
	path = strings.TrimSpace(path)
	if path == "" {
		return attrRef{}, errors.New("the path is empty")
	}
	if len(path) > 4 && strings.EqualFold(path[:4], "urn:") {
		if _, _, ok := k.rt.SplitURN(path); !ok {
			return attrRef{}, fmt.Errorf("%q starts with no schema of %s; the schemas are %s",
				path, k.rt.Name, strings.Join(k.rt.SchemaURNs(), ", "))
		}
	}
	open := strings.IndexByte(path, '[')
	if open < 0 {
		a, err := k.rt.Resolve(path)
		if err != nil {
			return attrRef{}, err
		}
		n := k.nodeOf(a)
		base := k.base(a)
		if a.Sub == nil {
			return attrRef{cel: base, leaf: n, list: n.multi}, nil
		}
		sub := n.children[a.Sub.Name()]
		if n.multi {
			return attrRef{cel: fmt.Sprintf("%s.map(v, v%s)", base, celField(a.Sub.Name())), leaf: sub, list: true}, nil
		}
		return attrRef{cel: base + celField(a.Sub.Name()), leaf: sub}, nil
	}
	end := strings.IndexByte(path[open:], ']')
	if end < 0 {
		return attrRef{}, errors.New("the [ is not closed")
	}
	end += open
	name, filter, rest := path[:open], path[open+1:end], path[end+1:]
	a, err := k.rt.Resolve(name)
	if err != nil {
		return attrRef{}, err
	}
	n := k.nodeOf(a)
	if a.Sub != nil || !n.multi || !n.isComplex() {
		return attrRef{}, fmt.Errorf("%s is not a multi-valued complex attribute; [ ] selects one of its elements", a)
	}
	m := elemFilter.FindStringSubmatch(filter)
	if m == nil {
		return attrRef{}, fmt.Errorf(`[%s]: a path can select [type eq "..."] or [primary eq true]; use an expression for other selections`, filter)
	}
	var key string
	if strings.EqualFold(m[1], "primary") {
		if !strings.EqualFold(m[2], "true") {
			return attrRef{}, fmt.Errorf("[%s]: only [primary eq true] is supported", filter)
		}
		key = "primary"
	} else if err := json.Unmarshal([]byte(m[2]), &key); err != nil || key == "" {
		return attrRef{}, fmt.Errorf(`[%s]: the type must be a non-empty quoted string`, filter)
	}
	if !strings.HasPrefix(rest, ".") || strings.Contains(rest[1:], ".") {
		return attrRef{}, fmt.Errorf(`name one sub-attribute after ], as in %s[type eq "work"].value`, a.Def.Name())
	}
	sa, err := k.rt.ResolveIn(a.URN, a.Def.Name(), rest[1:], true)
	if err != nil {
		return attrRef{}, err
	}
	subName := sa.Sub.Name()
	elem := k.base(a) + celField(key)
	switch {
	case n.hasValue && subName == "value":
		return attrRef{cel: elem, leaf: n.children["value"]}, nil
	case !n.hasValue:
		return attrRef{cel: elem + celField(subName), leaf: n.children[subName]}, nil
	}
	return attrRef{}, fmt.Errorf(`only .value can follow [...] for %s; use an expression for %s`, a.Def.Name(), subName)
}

// nodeOf finds the node of a resolved attribute (without its Sub).
func (k *kind) nodeOf(a scim.Attr) *node {
	parent := k.tree
	if a.URN != "" {
		parent = k.tree.children[a.URN]
	}
	return parent.children[a.Def.Name()]
}

// base is the CEL expression reading attribute a (without its Sub).
func (k *kind) base(a scim.Attr) string {
	switch {
	case a.URN == "":
		return k.name + celField(a.Def.Name())
	case k.tree.children[enterpriseAlias] != nil && a.URN == scim.URNEnterpriseUser:
		return k.name + "." + enterpriseAlias + celField(a.Def.Name())
	}
	return fmt.Sprintf("%s[%s]%s", k.name, strconv.Quote(a.URN), celField(a.Def.Name()))
}

// celReserved are CEL's reserved words, which cannot follow a '.'.
var celReserved = map[string]bool{
	"as": true, "break": true, "const": true, "continue": true, "else": true, "false": true,
	"for": true, "function": true, "if": true, "import": true, "in": true, "let": true,
	"loop": true, "package": true, "namespace": true, "null": true, "return": true,
	"true": true, "var": true, "void": true, "while": true,
}

var celIdent = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// celField selects field name: .name, or ["name"] when name is not an
// identifier ($ref) or is reserved.
func celField(name string) string {
	if celIdent.MatchString(name) && !celReserved[name] {
		return "." + name
	}
	return "[" + strconv.Quote(name) + "]"
}
