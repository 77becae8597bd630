// Package ldaptarget is the LDAP target connector (type "ldap"): it creates
// and maintains user and group entries in a directory (OpenLDAP, 389 DS,
// Active Directory) over LDAP v3 with github.com/go-ldap/ldap/v3.
//
// Entries are named by DN templates over their mapped attributes
// (uid={uid},ou=people,dc=example,dc=org); every value placed in a DN is
// escaped per RFC 4514 and every value placed in a search filter per
// RFC 4515. The anchor is the entry's immutable entryUUID (or AD's
// objectGUID, as hex), read back after Add, so renames and moves (ModifyDN)
// keep it. Group members are written as DNs (groupOfNames,
// groupOfUniqueNames) or uids (posixGroup), resolved from anchors at call
// time; the connector itself keeps memberships in step when a member is
// renamed, moved or deleted, so no refint overlay is needed. Members are
// written 1,000 values per modify request (memberBatch) and resolved 200
// per search (searchBatch), without reading the group's member list unless
// the directory refuses a value as present or absent.
//
// List pages are keyed by anchor: each call lists the anchors of the kind
// with a paged search (RFC 2696), takes the next limit anchors in order
// after the cursor, then reads those entries. The cursor is the last anchor
// returned, so it stays valid across calls and connections, whatever is
// created or deleted meanwhile.
//
// Lookup (targets.Finder) searches the kind's entries under base_dn with an
// escaped equality filter on the attribute, so that the directory compares
// with the attribute's matching rule (lookup.go).
package ldaptarget

import (
	"cmp"
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf16"

	ldap "github.com/go-ldap/ldap/v3"

	"github.com/scimgate/scimgate/targets"
)

// Type is the target type of the LDAP connector in a TargetConfig.
const Type = "ldap"

// Connector is an open LDAP target. It is safe for concurrent use.
type Connector struct {
	cfg           Config
	pool          *pool
	users, groups *kind
	types         map[string]string // lower-case attribute name → type
	binaryAnchor  bool

	schemaMu  sync.Mutex
	attrTypes map[string]bool // the schema's attribute types (Lookup); nil until read
}

// kind is the configuration of the entries of one kind.
type kind struct {
	kind   targets.Kind
	field  string // "users" or "groups", for messages
	cfg    KindConfig
	tmpl   *template
	filter string
}

// Interface guards.
var (
	_ targets.Connector     = (*Connector)(nil)
	_ targets.Finder        = (*Connector)(nil)
	_ targets.HealthChecker = (*Connector)(nil)
)

// lockedForever is the pwdAccountLockedTime of an account locked by an
// administrator until unlocked.
const lockedForever = "000001010000Z"

// adAccountDisable is the ACCOUNTDISABLE bit of userAccountControl;
// adNormalAccount is the value of an enabled ordinary account.
const (
	adAccountDisable = 0x2
	adNormalAccount  = 0x200
)

// newConnector builds a connector from a validated configuration; it does
// not connect yet.
func newConnector(cfg Config, password string, tc *tls.Config) (*Connector, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, targets.FieldError("url", "%v", err)
	}
	c := &Connector{
		cfg:          cfg,
		pool:         newPool(u, tc, cfg.TLS.StartTLS, cfg.BindDN, password, cfg.PoolSize, cfg.DialTimeout, cfg.Timeout),
		types:        make(map[string]string),
		binaryAnchor: strings.EqualFold(cfg.AnchorAttribute, "objectGUID"),
	}
	for k, v := range cfg.AttributeTypes {
		c.types[strings.ToLower(k)] = v
	}
	if c.users, err = newKind(targets.User, "users", cfg.Users); err != nil {
		return nil, err
	}
	if cfg.Groups != nil {
		if c.groups, err = newKind(targets.Group, "groups", cfg.Groups.KindConfig); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func newKind(k targets.Kind, field string, cfg KindConfig) (*kind, error) {
	t, err := parseTemplate(cfg.DNTemplate)
	if err != nil {
		return nil, targets.FieldError(field+".dn_template", "%v", err)
	}
	f := cfg.Filter
	if f == "" {
		f = "(objectClass=" + EscapeFilterValue(cfg.ObjectClasses[len(cfg.ObjectClasses)-1]) + ")"
	}
	return &kind{kind: k, field: field, cfg: cfg, tmpl: t, filter: f}, nil
}

// Capabilities: those of the configuration (Config.Provides).
func (c *Connector) Capabilities() targets.Capabilities { return c.cfg.Provides() }

// Health reads the root DSE over a pooled connection.
func (c *Connector) Health(ctx context.Context) error {
	return classify("read the root DSE", c.pool.do(ctx, ping))
}

// Close closes the idle connections; those in use close when their calls
// end, and every later call fails.
func (c *Connector) Close(context.Context) error {
	c.pool.close()
	return nil
}

// kindOf returns the configuration of a kind, or an error for a kind
// outside the capabilities.
func (c *Connector) kindOf(k targets.Kind, method string) (*kind, error) {
	switch {
	case k == targets.User:
		return c.users, nil
	case k == targets.Group && c.groups != nil:
		return c.groups, nil
	case k == targets.Group:
		return nil, unsupported(method, "groups (no groups configured)")
	}
	return nil, targets.Permanent(fmt.Errorf("ldaptarget: %s: unknown kind %q", method, k))
}

// checkOp refuses a malformed operation.
func (c *Connector) checkOp(op targets.Op, method string) (*kind, error) {
	k, err := c.kindOf(op.Kind, method)
	if err != nil {
		return nil, err
	}
	switch {
	case op.ID == "":
		return nil, targets.Permanent(fmt.Errorf("ldaptarget: %s: empty operation id", method))
	case op.ObjectID == "":
		return nil, targets.Permanent(fmt.Errorf("ldaptarget: %s: empty object id", method))
	case method != "Create" && op.Anchor == "":
		return nil, targets.Permanent(fmt.Errorf("ldaptarget: %s: empty anchor", method))
	case method == "Create" && op.Anchor != "":
		return nil, targets.Permanent(fmt.Errorf("ldaptarget: Create with an anchor"))
	}
	if err := targets.CheckAttrs(op.Attrs); err != nil {
		return nil, fmt.Errorf("ldaptarget: %s %s: %w", method, op.Kind, err)
	}
	for name := range op.Attrs {
		if !attrName(name) || strings.EqualFold(name, "objectClass") || strings.EqualFold(name, c.cfg.AnchorAttribute) {
			return nil, targets.Permanent(fmt.Errorf("ldaptarget: %s %s: attribute %q cannot be written", method, op.Kind, name))
		}
	}
	return k, nil
}

// Create adds the entry and returns its anchor, read back after the Add.
func (c *Connector) Create(ctx context.Context, op targets.Op) (string, error) {
	k, err := c.checkOp(op, "Create")
	if err != nil {
		return "", err
	}
	if err := ctx.Err(); err != nil {
		return "", targets.Transient(err)
	}
	// Contract: no second entry for an object id.
	if a := k.cfg.ObjectIDAttribute; a != "" {
		es, err := c.search(ctx, c.cfg.BaseDN, and(k.filter, eq(a, op.ObjectID)), c.readAttrs(k), 2)
		if err != nil {
			return "", err
		}
		if len(es) > 0 {
			return "", &targets.ConflictError{Anchor: c.anchorOf(es[0]), ObjectID: es[0].GetAttributeValue(a)}
		}
	}
	dn, err := c.dnFor(k, op.Attrs, nil)
	if err != nil {
		return "", err
	}
	req := ldap.NewAddRequest(dn, nil)
	req.Attribute("objectClass", k.cfg.ObjectClasses)
	for _, name := range slices.Sorted(maps.Keys(op.Attrs)) {
		if vals := c.encode(name, op.Attrs[name]); len(vals) > 0 {
			req.Attribute(name, vals)
		}
	}
	if a := k.cfg.ObjectIDAttribute; a != "" {
		req.Attribute(a, []string{op.ObjectID})
	}
	if k == c.groups && c.cfg.Groups.PlaceholderMember != "" {
		req.Attribute(c.memberAttr(), []string{c.cfg.Groups.PlaceholderMember})
	}
	err = c.pool.do(ctx, func(conn *ldap.Conn) error { return conn.Add(req) })
	if ldap.IsErrorWithCode(err, ldap.LDAPResultEntryAlreadyExists) {
		return "", c.conflictAt(ctx, k, dn, err)
	}
	if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
		return "", targets.Permanent(fmt.Errorf("ldaptarget: add %s: the parent entry does not exist: %w", dn, err))
	}
	if err != nil {
		return "", classify("add "+dn, err)
	}
	e, err := c.readDN(ctx, dn, []string{c.cfg.AnchorAttribute})
	if err != nil {
		return "", fmt.Errorf("ldaptarget: read the anchor of %s: %w", dn, err)
	}
	anchor := c.anchorOf(e)
	if anchor == "" {
		return "", targets.Permanent(fmt.Errorf("ldaptarget: %s has no %s", dn, c.cfg.AnchorAttribute))
	}
	return anchor, nil
}

