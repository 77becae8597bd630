package ldaptarget

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	ldap "github.com/go-ldap/ldap/v3"

	"github.com/scimgate/scimgate/targets"
)

// Config is the configuration of an LDAP target:
//
//	config:
//	  url: ldap://ldap.example.org:389        # ldap:// or ldaps://
//	  bind_dn: cn=scimgate,dc=example,dc=org
//	  bind_password_env: LDAP_BIND_PASSWORD    # or bind_password_file
//	  tls: {ca_file: /etc/ssl/ldap-ca.pem, start_tls: true}
//	  base_dn: dc=example,dc=org
//	  users:
//	    dn_template: uid={uid},ou=people,dc=example,dc=org
//	    object_classes: [top, person, organizationalPerson, inetOrgPerson]
//	  groups:
//	    style: groupOfNames
//	    dn_template: cn={cn},ou=groups,dc=example,dc=org
//	    placeholder_member: cn=nobody,dc=example,dc=org
//	  disable: {method: ppolicy}
//
// The attribute names of the target's mapping are LDAP attribute names. The
// connector always provides lookup by attribute (matching existing
// entries): an equality search under base_dn, compared with the
// attribute's matching rule; the attribute must be a type of the
// directory's schema, and not one the connector keeps itself (the anchor,
// object id, password, disable and member attributes).
type Config struct {
	// URL of the directory: ldap://host[:port] or ldaps://host[:port].
	URL string `yaml:"url"`
	// BindDN is the DN of the account the connector binds as (simple bind).
	BindDN string `yaml:"bind_dn"`
	// BindPasswordEnv names the environment variable holding the bind
	// password; BindPasswordFile names a file holding it (a trailing newline
	// is ignored). Exactly one is required.
	BindPasswordEnv  string `yaml:"bind_password_env"`
	BindPasswordFile string `yaml:"bind_password_file"`
	// TLS configures ldaps:// and StartTLS.
	TLS TLSConfig `yaml:"tls"`
	// PoolSize is the number of long-lived bound connections (default 8).
	PoolSize int `yaml:"pool_size"`
	// DialTimeout bounds connecting, the TLS handshake and the bind
	// (default 10s); Timeout bounds every request (default 30s). The
	// context of each call bounds them as well.
	DialTimeout time.Duration `yaml:"dial_timeout"`
	Timeout     time.Duration `yaml:"timeout"`
	// PageSize is the page size of the paged searches (RFC 2696) that
	// reads use (default 500).
	PageSize int `yaml:"page_size"`
	// BaseDN is where the connector searches for its users and groups;
	// every template and the disabled OU must be under it.
	BaseDN string `yaml:"base_dn"`
	// AnchorAttribute is the immutable identifier used as the anchor:
	// entryUUID (default; OpenLDAP, 389 DS with entryUUID plug-in) or
	// objectGUID (Active Directory, binary, anchored as hex).
	AnchorAttribute string `yaml:"anchor_attribute"`
	// PasswordAttribute is the mapping target that holds the initial
	// password (default userPassword; unicodePwd for Active Directory, which
	// the connector encodes as AD requires). It is written, never read
	// back, never logged.
	PasswordAttribute string `yaml:"password_attribute"`
	// AttributeTypes declares the type of attributes whose values are not
	// single strings, so that they round-trip with their types: string,
	// integer, float, boolean or strings (multi-valued). Others read back as
	// a string, or as []string when they hold several values.
	AttributeTypes map[string]string `yaml:"attribute_types"`
	// Users configures user entries.
	Users KindConfig `yaml:"users"`
	// Groups configures group entries; absent: no groups capability.
	Groups *GroupsConfig `yaml:"groups"`
	// Disable configures disable and enable; absent: no disable capability.
	Disable *DisableConfig `yaml:"disable"`
}

// TLSConfig is the TLS configuration of the connection: the tls keys
// every connector has (targets.TLSConfig: ca_file, cert_file, key_file,
// server_name, insecure_skip_verify), and start_tls.
type TLSConfig struct {
	targets.TLSConfig `yaml:",inline"`
	// StartTLS upgrades an ldap:// connection with StartTLS before the bind.
	StartTLS bool `yaml:"start_tls"`
}

