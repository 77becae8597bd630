package ldaptarget

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
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

// TLSConfig is the TLS configuration of the connection.
type TLSConfig struct {
	// CAFile is a PEM file of CA certificates to trust instead of the
	// system's.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are an optional client certificate.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// StartTLS upgrades an ldap:// connection with StartTLS before the bind.
	StartTLS bool `yaml:"start_tls"`
	// ServerName overrides the name checked in the server's certificate.
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify disables the verification of the server's
	// certificate: for tests only.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
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

// defaults fills the unset fields.
func (c *Config) defaults() {
	if c.PoolSize == 0 {
		c.PoolSize = 8
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = 10 * time.Second
	}
	if c.Timeout == 0 {
		c.Timeout = 30 * time.Second
	}
	if c.PageSize == 0 {
		c.PageSize = 500
	}
	if c.AnchorAttribute == "" {
		c.AnchorAttribute = "entryUUID"
	}
	if c.PasswordAttribute == "" {
		c.PasswordAttribute = "userPassword"
	}
	if len(c.Users.ObjectClasses) == 0 {
		c.Users.ObjectClasses = []string{"top", "person", "organizationalPerson", "inetOrgPerson"}
	}
	if c.Groups != nil {
		g := c.Groups
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
}

// Validate fills in the defaults and checks the configuration; it does not
// connect or read the password.
func (c *Config) Validate() error {
	c.defaults()
	u, err := url.Parse(c.URL)
	switch {
	case c.URL == "":
		return targets.FieldError("url", "required (ldap://host:port or ldaps://host:port)")
	case err != nil:
		return targets.FieldError("url", "invalid URL: %v", err)
	case u.Scheme != "ldap" && u.Scheme != "ldaps":
		return targets.FieldError("url", "scheme %q: want ldap or ldaps", u.Scheme)
	case u.Host == "":
		return targets.FieldError("url", "no host")
	case u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.User != nil:
		return targets.FieldError("url", "only scheme://host[:port] (set base_dn and bind_dn separately)")
	case u.Scheme == "ldaps" && c.TLS.StartTLS:
		return targets.FieldError("tls.start_tls", "not with an ldaps:// URL (already TLS)")
	}
	if c.BindDN == "" {
		return targets.FieldError("bind_dn", "required")
	}
	if _, err := ldap.ParseDN(c.BindDN); err != nil {
		return targets.FieldError("bind_dn", "invalid DN: %v", err)
	}
	if (c.BindPasswordEnv == "") == (c.BindPasswordFile == "") {
		return targets.FieldError("bind_password_env", "set exactly one of bind_password_env and bind_password_file")
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		return targets.FieldError("tls.cert_file", "cert_file and key_file go together")
	}
	for _, d := range []struct {
		field string
		v     int
	}{{"pool_size", c.PoolSize}, {"page_size", c.PageSize}} {
		if d.v < 1 || d.v > 10000 {
			return targets.FieldError(d.field, "must be between 1 and 10000, not %d", d.v)
		}
	}
	if c.DialTimeout < 0 || c.Timeout < 0 {
		return targets.FieldError("timeout", "timeouts must not be negative")
	}
	base, err := ldap.ParseDN(c.BaseDN)
	if c.BaseDN == "" || err != nil || len(base.RDNs) == 0 {
		return targets.FieldError("base_dn", "required: a valid DN (%v)", err)
	}
	switch c.AnchorAttribute {
	case "entryUUID", "objectGUID":
	default:
		return targets.FieldError("anchor_attribute", "%q: want entryUUID or objectGUID", c.AnchorAttribute)
	}
	if !attrName(c.PasswordAttribute) {
		return targets.FieldError("password_attribute", "invalid attribute name %q", c.PasswordAttribute)
	}
	for name, typ := range c.AttributeTypes {
		if !attrName(name) {
			return targets.FieldError("attribute_types", "invalid attribute name %q", name)
		}
		switch typ {
		case TypeString, TypeInteger, TypeFloat, TypeBoolean, TypeStrings:
		default:
			return targets.FieldError("attribute_types."+name, "type %q: want string, integer, float, boolean or strings", typ)
		}
	}
	if err := c.Users.validate("users", base); err != nil {
		return err
	}
	if g := c.Groups; g != nil {
		if err := g.validate("groups", base); err != nil {
			return err
		}
		switch g.Style {
		case StyleGroupOfNames, StyleGroupOfUniqueNames:
			if g.needsMember() && g.PlaceholderMember == "" {
				return targets.FieldError("groups.placeholder_member", "required with object class %s, which needs at least one member (Entra creates groups empty)", g.Style)
			}
			if g.PlaceholderMember != "" {
				if _, err := ldap.ParseDN(g.PlaceholderMember); err != nil {
					return targets.FieldError("groups.placeholder_member", "invalid DN: %v", err)
				}
			}
		case StylePosixGroup:
			if g.PlaceholderMember != "" {
				return targets.FieldError("groups.placeholder_member", "not used with posixGroup (memberUid may be empty)")
			}
			if !attrName(g.MemberUIDAttribute) {
				return targets.FieldError("groups.member_uid_attribute", "invalid attribute name %q", g.MemberUIDAttribute)
			}
		default:
			return targets.FieldError("groups.style", "%q: want groupOfNames, groupOfUniqueNames or posixGroup", g.Style)
		}
	}
	if d := c.Disable; d != nil {
		switch d.Method {
		case DisablePPolicy, DisableAD:
		case DisableAttribute:
			if !attrName(d.Attribute) {
				return targets.FieldError("disable.attribute", "required with method attribute: an attribute name")
			}
			if d.DisabledValue == "" || d.DisabledValue == d.EnabledValue {
				return targets.FieldError("disable.disabled_value", "required, and different from enabled_value")
			}
		case DisableOU:
			dn, err := ldap.ParseDN(d.DN)
			if d.DN == "" || err != nil {
				return targets.FieldError("disable.dn", "required with method ou: the DN of the OU of disabled users (%v)", err)
			}
			if !base.AncestorOfFold(dn) {
				return targets.FieldError("disable.dn", "%q is not under base_dn %q", d.DN, c.BaseDN)
			}
		default:
			return targets.FieldError("disable.method", "%q: want ppolicy, ad, attribute or ou", d.Method)
		}
	}
	return nil
}

// validate checks the configuration of one kind.
func (k *KindConfig) validate(field string, base *ldap.DN) error {
	t, err := parseTemplate(k.DNTemplate)
	if err != nil {
		return targets.FieldError(field+".dn_template", "%v", err)
	}
	if dn, _ := ldap.ParseDN(t.render(func(string) string { return "x" })); !base.AncestorOfFold(dn) {
		return targets.FieldError(field+".dn_template", "%q is not under base_dn", k.DNTemplate)
	}
	for _, oc := range k.ObjectClasses {
		if !attrName(oc) {
			return targets.FieldError(field+".object_classes", "invalid object class %q", oc)
		}
	}
	if k.Filter != "" {
		if _, err := ldap.CompileFilter(k.Filter); err != nil {
			return targets.FieldError(field+".filter", "invalid LDAP filter: %v", err)
		}
	}
	if k.ObjectIDAttribute != "" && !attrName(k.ObjectIDAttribute) {
		return targets.FieldError(field+".object_id_attribute", "invalid attribute name %q", k.ObjectIDAttribute)
	}
	return nil
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

// Open reads the bind password, connects, binds, checks that the base
// entries exist and returns the connector.
func (c *Config) Open(ctx context.Context) (targets.Connector, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
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
	name := c.TLS.ServerName
	if name == "" {
		u, _ := url.Parse(c.URL)
		name = u.Hostname()
	}
	tc, err := targets.ClientTLS(name, c.TLS.CAFile, c.TLS.CertFile, c.TLS.KeyFile)
	if err != nil {
		return nil, err
	}
	tc.InsecureSkipVerify = c.TLS.InsecureSkipVerify
	return tc, nil
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