// conflictAt returns the *ConflictError of an entry that exists at dn.
func (c *Connector) conflictAt(ctx context.Context, k *kind, dn string, cause error) error {
	e, err := c.readDNFilter(ctx, dn, k.filter, c.readAttrs(k))
	if errors.Is(err, targets.ErrNotFound) {
		if _, err := c.readDN(ctx, dn, []string{"1.1"}); err == nil {
			// Held by an entry of another kind (or none of ours): a
			// conflict without an anchor, which needs a person.
			return &targets.ConflictError{Err: fmt.Errorf("ldaptarget: %s is held by an entry that is not one of the %s: %w", dn, k.field, cause)}
		}
	}
	if err != nil {
		// The holder went away meanwhile: retrying may succeed.
		return targets.Transient(fmt.Errorf("ldaptarget: %s exists, then could not be read: %w", dn, err))
	}
	ce := &targets.ConflictError{Anchor: c.anchorOf(e), Err: cause}
	if a := k.cfg.ObjectIDAttribute; a != "" {
		ce.ObjectID = e.GetAttributeValue(a)
	}
	return ce
}

// Update replaces the attributes given, renames or moves the entry when its
// DN changes, and records the object id. A rename onto a taken DN or under
// a missing parent is found before anything changes, and the attributes
// outside the RDN are written before the rename, so that a refused value
// changes nothing either.
func (c *Connector) Update(ctx context.Context, op targets.Op) error {
	k, err := c.checkOp(op, "Update")
	if err != nil {
		return err
	}
	e, err := c.find(ctx, k, op.Anchor)
	if err != nil {
		return err
	}
	dn, err := c.targetDN(k, e, op.Attrs, c.disabledByOU(k, e))
	if err != nil {
		return err
	}
	rename := !sameDN(e.DN, dn)
	rdnTypes := map[string]bool{}
	if rename {
		if err := c.checkMove(ctx, k, e, dn); err != nil {
			return err
		}
		for _, d := range []string{e.DN, dn} {
			if parsed, err := ldap.ParseDN(d); err == nil {
				for _, a := range parsed.RDNs[0].Attributes {
					rdnTypes[strings.ToLower(a.Type)] = true
				}
			}
		}
	}
	before, after := ldap.NewModifyRequest(e.DN, nil), ldap.NewModifyRequest(dn, nil)
	for _, name := range slices.Sorted(maps.Keys(op.Attrs)) {
		req := before
		if rdnTypes[strings.ToLower(name)] {
			req = after // the rename sets the new RDN value first
		}
		req.Replace(name, c.encode(name, op.Attrs[name]))
	}
	if a := k.cfg.ObjectIDAttribute; a != "" && e.GetAttributeValue(a) != op.ObjectID {
		before.Replace(a, []string{op.ObjectID})
	}
	if len(before.Changes) > 0 {
		if err := c.modify(ctx, before); err != nil {
			return err
		}
	}
	if rename {
		if err := c.move(ctx, k, e, dn, op.Attrs); err != nil {
			return err
		}
	}
	if len(after.Changes) > 0 {
		return c.modify(ctx, after)
	}
	return nil
}

// targetDN returns the DN of e with its attributes changed by attrs, in the
// OU of disabled users when disabled.
func (c *Connector) targetDN(k *kind, e *ldap.Entry, attrs map[string]any, disabled bool) (string, error) {
	dn, err := c.dnFor(k, attrs, e)
	if err != nil || !disabled {
		return dn, err
	}
	rdn, _, _ := cutRDN(dn)
	return rdn + "," + c.cfg.Disable.DN, nil
}

