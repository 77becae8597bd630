package ldaptarget

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	ldap "github.com/go-ldap/ldap/v3"

	"github.com/scimgate/scimgate/targets"
)

// Lookup returns the entries of the kind under base_dn whose attribute
// attr holds value, as Get returns them, in anchor order: a subtree
// search for (&(kind's filter)(attr=value)), the value escaped per
// RFC 4515, with a size limit of limit (default and at most page_size).
// The directory compares with the attribute's equality matching rule
// (uid and mail: without case; a multi-valued attribute: any of its
// values); an attribute without one matches nothing. attr must be an
// attribute type of the directory's schema (read from its subschema
// entry, again when attr is not in it) other than those the connector
// keeps itself (objectClass, the anchor, the password, the object id,
// the disable and member attributes): others are ErrPermanent.
func (c *Connector) Lookup(ctx context.Context, k targets.Kind, attr string, value any, limit int) ([]targets.Object, error) {
	kc, err := c.kindOf(k, "Lookup")
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, targets.Transient(err)
	}
	switch value.(type) {
	case string, bool, int64, float64:
	default:
		return nil, targets.Permanent(fmt.Errorf("ldaptarget: Lookup: attribute %q: a value of type %T, want one string, bool, int64 or float64", attr, value))
	}
	if err := c.checkLookupAttr(ctx, kc, attr); err != nil {
		return nil, err
	}
	if limit <= 0 || limit > c.cfg.PageSize {
		limit = c.cfg.PageSize
	}
	vals := c.encode(attr, value)
	if len(vals) != 1 {
		return []targets.Object{}, nil // "": no LDAP value is empty
	}
	es, err := c.search(ctx, c.cfg.BaseDN, kc.lookupFilter(attr, vals[0]), c.readAttrs(kc), limit)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(es, func(a, b *ldap.Entry) int { return cmp.Compare(c.anchorOf(a), c.anchorOf(b)) })
	out := make([]targets.Object, 0, len(es))
	for _, e := range es {
		o, err := c.object(ctx, kc, e)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

// lookupFilter is the filter of the kind's entries whose attribute attr
// (a checked attribute name) has the value, escaped per RFC 4515.
func (k *kind) lookupFilter(attr, value string) string { return and(k.filter, eq(attr, value)) }

// checkLookupAttr refuses, as ErrPermanent naming it, an attribute that
// Lookup cannot search for the kind.
func (c *Connector) checkLookupAttr(ctx context.Context, k *kind, attr string) error {
	if !attrName(attr) {
		return targets.Permanent(fmt.Errorf("ldaptarget: Lookup: %q is not an attribute name", attr))
	}
	own := []string{"objectClass", c.cfg.AnchorAttribute, c.cfg.PasswordAttribute, k.cfg.ObjectIDAttribute}
	if d := c.cfg.Disable; d != nil && k == c.users {
		own = append(own, map[string]string{DisablePPolicy: "pwdAccountLockedTime", DisableAD: "userAccountControl", DisableAttribute: d.Attribute}[d.Method])
	}
	if k == c.groups {
		own = append(own, c.memberAttr())
	}
	name, _, _ := strings.Cut(attr, ";") // without options (cn;lang-en)
	for _, o := range own {
		if o != "" && strings.EqualFold(name, o) {
			return targets.Permanent(fmt.Errorf("ldaptarget: Lookup: attribute %q is kept by the connector, not written by the mapping", attr))
		}
	}
	known, err := c.attributeType(ctx, name)
	if err != nil {
		return err
	}
	if !known {
		return targets.Permanent(fmt.Errorf("ldaptarget: Lookup: attribute %q is not an attribute type of the directory's schema", attr))
	}
	return nil
}

// attributeType reports whether name (or a numeric OID) is an attribute
// type of the directory's schema. The schema is read at the first call,
// and again when name is not in it (the schema may have grown). When the
// directory does not show its schema to the bind account, every name is
// taken as known (an unknown one then matches nothing).
func (c *Connector) attributeType(ctx context.Context, name string) (bool, error) {
	key := strings.ToLower(name)
	c.schemaMu.Lock()
	types := c.attrTypes
	c.schemaMu.Unlock()
	if types != nil && (len(types) == 0 || types[key]) {
		return true, nil // known, or the schema is hidden
	}
	types, err := c.readAttributeTypes(ctx)
	if err != nil {
		return false, err
	}
	c.schemaMu.Lock()
	c.attrTypes = types
	c.schemaMu.Unlock()
	return len(types) == 0 || types[key], nil
}

// readAttributeTypes returns the names and OIDs (lower case) of the
// attribute types of the subschema entry that the root DSE names; none when
// there is no such entry or the bind account cannot read it.
func (c *Connector) readAttributeTypes(ctx context.Context) (map[string]bool, error) {
	root, err := c.readDN(ctx, "", []string{"subschemaSubentry"})
	if errors.Is(err, targets.ErrNotFound) {
		return map[string]bool{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ldaptarget: read the root DSE for the schema: %w", err)
	}
	dn := root.GetEqualFoldAttributeValue("subschemaSubentry")
	if dn == "" {
		return map[string]bool{}, nil
	}
	e, err := c.readDNFilter(ctx, dn, "(objectClass=subschema)", []string{"attributeTypes"})
	if errors.Is(err, targets.ErrNotFound) || ldap.IsErrorWithCode(err, ldap.LDAPResultInsufficientAccessRights) {
		return map[string]bool{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ldaptarget: read the schema %s: %w", dn, err)
	}
	types := map[string]bool{}
	for _, def := range e.GetEqualFoldAttributeValues("attributeTypes") {
		for _, n := range attributeTypeNames(def) {
			types[strings.ToLower(n)] = true
		}
	}
	return types, nil
}

// attributeTypeNames returns the OID and the names of an attribute type
// description (RFC 4512 section 4.1.2), such as
// ( 2.5.4.3 NAME ( 'cn' 'commonName' ) SUP name ): the word after the
// opening parenthesis, and the quoted names after NAME.
func attributeTypeNames(def string) []string {
	toks := schemaTokens(def)
	if len(toks) < 2 || toks[0] != "(" {
		return nil
	}
	out := []string{toks[1]}
	for i := 2; i+1 < len(toks); i++ {
		if toks[i] != "NAME" {
			continue
		}
		if t := toks[i+1]; strings.HasPrefix(t, "'") { // NAME 'cn'
			return append(out, strings.Trim(t, "'"))
		}
		if toks[i+1] == "(" { // NAME ( 'cn' 'commonName' )
			for j := i + 2; j < len(toks) && strings.HasPrefix(toks[j], "'"); j++ {
				out = append(out, strings.Trim(toks[j], "'"))
			}
		}
		return out
	}
	return out
}

// schemaTokens splits a schema description into "(", ")", quoted strings
// (with their quotes) and words.
func schemaTokens(s string) []string {
	var toks []string
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == ' ' || c == '\t' || c == '\n':
			i++
		case c == '(' || c == ')':
			toks = append(toks, string(c))
			i++
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return append(toks, s[i:]+"'")
			}
			toks = append(toks, s[i:i+j+2])
			i += j + 2
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\n()'", rune(s[j])) {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		}
	}
	return toks
}