// KindConfig configures the entries of one kind.
type KindConfig struct {
	// DNTemplate builds an entry's DN from its attributes: each {attr} is
	// replaced by the value of attr escaped per RFC 4514, e.g.
	// uid={uid},ou=people,dc=example,dc=org. A change of a value it uses
	// renames or moves the entry (ModifyDN).
	DNTemplate string `yaml:"dn_template"`
	// ObjectClasses of new entries. Default: inetOrgPerson and its
	// superclasses for users, the style's class for groups.
	ObjectClasses []string `yaml:"object_classes"`
	// Filter selects the entries of the kind under base_dn. Default:
	// (objectClass=<last of object_classes>).
	Filter string `yaml:"filter"`
	// ObjectIDAttribute, when set, is an attribute where the connector
	// records the gateway's object id (e.g. employeeType, or an attribute of
	// your own schema); Create then also finds an existing entry by it.
	// Without it, a repeated Create is found by its DN.
	ObjectIDAttribute string `yaml:"object_id_attribute"`
}

// GroupsConfig configures group entries and their membership.
type GroupsConfig struct {
	KindConfig `yaml:",inline"`
	// Style is groupOfNames (member: DNs, the default), groupOfUniqueNames
	// (uniqueMember: DNs) or posixGroup (memberUid: the users' uids).
	Style string `yaml:"style"`
	// PlaceholderMember is the DN kept as the only member of a group that
	// has none, for object classes that require a member (groupOfNames,
	// groupOfUniqueNames); it is never reported as a member. Required with
	// those classes, since Entra creates groups empty.
	PlaceholderMember string `yaml:"placeholder_member"`
	// MemberUIDAttribute is the user attribute whose value posixGroup's
	// memberUid holds (default uid).
	MemberUIDAttribute string `yaml:"member_uid_attribute"`
}

// needsMember reports whether the groups' object classes require a
// member (groupOfNames, groupOfUniqueNames): the directory then refuses a
// change that leaves a group without one.
func (g *GroupsConfig) needsMember() bool {
	return slices.ContainsFunc(g.ObjectClasses, func(oc string) bool {
		return strings.EqualFold(oc, StyleGroupOfNames) || strings.EqualFold(oc, StyleGroupOfUniqueNames)
	})
}

// DisableConfig configures how a user is disabled.
type DisableConfig struct {
	// Method is ppolicy (OpenLDAP: pwdAccountLockedTime), ad (Active
	// Directory: userAccountControl ACCOUNTDISABLE bit), attribute
	// (Attribute set to DisabledValue) or ou (the entry is moved to DN).
	Method string `yaml:"method"`
	// Attribute, DisabledValue and EnabledValue configure the attribute
	// method; an empty EnabledValue removes the attribute on Enable.
	Attribute     string `yaml:"attribute"`
	DisabledValue string `yaml:"disabled_value"`
	EnabledValue  string `yaml:"enabled_value"`
	// DN is the OU of disabled users for the ou method.
	DN string `yaml:"dn"`
}

// The group styles.
const (
	StyleGroupOfNames       = "groupOfNames"
	StyleGroupOfUniqueNames = "groupOfUniqueNames"
	StylePosixGroup         = "posixGroup"
)

// The disable methods.
const (
	DisablePPolicy   = "ppolicy"
	DisableAD        = "ad"
	DisableAttribute = "attribute"
	DisableOU        = "ou"
)

// The attribute types of AttributeTypes.
const (
	TypeString  = "string"
	TypeInteger = "integer"
	TypeFloat   = "float"
	TypeBoolean = "boolean"
	TypeStrings = "strings"
)

// withDefaults returns a copy of c with the unset fields filled in; c is
// not changed.
func (c *Config) withDefaults() *Config {
	d := *c
	if len(d.Users.ObjectClasses) == 0 {
		d.Users.ObjectClasses = []string{"top", "person", "organizationalPerson", "inetOrgPerson"}
	}
	if c.Groups != nil {
		g := *c.Groups
		d.Groups = &g
		if g.Style == "" {
			g.Style = StyleGroupOfNames
		}
		if len(g.ObjectClasses) == 0 {
			g.ObjectClasses = []string{g.Style}
		}
		if g.MemberUIDAttribute == "" {
			g.MemberUIDAttribute = "uid"
		}
	}
	d.PoolSize = cmp.Or(d.PoolSize, 8)
	d.DialTimeout = cmp.Or(d.DialTimeout, 10*time.Second)
	d.Timeout = cmp.Or(d.Timeout, 30*time.Second)
	d.PageSize = cmp.Or(d.PageSize, 500)
	d.AnchorAttribute = cmp.Or(d.AnchorAttribute, "entryUUID")
	d.PasswordAttribute = cmp.Or(d.PasswordAttribute, "userPassword")
	return &d
}