// checkMove checks that e can be renamed or moved to dn: no other entry
// holds dn (a conflict) and its parent exists (else a permanent error).
func (c *Connector) checkMove(ctx context.Context, k *kind, e *ldap.Entry, dn string) error {
	if !sameDNFold(e.DN, dn) { // a change of case only renames e onto itself
		_, err := c.readDN(ctx, dn, []string{"1.1"})
		if err == nil {
			return c.conflictAt(ctx, k, dn, nil)
		}
		if !errors.Is(err, targets.ErrNotFound) {
			return err
		}
	}
	_, parent, _ := cutRDN(dn)
	_, oldParent, _ := cutRDN(e.DN)
	if sameDNFold(oldParent, parent) {
		return nil
	}
	_, err := c.readDN(ctx, parent, []string{"1.1"})
	if errors.Is(err, targets.ErrNotFound) {
		return targets.Permanent(fmt.Errorf("ldaptarget: move %s to %s: the new parent entry does not exist", e.DN, dn))
	}
	return err
}

// move renames or moves e to dn (ModifyDN, the old RDN value removed) and
// fixes the memberships that name it; attrs are e's changes.
func (c *Connector) move(ctx context.Context, k *kind, e *ldap.Entry, dn string, attrs map[string]any) error {
	rdn, parent, _ := cutRDN(dn)
	_, oldParent, _ := cutRDN(e.DN)
	newSup := ""
	if !sameDNFold(oldParent, parent) {
		newSup = parent
	}
	err := c.pool.do(ctx, func(conn *ldap.Conn) error {
		return conn.ModifyDN(ldap.NewModifyDNRequest(e.DN, rdn, true, newSup))
	})
	if ldap.IsErrorWithCode(err, ldap.LDAPResultEntryAlreadyExists) {
		return c.conflictAt(ctx, k, dn, err)
	}
	if err != nil {
		return classify("rename "+e.DN+" to "+dn, err)
	}
	if c.groups != nil { // users and nested groups
		return c.renameMember(ctx, e, dn, attrs)
	}
	return nil
}

// dnFor renders k's DN template from attrs over the values of e (nil for a
// new entry).
func (c *Connector) dnFor(k *kind, attrs map[string]any, e *ldap.Entry) (string, error) {
	var missing string
	dn := k.tmpl.render(func(name string) string {
		var vals []string
		if v, ok := lookup(attrs, name); ok {
			vals = c.encode(name, v)
		} else if e != nil {
			vals = e.GetEqualFoldAttributeValues(name)
		}
		if len(vals) != 1 {
			missing = name
			return ""
		}
		return EscapeDNValue(vals[0])
	})
	if missing != "" {
		return "", targets.Permanent(fmt.Errorf("ldaptarget: %s.dn_template %s: attribute %q must have exactly one value", k.field, k.tmpl.src, missing))
	}
	return dn, nil
}

// Delete removes the entry, after removing a user from its groups.
func (c *Connector) Delete(ctx context.Context, op targets.Op) error {
	k, err := c.checkOp(op, "Delete")
	if err != nil {
		return err
	}
	e, err := c.find(ctx, k, op.Anchor)
	if errors.Is(err, targets.ErrNotFound) {
		return nil // Contract: deleting a missing object succeeds.
	}
	if err != nil {
		return err
	}
	if c.groups != nil { // users and nested groups
		if err := c.dropMember(ctx, e); err != nil {
			return err
		}
	}
	err = c.pool.do(ctx, func(conn *ldap.Conn) error { return conn.Del(ldap.NewDelRequest(e.DN, nil)) })
	if err == nil || ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
		return nil
	}
	return classify("delete "+e.DN, err)
}

// Disable disables the user as the disable method says.
func (c *Connector) Disable(ctx context.Context, op targets.Op) error {
	return c.setDisabled(ctx, op, "Disable", true)
}

// Enable enables the user.
func (c *Connector) Enable(ctx context.Context, op targets.Op) error {
	return c.setDisabled(ctx, op, "Enable", false)
}

func (c *Connector) setDisabled(ctx context.Context, op targets.Op, method string, disabled bool) error {
	k, err := c.checkOp(op, method)
	if err != nil {
		return err
	}
	if k != c.users || c.cfg.Disable == nil {
		return unsupported(method, "disable of "+string(op.Kind)+"s")
	}
	e, err := c.find(ctx, k, op.Anchor)
	if err != nil {
		return err
	}
	if c.disabled(k, e) == disabled {
		return nil // Contract: set semantics.
	}
	d := c.cfg.Disable
	req := ldap.NewModifyRequest(e.DN, nil)
	switch d.Method {
	case DisablePPolicy:
		if disabled {
			req.Replace("pwdAccountLockedTime", []string{lockedForever})
		} else {
			req.Replace("pwdAccountLockedTime", nil)
		}
	case DisableAD:
		uac, err := adSetDisabled(e.GetAttributeValue("userAccountControl"), disabled)
		if err != nil {
			return targets.Permanent(fmt.Errorf("ldaptarget: %s %s: %w", method, e.DN, err))
		}
		req.Replace("userAccountControl", []string{uac})
	case DisableAttribute:
		v := d.EnabledValue
		if disabled {
			v = d.DisabledValue
		}
		req.Replace(d.Attribute, c.encode(d.Attribute, v))
	case DisableOU:
		dn, err := c.targetDN(k, e, nil, disabled)
		if err != nil {
			return err
		}
		if err := c.checkMove(ctx, k, e, dn); err != nil {
			return err
		}
		return c.move(ctx, k, e, dn, nil)
	}
	return c.modify(ctx, req)
}

// adSetDisabled returns userAccountControl uac with ACCOUNTDISABLE set or
// cleared; an absent value is a normal account.
func adSetDisabled(uac string, disabled bool) (string, error) {
	v := int64(adNormalAccount)
	if uac != "" {
		n, err := strconv.ParseInt(uac, 10, 64)
		if err != nil {
			return "", fmt.Errorf("userAccountControl %q is not a number", uac)
		}
		v = n
	}
	if disabled {
		v |= adAccountDisable
	} else {
		v &^= adAccountDisable
	}
	return strconv.FormatInt(v, 10), nil
}

