package ldaptarget

import (
	"errors"
	"fmt"
	"strings"

	ldap "github.com/go-ldap/ldap/v3"
)

// EscapeDNValue escapes an attribute value for a DN string per RFC 4514
// section 2.4: the characters `"+,;<>\` anywhere, a leading space or '#', a
// trailing space, and every control character (NUL included) hex-escaped.
// Other characters, UTF-8 included, are kept.
func EscapeDNValue(v string) string {
	const hexDigits = "0123456789abcdef"
	var b strings.Builder
	b.Grow(len(v) + 8)
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '"' || c == '+' || c == ',' || c == ';' || c == '<' || c == '>' || c == '\\',
			c == '=', // not required, but keeps values from looking like types
			i == 0 && (c == ' ' || c == '#'),
			i == len(v)-1 && c == ' ':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c == 0x7f:
			b.WriteByte('\\')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&0xf])
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// EscapeFilterValue escapes an assertion value for a search filter per
// RFC 4515: '*', '(', ')', '\', NUL and every byte outside ASCII become \xx.
func EscapeFilterValue(v string) string { return ldap.EscapeFilter(v) }

// escapeBinaryFilter escapes every byte of a binary assertion value.
func escapeBinaryFilter(b []byte) string {
	var s strings.Builder
	for _, c := range b {
		fmt.Fprintf(&s, "\\%02x", c)
	}
	return s.String()
}

// template is a parsed DN template: literal text and {attr} placeholders.
type template struct {
	src   string
	parts []tmplPart
	attrs []string // the placeholders, each once
}

type tmplPart struct {
	lit  string
	attr string // set for a placeholder
}

// parseTemplate parses a DN template. The first RDN must use a placeholder,
// and the template, with values filled in, must be a valid DN.
func parseTemplate(src string) (*template, error) {
	if src == "" {
		return nil, errors.New("required, e.g. uid={uid},ou=people,dc=example,dc=org")
	}
	t := &template{src: src}
	seen := map[string]bool{}
	rest := src
	for rest != "" {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			t.parts = append(t.parts, tmplPart{lit: rest})
			break
		}
		if i > 0 {
			t.parts = append(t.parts, tmplPart{lit: rest[:i]})
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return nil, fmt.Errorf("%q: unclosed {", src)
		}
		name := rest[i+1 : i+j]
		if !attrName(name) {
			return nil, fmt.Errorf("%q: invalid placeholder {%s}", src, name)
		}
		t.parts = append(t.parts, tmplPart{attr: name})
		if !seen[strings.ToLower(name)] {
			seen[strings.ToLower(name)] = true
			t.attrs = append(t.attrs, name)
		}
		rest = rest[i+j+1:]
	}
	if len(t.attrs) == 0 {
		return nil, fmt.Errorf("%q: no {attribute} placeholder", src)
	}
	dn, err := ldap.ParseDN(t.render(func(string) string { return "x" }))
	if err != nil {
		return nil, fmt.Errorf("%q: not a DN: %v", src, err)
	}
	if len(dn.RDNs) < 2 {
		return nil, fmt.Errorf("%q: needs a parent", src)
	}
	if first, _, _ := strings.Cut(src, ","); !strings.Contains(first, "{") {
		return nil, fmt.Errorf("%q: the first RDN must use a placeholder", src)
	}
	return t, nil
}

// render fills the placeholders with value(attr), which must be escaped.
func (t *template) render(value func(attr string) string) string {
	var b strings.Builder
	for _, p := range t.parts {
		if p.attr != "" {
			b.WriteString(value(p.attr))
		} else {
			b.WriteString(p.lit)
		}
	}
	return b.String()
}

// fixedParent returns the parent DN when it has no placeholders.
func (t *template) fixedParent() (string, bool) {
	var b strings.Builder
	for _, p := range t.parts {
		if p.attr != "" {
			b.WriteString("{}")
		} else {
			b.WriteString(p.lit)
		}
	}
	_, parent, ok := cutRDN(b.String())
	if !ok || strings.Contains(parent, "{}") {
		return "", false
	}
	return parent, true
}

// cutRDN splits a DN string at its first unescaped comma.
func cutRDN(dn string) (rdn, parent string, ok bool) {
	for i := 0; i < len(dn); i++ {
		switch dn[i] {
		case '\\':
			i++
		case ',':
			return dn[:i], dn[i+1:], true
		}
	}
	return dn, "", false
}

// sameDN reports whether two DN strings name the same entry: the same
// attribute types (any case) and the same values (exactly).
func sameDN(a, b string) bool {
	da, err1 := ldap.ParseDN(a)
	db, err2 := ldap.ParseDN(b)
	if err1 != nil || err2 != nil {
		return a == b
	}
	return da.Equal(db)
}

// sameDNFold is sameDN with values compared without case, as directories
// compare DNs of the usual attributes.
func sameDNFold(a, b string) bool {
	da, err1 := ldap.ParseDN(a)
	db, err2 := ldap.ParseDN(b)
	if err1 != nil || err2 != nil {
		return strings.EqualFold(a, b)
	}
	return da.EqualFold(db)
}