// Validate checks the configuration with its defaults, reporting every
// invalid field. It does not connect, reads neither the password nor
// the TLS files, and changes nothing.
func (c *Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	fail := func(field, format string, args ...any) {
		errs = append(errs, targets.FieldError(field, format, args...))
	}
	u, err := url.Parse(c.URL)
	switch {
	case c.URL == "":
		fail("url", "required (ldap://host:port or ldaps://host:port)")
	case err != nil:
		fail("url", "invalid URL: %v", err)
	case u.Scheme != "ldap" && u.Scheme != "ldaps":
		fail("url", "scheme %q: want ldap or ldaps", u.Scheme)
	case u.Host == "":
		fail("url", "no host")
	case u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.User != nil:
		fail("url", "only scheme://host[:port] (set base_dn and bind_dn separately)")
	case u.Scheme == "ldaps" && c.TLS.StartTLS:
		fail("tls.start_tls", "not with an ldaps:// URL (already TLS)")
	}
	if c.BindDN == "" {
		fail("bind_dn", "required")
	} else if _, err := ldap.ParseDN(c.BindDN); err != nil {
		fail("bind_dn", "invalid DN: %v", err)
	}
	if (c.BindPasswordEnv == "") == (c.BindPasswordFile == "") {
		fail("bind_password_env", "set exactly one of bind_password_env and bind_password_file")
	}
	if err := c.TLS.ValidateClient(); err != nil {
		errs = append(errs, err)
	}
	for _, d := range []struct {
		field string
		v     int
	}{{"pool_size", c.PoolSize}, {"page_size", c.PageSize}} {
		if d.v < 1 || d.v > 10000 {
			fail(d.field, "must be between 1 and 10000, not %d", d.v)
		}
	}
	if c.DialTimeout < 0 {
		fail("dial_timeout", "must not be negative")
	}
	if c.Timeout < 0 {
		fail("timeout", "must not be negative")
	}
	base, err := ldap.ParseDN(c.BaseDN)
	if c.BaseDN == "" || err != nil || len(base.RDNs) == 0 {
		fail("base_dn", "required: a valid DN (%v)", err)
		base = nil // the DNs that must be under it are not checked for that
	}
	switch c.AnchorAttribute {
	case "entryUUID", "objectGUID":
	default:
		fail("anchor_attribute", "%q: want entryUUID or objectGUID", c.AnchorAttribute)
	}
	if !attrName(c.PasswordAttribute) {
		fail("password_attribute", "invalid attribute name %q", c.PasswordAttribute)
	}
	for _, name := range slices.Sorted(maps.Keys(c.AttributeTypes)) {
		if !attrName(name) {
			fail("attribute_types", "invalid attribute name %q", name)
			continue
		}
		switch typ := c.AttributeTypes[name]; typ {
		case TypeString, TypeInteger, TypeFloat, TypeBoolean, TypeStrings:
		default:
			fail("attribute_types."+name, "type %q: want string, integer, float, boolean or strings", typ)
		}
	}
	c.Users.validate("users", base, fail)
	if g := c.Groups; g != nil {
		g.validate("groups", base, fail)
		switch g.Style {
		case StyleGroupOfNames, StyleGroupOfUniqueNames:
			if g.needsMember() && g.PlaceholderMember == "" {
				fail("groups.placeholder_member", "required with object class %s, which needs at least one member (Entra creates groups empty)", g.Style)
			}
			if g.PlaceholderMember != "" {
				if _, err := ldap.ParseDN(g.PlaceholderMember); err != nil {
					fail("groups.placeholder_member", "invalid DN: %v", err)
				}
			}
		case StylePosixGroup:
			if g.PlaceholderMember != "" {
				fail("groups.placeholder_member", "not used with posixGroup (memberUid may be empty)")
			}
			if !attrName(g.MemberUIDAttribute) {
				fail("groups.member_uid_attribute", "invalid attribute name %q", g.MemberUIDAttribute)
			}
		default:
			fail("groups.style", "%q: want groupOfNames, groupOfUniqueNames or posixGroup", g.Style)
		}
	}
	if d := c.Disable; d != nil {
		switch d.Method {
		case DisablePPolicy, DisableAD:
		case DisableAttribute:
			if !attrName(d.Attribute) {
				fail("disable.attribute", "required with method attribute: an attribute name")
			}
			if d.DisabledValue == "" || d.DisabledValue == d.EnabledValue {
				fail("disable.disabled_value", "required, and different from enabled_value")
			}
		case DisableOU:
			dn, err := ldap.ParseDN(d.DN)
			switch {
			case d.DN == "" || err != nil:
				fail("disable.dn", "required with method ou: the DN of the OU of disabled users (%v)", err)
			case base != nil && !base.AncestorOfFold(dn):
				fail("disable.dn", "%q is not under base_dn %q", d.DN, c.BaseDN)
			}
		default:
			fail("disable.method", "%q: want ppolicy, ad, attribute or ou", d.Method)
		}
	}
	return errors.Join(errs...)
}