// disabled reports whether e is disabled by the disable method.
func (c *Connector) disabled(k *kind, e *ldap.Entry) bool {
	d := c.cfg.Disable
	if d == nil || k != c.users {
		return false
	}
	switch d.Method {
	case DisablePPolicy:
		return e.GetAttributeValue("pwdAccountLockedTime") != ""
	case DisableAD:
		n, _ := strconv.ParseInt(e.GetAttributeValue("userAccountControl"), 10, 64)
		return n&adAccountDisable != 0
	case DisableAttribute:
		return slices.Contains(e.GetEqualFoldAttributeValues(d.Attribute), d.DisabledValue)
	case DisableOU:
		return c.disabledByOU(k, e)
	}
	return false
}

// disabledByOU reports whether e is in the OU of disabled users.
func (c *Connector) disabledByOU(k *kind, e *ldap.Entry) bool {
	d := c.cfg.Disable
	if d == nil || d.Method != DisableOU || k != c.users {
		return false
	}
	_, parent, _ := cutRDN(e.DN)
	return sameDNFold(parent, d.DN)
}

// memberBatch bounds the member values of one modify request, and
// searchBatch the members of one search that resolves them (anchors to
// values, values to anchors), so that a group of any size is written and
// read in requests of bounded size: neither one request per member nor the
// whole list at once. A search is an OR of its members, which the
// directory tests against each entry it finds, so that a search costs
// about its batch squared; 200 was the fastest on slapd (5,000 members:
// 0.23 s against 0.76 s in searches of 1,000, 0.28 s in searches of 100).
const (
	memberBatch = 1000
	searchBatch = 200
)

// AddMembers adds the members, all of which must exist, to the group.
func (c *Connector) AddMembers(ctx context.Context, op targets.Op) error {
	return c.members(ctx, op, "AddMembers", true)
}

// RemoveMembers removes the members from the group; absent ones are ignored.
func (c *Connector) RemoveMembers(ctx context.Context, op targets.Op) error {
	return c.members(ctx, op, "RemoveMembers", false)
}

// members resolves the members' anchors to member values, searchBatch at
// a time, then writes them (writeMembers). An AddMembers with a member
// that does not exist changes nothing.
func (c *Connector) members(ctx context.Context, op targets.Op, method string, add bool) error {
	k, err := c.checkOp(op, method)
	if err != nil {
		return err
	}
	if k != c.groups {
		return unsupported(method, "members of "+string(op.Kind)+"s")
	}
	g, err := c.findAttrs(ctx, k, op.Anchor, []string{"1.1"}) // the DN, not the members
	if err != nil {
		return err
	}
	if add && slices.Contains(op.Members, op.Anchor) {
		return targets.NotFound(fmt.Errorf("ldaptarget: AddMembers: a group cannot be its own member"))
	}
	values, missing, err := c.resolveMembers(ctx, op.Members)
	if err != nil {
		return err
	}
	if add && len(missing) > 0 {
		return targets.NotFound(fmt.Errorf("ldaptarget: AddMembers: %s of group %s %s", some("member", missing), g.DN, plural(len(missing), "does", "do")+" not exist"))
	}
	return c.writeMembers(ctx, g.DN, values, add)
}

// some names the first few of the values, and how many there are besides.
func some(noun string, values []string) string {
	const shown = 10
	s := noun
	if len(values) > 1 {
		s += "s"
	}
	s += fmt.Sprintf(" %q", values[:min(len(values), shown)])
	if len(values) > shown {
		s += fmt.Sprintf(" and %d more", len(values)-shown)
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// resolveMembers returns the member values of the objects with the anchors
// (their DNs, or for posixGroup their uids), each once, and the anchors of
// the objects that do not exist. It searches searchBatch anchors at a time.
func (c *Connector) resolveMembers(ctx context.Context, anchors []string) (values, missing []string, err error) {
	posix := c.cfg.Groups.Style == StylePosixGroup
	filter, attrs := or(c.users.filter, c.groups.filter), []string{c.cfg.AnchorAttribute}
	if posix {
		filter, attrs = c.users.filter, []string{c.cfg.AnchorAttribute, c.cfg.Groups.MemberUIDAttribute}
	}
	anchors = slices.Compact(slices.Sorted(slices.Values(anchors)))
	found := make(map[string]string, len(anchors)) // anchor (lower case) → value
	for chunk := range slices.Chunk(anchors, searchBatch) {
		fs := make([]string, 0, len(chunk))
		for _, a := range chunk {
			if f, ok := c.anchorFilter(a); ok {
				fs = append(fs, f)
			}
		}
		if len(fs) == 0 {
			continue
		}
		es, err := c.search(ctx, c.cfg.BaseDN, and(filter, or(fs...)), attrs, 0)
		if err != nil {
			return nil, nil, err
		}
		for _, e := range es {
			v := e.DN
			if posix {
				if v = e.GetEqualFoldAttributeValue(c.cfg.Groups.MemberUIDAttribute); v == "" {
					return nil, nil, targets.Permanent(fmt.Errorf("ldaptarget: member %s has no %s for memberUid", e.DN, c.cfg.Groups.MemberUIDAttribute))
				}
			}
			found[c.anchorOf(e)] = v
		}
	}
	for _, a := range anchors {
		if v, ok := found[strings.ToLower(a)]; ok {
			values = append(values, v)
		} else {
			missing = append(missing, a)
		}
	}
	return values, missing, nil
}

// writeMembers adds (or removes) the member values to (from) the group at
// dn, memberBatch values per modify request, keeping the placeholder member
// exactly when the group has no other member. Values already present (or
// absent) are success: when the directory refuses a request for one of
// them, the group's member values are read once, and that request and the
// following ones send only the values that change. The requests are not
// one transaction: an interrupted call leaves some batches written, and
// its repetition completes it.
func (c *Connector) writeMembers(ctx context.Context, dn string, values []string, add bool) error {
	w := memberWriter{c: c, dn: dn, attr: c.memberAttr(), placeholder: c.cfg.Groups.PlaceholderMember}
	if w.placeholder != "" {
		w.placeholderKey = c.memberKey(w.placeholder)
	}
	seen := make(map[string]bool, len(values))
	values = slices.DeleteFunc(slices.Clone(values), func(v string) bool {
		k := c.memberKey(v)
		if seen[k] {
			return true
		}
		seen[k] = true
		return false
	})
	if len(values) == 0 {
		return nil
	}
	if add && w.placeholder != "" {
		var err error
		if w.hasPlaceholder, err = c.compare(ctx, dn, w.attr, w.placeholder); err != nil {
			return err
		}
	}
	for chunk := range slices.Chunk(values, memberBatch) {
		if err := w.write(ctx, chunk, add); err != nil {
			return err
		}
	}
	if add || w.placeholder == "" || w.current != nil || w.hasPlaceholder || c.cfg.Groups.needsMember() {
		return nil
	}
	// Removed without reading the group, whose object classes let it have
	// no member, so that the directory did not refuse the last removal:
	// look for a remaining value.
	if _, err := c.readDNFilter(ctx, dn, "("+w.attr+"=*)", []string{"1.1"}); !errors.Is(err, targets.ErrNotFound) {
		return err
	}
	req := ldap.NewModifyRequest(dn, nil)
	req.Add(w.attr, []string{w.placeholder})
	return c.modifyTolerant(ctx, req)
}

// memberWriter writes the member values of one group (writeMembers).
type memberWriter struct {
	c           *Connector
	dn, attr    string
	placeholder string
	// placeholderKey is the memberKey of the placeholder.
	placeholderKey string
	// hasPlaceholder: the group holds the placeholder.
	hasPlaceholder bool
	// current are the group's member values but the placeholder, by
	// memberKey; nil until the directory refused a request.
	current map[string]string
}

// maxRereads bounds the reads of the group's values for one batch: a
// group changed by another writer between the read and the request.
const maxRereads = 2

// write adds (or removes) one batch of distinct values.
func (w *memberWriter) write(ctx context.Context, values []string, add bool) error {
	for reads := 0; ; reads++ {
		change := values
		if w.current != nil {
			change = nil
			for _, v := range values {
				stored, present := w.current[w.c.memberKey(v)]
				switch {
				case add && !present:
					change = append(change, v)
				case !add && present:
					change = append(change, stored) // as the directory holds it
				}
			}
		}
		if len(change) == 0 {
			return nil
		}
		req := ldap.NewModifyRequest(w.dn, nil)
		addPlaceholder := false
		if add {
			req.Add(w.attr, change)
			if w.hasPlaceholder {
				req.Delete(w.attr, []string{w.placeholder})
			}
		} else {
			req.Delete(w.attr, change)
			// Only a read group tells that this batch empties it;
			// otherwise a directory that needs a member refuses the
			// request, and it is sent again after the read.
			addPlaceholder = w.placeholder != "" && w.current != nil && len(w.current) == len(change) && !w.hasPlaceholder
			if addPlaceholder {
				req.Add(w.attr, []string{w.placeholder})
			}
		}
		err := w.c.pool.do(ctx, func(conn *ldap.Conn) error { return conn.Modify(req) })
		if err == nil {
			w.hasPlaceholder = !add && (w.hasPlaceholder || addPlaceholder)
			for _, v := range change {
				if w.current == nil {
					break
				}
				if add {
					w.current[w.c.memberKey(v)] = v
				} else {
					delete(w.current, w.c.memberKey(v))
				}
			}
			return nil
		}
		if !w.refused(err, add) || ctx.Err() != nil {
			return classify("modify "+w.dn, err)
		}
		if reads == maxRereads {
			return targets.Transient(fmt.Errorf("ldaptarget: modify %s: the group's members changed while they were written: %w", w.dn, err))
		}
		if err := w.read(ctx); err != nil {
			return err
		}
	}
}

// refused reports whether the directory refused a request for a value
// already present (or absent), for the placeholder, or, before the group
// was read, because the request would leave a group that needs a member
// without one: the group is then read and the request sent again.
func (w *memberWriter) refused(err error, add bool) bool {
	if add {
		return ldap.IsErrorWithCode(err, ldap.LDAPResultAttributeOrValueExists) ||
			w.hasPlaceholder && ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchAttribute)
	}
	return ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchAttribute) ||
		w.placeholder != "" && w.current == nil && ldap.IsErrorWithCode(err, ldap.LDAPResultObjectClassViolation)
}

// read reads the group's member values.
func (w *memberWriter) read(ctx context.Context) error {
	e, err := w.c.readDN(ctx, w.dn, []string{w.attr})
	if err != nil {
		return err
	}
	vals := e.GetEqualFoldAttributeValues(w.attr)
	w.current, w.hasPlaceholder = make(map[string]string, len(vals)), false
	for _, v := range vals {
		k := w.c.memberKey(v)
		if w.placeholder != "" && k == w.placeholderKey {
			w.hasPlaceholder = true
			continue
		}
		w.current[k] = v
	}
	return nil
}

// compare reports whether the entry at dn holds the value of attr, as the
// attribute's matching rule compares.
func (c *Connector) compare(ctx context.Context, dn, attr, value string) (bool, error) {
	var ok bool
	err := c.pool.do(ctx, func(conn *ldap.Conn) (err error) {
		ok, err = conn.Compare(dn, attr, value)
		return err
	})
	if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchAttribute) {
		return false, nil
	}
	return ok, classify("compare "+dn, err)
}

// memberAttr is the group attribute that holds members.
func (c *Connector) memberAttr() string {
	switch c.cfg.Groups.Style {
	case StyleGroupOfUniqueNames:
		return "uniqueMember"
	case StylePosixGroup:
		return "memberUid"
	}
	return "member"
}

// memberKey is the comparison key of a member value: a normalised DN, or a
// uid compared without case.
func (c *Connector) memberKey(v string) string {
	if c.cfg.Groups.Style == StylePosixGroup {
		return strings.ToLower(v)
	}
	if dn, err := ldap.ParseDN(v); err == nil {
		return strings.ToLower(dn.String())
	}
	return strings.ToLower(v)
}