// validate checks the configuration of one kind; base is nil when
// base_dn is invalid.
func (k *KindConfig) validate(field string, base *ldap.DN, fail func(field, format string, args ...any)) {
	if t, err := parseTemplate(k.DNTemplate); err != nil {
		fail(field+".dn_template", "%v", err)
	} else if dn, _ := ldap.ParseDN(t.render(func(string) string { return "x" })); base != nil && !base.AncestorOfFold(dn) {
		fail(field+".dn_template", "%q is not under base_dn", k.DNTemplate)
	}
	for _, oc := range k.ObjectClasses {
		if !attrName(oc) {
			fail(field+".object_classes", "invalid object class %q", oc)
		}
	}
	if k.Filter != "" {
		if _, err := ldap.CompileFilter(k.Filter); err != nil {
			fail(field+".filter", "invalid LDAP filter: %v", err)
		}
	}
	if k.ObjectIDAttribute != "" && !attrName(k.ObjectIDAttribute) {
		fail(field+".object_id_attribute", "invalid attribute name %q", k.ObjectIDAttribute)
	}
}

// attrName reports whether s is an attribute description: a name of
// letters, digits and hyphens starting with a letter, or a numeric OID.
func attrName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case (r >= '0' && r <= '9' || r == '-' || r == '.' || r == ';') && i > 0:
		case r >= '0' && r <= '9':
		default:
			return false
		}
	}
	return true
}

// Provides: groups when configured, disable when configured, lookup
// always.
func (c *Config) Provides() targets.Capabilities {
	return targets.Capabilities{Groups: c.Groups != nil, Disable: c.Disable != nil, Lookup: true}
}

// Open applies the defaults, reads the bind password and the TLS files,
// connects, binds, checks that the base entries exist and returns the
// connector.
func (c *Config) Open(ctx context.Context, _ targets.Env) (targets.Connector, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	c = c.withDefaults()
	password, err := c.password()
	if err != nil {
		return nil, err
	}
	tlsConf, err := c.tlsConfig()
	if err != nil {
		return nil, err
	}
	conn, err := newConnector(*c, password, tlsConf)
	if err != nil {
		return nil, err
	}
	if err := conn.checkBases(ctx); err != nil {
		conn.Close(context.Background())
		return nil, err
	}
	return conn, nil
}

// password reads the bind password. Its value never appears in an error.
func (c *Config) password() (string, error) {
	return targets.ReadSecret("bind_password", "", c.BindPasswordEnv, c.BindPasswordFile)
}

// tlsConfig builds the TLS configuration of ldaps:// and StartTLS.
func (c *Config) tlsConfig() (*tls.Config, error) {
	u, _ := url.Parse(c.URL)
	return c.TLS.Client(u.Hostname())
}

// errNoEntry is the error of a configured DN that does not exist.
var errNoEntry = errors.New("entry does not exist")

// checkBases checks that base_dn, the fixed parents of the templates and
// the disabled OU exist.
func (c *Connector) checkBases(ctx context.Context) error {
	check := func(field, dn string) error {
		_, err := c.readDN(ctx, dn, []string{"1.1"})
		switch {
		case errors.Is(err, targets.ErrNotFound):
			return targets.FieldError(field, "%s: %w", dn, errNoEntry)
		case err != nil:
			return fmt.Errorf("ldaptarget: check %s %s: %w", field, dn, err)
		}
		return nil
	}
	if err := check("base_dn", c.cfg.BaseDN); err != nil {
		return err
	}
	for _, k := range []*kind{c.users, c.groups} {
		if k == nil {
			continue
		}
		if parent, ok := k.tmpl.fixedParent(); ok {
			if err := check(k.field+".dn_template", parent); err != nil {
				return err
			}
		}
	}
	if d := c.cfg.Disable; d != nil && d.Method == DisableOU {
		return check("disable.dn", d.DN)
	}
	return nil
}