// renameMember replaces, in every group, the member value of e by its
// value after a rename or move to newDN with attrs.
func (c *Connector) renameMember(ctx context.Context, e *ldap.Entry, newDN string, attrs map[string]any) error {
	oldVal, newVal := e.DN, newDN
	if c.cfg.Groups.Style == StylePosixGroup {
		a := c.cfg.Groups.MemberUIDAttribute
		oldVal = e.GetEqualFoldAttributeValue(a)
		newVal = oldVal
		if v, ok := lookup(attrs, a); ok {
			if vals := c.encode(a, v); len(vals) == 1 {
				newVal = vals[0]
			}
		}
	}
	if oldVal == "" || oldVal == newVal {
		return nil
	}
	return c.eachGroupOf(ctx, oldVal, func(g *ldap.Entry) error {
		req := ldap.NewModifyRequest(g.DN, nil)
		req.Delete(c.memberAttr(), []string{oldVal})
		req.Add(c.memberAttr(), []string{newVal})
		return c.modifyTolerant(ctx, req)
	})
}

// dropMember removes e from every group.
func (c *Connector) dropMember(ctx context.Context, e *ldap.Entry) error {
	val := e.DN
	if c.cfg.Groups.Style == StylePosixGroup {
		val = e.GetEqualFoldAttributeValue(c.cfg.Groups.MemberUIDAttribute)
		if val == "" {
			return nil
		}
	}
	return c.eachGroupOf(ctx, val, func(g *ldap.Entry) error {
		return c.writeMembers(ctx, g.DN, []string{val}, false)
	})
}

// eachGroupOf calls fn for every group that has the member value val; the
// entries are read without attributes (their DNs), since a group's members
// may be many.
func (c *Connector) eachGroupOf(ctx context.Context, val string, fn func(*ldap.Entry) error) error {
	gs, err := c.search(ctx, c.cfg.BaseDN, and(c.groups.filter, eq(c.memberAttr(), val)), []string{"1.1"}, 0)
	if err != nil {
		return err
	}
	for _, g := range gs {
		if err := fn(g); err != nil {
			return err
		}
	}
	return nil
}

// modifyTolerant is modify that ignores a value already present or absent
// (a directory that maintains memberships itself got there first).
func (c *Connector) modifyTolerant(ctx context.Context, req *ldap.ModifyRequest) error {
	err := c.modify(ctx, req)
	if ldap.IsErrorAnyOf(err, ldap.LDAPResultAttributeOrValueExists, ldap.LDAPResultNoSuchAttribute) {
		return nil
	}
	return err
}

// modify runs a modify request; a missing entry is ErrNotFound.
func (c *Connector) modify(ctx context.Context, req *ldap.ModifyRequest) error {
	err := c.pool.do(ctx, func(conn *ldap.Conn) error { return conn.Modify(req) })
	if err != nil {
		return classify("modify "+req.DN, err)
	}
	return nil
}

// Get returns the object of the kind with the anchor.
func (c *Connector) Get(ctx context.Context, k targets.Kind, anchor string) (targets.Object, error) {
	kc, err := c.kindOf(k, "Get")
	if err != nil {
		return targets.Object{}, err
	}
	e, err := c.find(ctx, kc, anchor)
	if err != nil {
		return targets.Object{}, err
	}
	return c.object(ctx, kc, e)
}

// List returns the next page of objects in anchor order after the cursor.
func (c *Connector) List(ctx context.Context, k targets.Kind, cursor string, limit int) (targets.Page, error) {
	kc, err := c.kindOf(k, "List")
	if err != nil {
		return targets.Page{}, err
	}
	after := ""
	if cursor != "" {
		a, ok := strings.CutPrefix(cursor, "a:")
		if _, valid := c.anchorFilter(a); !ok || !valid {
			return targets.Page{}, targets.Permanent(fmt.Errorf("ldaptarget: invalid cursor %q", cursor))
		}
		after = a
	}
	if limit <= 0 || limit > c.cfg.PageSize {
		limit = c.cfg.PageSize
	}
	es, err := c.search(ctx, c.cfg.BaseDN, kc.filter, []string{c.cfg.AnchorAttribute}, 0)
	if err != nil {
		return targets.Page{}, err
	}
	var anchors []string
	for _, e := range es {
		if a := c.anchorOf(e); a > after {
			anchors = append(anchors, a)
		}
	}
	slices.Sort(anchors)
	var page targets.Page
	if len(anchors) > limit {
		anchors = anchors[:limit]
		page.Next = "a:" + anchors[limit-1]
	}
	if len(anchors) == 0 {
		return page, nil
	}
	filters := make([]string, len(anchors))
	for i, a := range anchors {
		filters[i], _ = c.anchorFilter(a)
	}
	es, err = c.search(ctx, c.cfg.BaseDN, and(kc.filter, or(filters...)), c.readAttrs(kc), 0)
	if err != nil {
		return targets.Page{}, err
	}
	slices.SortFunc(es, func(a, b *ldap.Entry) int { return cmp.Compare(c.anchorOf(a), c.anchorOf(b)) })
	page.Objects = make([]targets.Object, 0, len(es))
	for _, e := range es {
		o, err := c.object(ctx, kc, e)
		if err != nil {
			return targets.Page{}, err
		}
		page.Objects = append(page.Objects, o)
	}
	return page, nil
}

// find returns the entry of the kind with the anchor, or ErrNotFound.
func (c *Connector) find(ctx context.Context, k *kind, anchor string) (*ldap.Entry, error) {
	return c.findAttrs(ctx, k, anchor, c.readAttrs(k))
}

// findAttrs is find reading only the attributes attrs.
func (c *Connector) findAttrs(ctx context.Context, k *kind, anchor string, attrs []string) (*ldap.Entry, error) {
	f, ok := c.anchorFilter(anchor)
	if !ok {
		return nil, targets.NotFound(fmt.Errorf("ldaptarget: no %s with anchor %q", k.kind, anchor))
	}
	es, err := c.search(ctx, c.cfg.BaseDN, and(k.filter, f), attrs, 2)
	switch {
	case err != nil:
		return nil, err
	case len(es) == 0:
		return nil, targets.NotFound(fmt.Errorf("ldaptarget: no %s with anchor %q", k.kind, anchor))
	case len(es) > 1:
		return nil, targets.Permanent(fmt.Errorf("ldaptarget: %d entries with anchor %q", len(es), anchor))
	}
	return es[0], nil
}

// readAttrs are the attributes read for an object of the kind.
func (c *Connector) readAttrs(k *kind) []string {
	attrs := []string{"*", c.cfg.AnchorAttribute}
	if k == c.users && c.cfg.Disable != nil && c.cfg.Disable.Method == DisablePPolicy {
		attrs = append(attrs, "pwdAccountLockedTime")
	}
	return attrs
}

// object converts an entry to an object: the attributes with their
// declared types, the disabled state, a group's members as anchors.
func (c *Connector) object(ctx context.Context, k *kind, e *ldap.Entry) (targets.Object, error) {
	o := targets.Object{Kind: k.kind, Anchor: c.anchorOf(e), Attrs: map[string]any{}, Disabled: c.disabled(k, e)}
	skip := map[string]bool{
		"objectclass":                            true,
		strings.ToLower(c.cfg.AnchorAttribute):   true,
		strings.ToLower(c.cfg.PasswordAttribute): true,
		"pwdaccountlockedtime":                   true,
	}
	if a := k.cfg.ObjectIDAttribute; a != "" {
		skip[strings.ToLower(a)] = true
		o.ObjectID = e.GetEqualFoldAttributeValue(a)
	}
	if d := c.cfg.Disable; d != nil && k == c.users {
		switch d.Method {
		case DisableAD:
			skip["useraccountcontrol"] = true
		case DisableAttribute:
			skip[strings.ToLower(d.Attribute)] = true
		}
	}
	var members []string
	if k == c.groups {
		skip[strings.ToLower(c.memberAttr())] = true
		members = e.GetEqualFoldAttributeValues(c.memberAttr())
	}
	for _, a := range e.Attributes {
		if skip[strings.ToLower(a.Name)] || len(a.Values) == 0 {
			continue
		}
		o.Attrs[a.Name] = c.decode(a.Name, a.Values)
	}
	if len(members) == 0 {
		return o, nil
	}
	anchors, err := c.memberAnchors(ctx, members)
	if err != nil {
		return targets.Object{}, err
	}
	seen := make(map[string]bool, len(anchors))
	for _, a := range anchors {
		if a != "" && !seen[a] {
			seen[a] = true
			o.Members = append(o.Members, a)
		}
	}
	return o, nil
}

// memberAnchors returns the anchor of each member value, "" for the
// placeholder and for a value without an entry (or, for memberUid, with
// several). The values are searched searchBatch at a time: uids among the
// users, DNs by the attributes of their first RDN under base_dn, each
// entry found then matched to a value by its whole DN. A value not found
// so (an entry outside base_dn, a DN written differently) is read on its
// own.
func (c *Connector) memberAnchors(ctx context.Context, values []string) ([]string, error) {
	posix := c.cfg.Groups.Style == StylePosixGroup
	uidAttr := c.cfg.Groups.MemberUIDAttribute
	keys := make([]string, len(values))
	for i, v := range values {
		keys[i] = c.memberKey(v)
	}
	skip := ""
	if p := c.cfg.Groups.PlaceholderMember; p != "" {
		skip = c.memberKey(p)
	}
	found := make(map[string]string, len(values)) // memberKey → anchor
	for i := 0; i < len(values); i += searchBatch {
		fs := make([]string, 0, searchBatch)
		for j, v := range values[i:min(i+searchBatch, len(values))] {
			switch {
			case keys[i+j] == skip:
			case posix:
				fs = append(fs, eq(uidAttr, v))
			default:
				if f, ok := rdnFilter(v); ok {
					fs = append(fs, f)
				}
			}
		}
		if len(fs) == 0 {
			continue
		}
		filter, attrs := or(fs...), []string{c.cfg.AnchorAttribute}
		if posix {
			filter, attrs = and(c.users.filter, filter), []string{c.cfg.AnchorAttribute, uidAttr}
		}
		es, err := c.search(ctx, c.cfg.BaseDN, filter, attrs, 0)
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			if !posix {
				found[c.memberKey(e.DN)] = c.anchorOf(e)
				continue
			}
			for _, uid := range e.GetEqualFoldAttributeValues(uidAttr) {
				k := c.memberKey(uid)
				if a, dup := found[k]; dup && a != c.anchorOf(e) {
					found[k] = "" // several users have the uid
				} else {
					found[k] = c.anchorOf(e)
				}
			}
		}
	}
	anchors := make([]string, len(values))
	for i, k := range keys {
		if k == skip {
			continue
		}
		a, ok := found[k]
		if !ok {
			var err error
			if a, err = c.memberAnchor(ctx, values[i]); err != nil {
				return nil, err
			}
			found[k] = a
		}
		anchors[i] = a
	}
	return anchors, nil
}

// rdnFilter returns the filter matching the first RDN of dn; false when dn
// is not a DN with attribute names a filter can hold.
func rdnFilter(dn string) (string, bool) {
	d, err := ldap.ParseDN(dn)
	if err != nil || len(d.RDNs) == 0 || len(d.RDNs[0].Attributes) == 0 {
		return "", false
	}
	var fs []string
	for _, a := range d.RDNs[0].Attributes {
		if !attrName(a.Type) {
			return "", false
		}
		fs = append(fs, eq(a.Type, a.Value))
	}
	if len(fs) == 1 {
		return fs[0], true
	}
	return and(fs...), true
}

// memberAnchor returns the anchor of a member value, "" for a member that
// does not exist.
func (c *Connector) memberAnchor(ctx context.Context, v string) (string, error) {
	if c.cfg.Groups.Style == StylePosixGroup {
		es, err := c.search(ctx, c.cfg.BaseDN, and(c.users.filter, eq(c.cfg.Groups.MemberUIDAttribute, v)), []string{c.cfg.AnchorAttribute}, 2)
		if err != nil || len(es) != 1 {
			return "", err
		}
		return c.anchorOf(es[0]), nil
	}
	e, err := c.readDN(ctx, v, []string{c.cfg.AnchorAttribute})
	if errors.Is(err, targets.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return c.anchorOf(e), nil
}

// anchorOf returns the anchor of an entry: entryUUID, or objectGUID as hex.
func (c *Connector) anchorOf(e *ldap.Entry) string {
	if c.binaryAnchor {
		return hex.EncodeToString(e.GetEqualFoldRawAttributeValue(c.cfg.AnchorAttribute))
	}
	return strings.ToLower(e.GetEqualFoldAttributeValue(c.cfg.AnchorAttribute))
}

// anchorFilter returns the filter matching an anchor; false when the
// anchor cannot be one (so nothing has it).
func (c *Connector) anchorFilter(anchor string) (string, bool) {
	if anchor == "" {
		return "", false
	}
	if c.binaryAnchor {
		b, err := hex.DecodeString(anchor)
		if err != nil || len(b) != 16 {
			return "", false
		}
		return "(" + c.cfg.AnchorAttribute + "=" + escapeBinaryFilter(b) + ")", true
	}
	for _, r := range anchor {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r == '-') {
			return "", false
		}
	}
	return eq(c.cfg.AnchorAttribute, anchor), true
}

// readDN reads one entry by DN; ErrNotFound when it does not exist.
func (c *Connector) readDN(ctx context.Context, dn string, attrs []string) (*ldap.Entry, error) {
	return c.readDNFilter(ctx, dn, "(objectClass=*)", attrs)
}

// readDNFilter reads the entry at dn if it matches filter; ErrNotFound
// when there is none.
func (c *Connector) readDNFilter(ctx context.Context, dn, filter string, attrs []string) (*ldap.Entry, error) {
	var res *ldap.SearchResult
	err := c.pool.do(ctx, func(conn *ldap.Conn) (err error) {
		res, err = conn.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false,
			filter, attrs, nil))
		return err
	})
	switch {
	case ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject):
		return nil, targets.NotFound(fmt.Errorf("ldaptarget: %s does not exist", dn))
	case err != nil:
		return nil, classify("read "+dn, err)
	case len(res.Entries) == 0:
		return nil, targets.NotFound(fmt.Errorf("ldaptarget: %s does not exist", dn))
	}
	return res.Entries[0], nil
}

// search runs a subtree search with paging (RFC 2696) and returns every
// entry; max > 0 stops after that many (a size limit).
func (c *Connector) search(ctx context.Context, base, filter string, attrs []string, max int) ([]*ldap.Entry, error) {
	var res *ldap.SearchResult
	err := c.pool.do(ctx, func(conn *ldap.Conn) (err error) {
		req := ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, max, 0, false, filter, attrs, nil)
		if max > 0 {
			res, err = conn.Search(req)
			if ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
				err = nil
			}
			return err
		}
		res, err = conn.SearchWithPaging(req, uint32(c.cfg.PageSize))
		return err
	})
	if err != nil {
		return nil, classify("search "+base+" "+filter, err)
	}
	return res.Entries, nil
}

// encode returns the LDAP values of an attribute value: nil (clear) for
// nil, "" and an empty []string.
func (c *Connector) encode(name string, v any) []string {
	var s string
	switch v := v.(type) {
	case nil:
		return nil
	case []string:
		out := make([]string, 0, len(v))
		for _, x := range v {
			if x != "" {
				out = append(out, x)
			}
		}
		return out
	case string:
		s = v
	case bool:
		s = "FALSE"
		if v {
			s = "TRUE"
		}
	case int64:
		s = strconv.FormatInt(v, 10)
	case float64:
		s = strconv.FormatFloat(v, 'g', -1, 64)
	}
	if s == "" {
		return nil
	}
	if strings.EqualFold(name, c.cfg.PasswordAttribute) && strings.EqualFold(name, "unicodePwd") {
		s = adPassword(s)
	}
	return []string{s}
}

// decode returns the typed value of an attribute's values.
func (c *Connector) decode(name string, vals []string) any {
	typ := c.types[strings.ToLower(name)]
	if typ == TypeStrings || len(vals) > 1 {
		return slices.Clone(vals)
	}
	v := vals[0]
	switch typ {
	case TypeInteger:
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return n
		}
	case TypeFloat:
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			return f
		}
	case TypeBoolean:
		switch strings.ToUpper(v) {
		case "TRUE":
			return true
		case "FALSE":
			return false
		}
	}
	return v
}

// adPassword encodes a password for Active Directory's unicodePwd: the
// quoted password in UTF-16LE.
func adPassword(p string) string {
	u := utf16.Encode([]rune(`"` + p + `"`))
	b := make([]byte, 2*len(u))
	for i, r := range u {
		binary.LittleEndian.PutUint16(b[2*i:], r)
	}
	return string(b)
}

// classify classifies an LDAP error for the engine, naming the request.
func classify(what string, err error) error {
	if err == nil {
		return nil
	}
	if targets.Class(err) != targets.ErrTransient || errors.Is(err, targets.ErrTransient) {
		return err // already classified
	}
	wrapped := fmt.Errorf("ldaptarget: %s: %w", what, err)
	var le *ldap.Error
	if !errors.As(err, &le) {
		return targets.Transient(wrapped)
	}
	// Other (80) is what slapd answers for what its database cannot hold
	// (a value too long for an index key, a full map): retrying the same
	// operation cannot help, so it is permanent like the other codes not
	// listed as transient below.
	switch le.ResultCode {
	case ldap.LDAPResultEntryAlreadyExists:
		return &targets.ConflictError{Err: wrapped}
	case ldap.LDAPResultNoSuchObject:
		return targets.NotFound(wrapped)
	case ldap.LDAPResultBusy, ldap.LDAPResultUnavailable, ldap.LDAPResultServerDown, ldap.LDAPResultConnectError,
		ldap.LDAPResultTimeout, ldap.LDAPResultTimeLimitExceeded, ldap.LDAPResultAdminLimitExceeded,
		ldap.LDAPResultLoopDetect, ldap.ErrorNetwork, ldap.LDAPResultLocalError:
		return targets.Transient(wrapped)
	}
	return targets.Permanent(wrapped)
}

func unsupported(method, what string) error {
	return targets.Permanent(fmt.Errorf("ldaptarget: %s: %s: %w", method, what, errors.ErrUnsupported))
}

// eq returns the filter (attr=value) with value escaped per RFC 4515.
func eq(attr, value string) string { return "(" + attr + "=" + EscapeFilterValue(value) + ")" }

// and and or combine filters.
func and(fs ...string) string { return "(&" + strings.Join(fs, "") + ")" }
func or(fs ...string) string  { return "(|" + strings.Join(fs, "") + ")" }

// lookup returns attrs' value of name, matched without case.
func lookup(attrs map[string]any, name string) (any, bool) {
	if v, ok := attrs[name]; ok {
		return v, true
	}
	for k, v := range attrs {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return nil, false
}
