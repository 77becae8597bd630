package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/scimgate/scimgate/scim"
	"github.com/scimgate/scimgate/targets"
)

// ErrInvalid is wrapped by every FieldError, so errors.Is(err, ErrInvalid)
// tells a Validate error apart.
var ErrInvalid = errors.New("invalid configuration")

// FieldError is one problem found by Validate, naming the setting by its YAML
// path, e.g. "scim.bulk.max_operations: must be between 1 and 100000".
type FieldError struct {
	Path string
	Msg  string
}

var _ error = (*FieldError)(nil)

// Error returns "path: message".
func (e *FieldError) Error() string { return e.Path + ": " + e.Msg }

// Unwrap returns ErrInvalid.
func (e *FieldError) Unwrap() error { return ErrInvalid }

// MinTokenBytes is the shortest static bearer secret accepted, SCIM or
// admin, inline or in a token file: a secret shorter than this could be
// guessed.
const MinTokenBytes = 32

// tooShort is the message for a static secret shorter than MinTokenBytes.
var tooShort = fmt.Sprintf("must be at least %d bytes long (generate one with: openssl rand -hex 32)", MinTokenBytes)

// Limits enforced by Validate.
const (
	minBodyBytes     = 1 << 10
	maxBodyBytes     = 1 << 30
	maxMaxResults    = 100000
	maxBulkOps       = 100000
	extensionURNSpec = `urn:<namespace>:...:2.0:User or :2.0:Group`
)

// Schemas an extension must not redefine (compared case-insensitively).
var reservedURNs = []string{
	"urn:ietf:params:scim:schemas:core:2.0:User",
	"urn:ietf:params:scim:schemas:core:2.0:Group",
	"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
}

var (
	extensionURN  = regexp.MustCompile(`^urn:[A-Za-z0-9][A-Za-z0-9-]{0,31}(:[A-Za-z0-9._~%-]+)*:2\.0:(User|Group)$`)
	attributeName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]*$`)
)

type problems []error

func (p *problems) add(path, format string, args ...any) {
	*p = append(*p, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (p *problems) between(path string, v, lo, hi int64) {
	if v < lo || v > hi {
		p.add(path, "must be between %d and %d", lo, hi)
	}
}

func (p *problems) positive(path string, d time.Duration) {
	if d <= 0 {
		p.add(path, "must be a positive duration such as 30s")
	}
}

// Validate reports every problem of c at once, joined with errors.Join; each
// is a *FieldError, or for the connector part of a target a
// *targets.ConfigError. The targets' types and their configurations are
// checked against reg (the gateway's: registry.New(registry.Services{})). Messages never
// contain secret values. Validate does no I/O: files named by the
// configuration are opened by their users.
func (c Config) Validate(reg targets.Registry) error {
	var p problems
	if host, port, err := net.SplitHostPort(c.Listen); err != nil || strings.ContainsAny(host, "/ ") || !isPort(port) {
		p.add("listen", "must be HOST:PORT with a numeric port 0-65535, e.g. %s (empty host: all interfaces)", DefaultListen)
	}
	if c.DataDir == "" {
		p.add("data_dir", "must not be empty")
	}
	switch c.Store.Type {
	case "", StoreSQLite:
		if c.Store.DSN != "" || c.Store.DSNEnv != "" || c.Store.DSNFile != "" {
			p.add("store.dsn", "is for type %s or %s: the sqlite store is %s in data_dir", StorePostgres, StoreMySQL, DatabaseFile)
		}
	case StorePostgres, StoreMySQL:
		if c.Store.DSN == "" && c.Store.DSNEnv == "" && c.Store.DSNFile == "" {
			p.add("store.dsn", "a %s store needs its database: set dsn, dsn_env or dsn_file", c.Store.Type)
		} else if err := targets.CheckSecret("store.dsn", string(c.Store.DSN), c.Store.DSNEnv, c.Store.DSNFile); err != nil {
			p.add("store.dsn", "give only one of dsn, dsn_env and dsn_file")
		}
	default:
		p.add("store.type", "unknown type %q (want %s, %s or %s)", c.Store.Type, StoreSQLite, StorePostgres, StoreMySQL)
	}
	if c.Store.LeaseTTL < time.Second || c.Store.LeaseTTL > 10*time.Minute {
		p.add("store.lease_ttl", "%s: want 1s to 10m", c.Store.LeaseTTL)
	}
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
			p.add("public_url", "must be scheme://host[:port] with scheme http or https and no path, query or fragment")
		}
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, strings.ToLower(c.Log.Level)) {
		p.add("log.level", "unknown level %q (want one of debug, info, warn, error)", c.Log.Level)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		p.add("log.format", "unknown format %q (want text or json)", c.Log.Format)
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		p.add("tls", "cert_file and key_file must both be set")
	}
	p.positive("server.read_header_timeout", c.Server.ReadHeaderTimeout)
	p.positive("server.read_timeout", c.Server.ReadTimeout)
	p.positive("server.write_timeout", c.Server.WriteTimeout)
	p.positive("server.idle_timeout", c.Server.IdleTimeout)
	p.positive("server.shutdown_timeout", c.Server.ShutdownTimeout)
	c.SCIM.validate(&p)
	p.positive("scim.query_timeout", c.SCIM.QueryTimeout)
	if c.SCIM.QueryTimeout >= c.Server.WriteTimeout && c.Server.WriteTimeout > 0 {
		p.add("scim.query_timeout", "must be shorter than server.write_timeout (%s), or the answer cannot be written", c.Server.WriteTimeout)
	}
	c.Auth.validate(&p)
	c.validateAdmin(&p)
	p.between("engine.concurrency", int64(c.Engine.Concurrency), 1, 256)
	p.between("engine.max_attempts", int64(c.Engine.MaxAttempts), 1, 1_000_000)
	p.positive("engine.max_age", c.Engine.MaxAge)
	p.positive("engine.backoff_base", c.Engine.BackoffBase)
	p.positive("engine.backoff_max", c.Engine.BackoffMax)
	if c.Engine.BackoffMax < c.Engine.BackoffBase {
		p.add("engine.backoff_max", "must not be less than engine.backoff_base")
	}
	p.positive("audit.retention", c.Audit.Retention)
	if err := c.validateTargets(reg); err != nil {
		p = append(p, err)
	}
	c.validateEntra(&p)
	c.validateNotifications(&p)
	c.validateWorkflows(&p)
	c.validateAlerts(&p)
	c.validateGuests(&p)
	c.validateReviews(&p)
	return errors.Join(p...)
}

// validateEntra reports every problem of the entra section, each named
// entra.<field>.
func (c Config) validateEntra(p *problems) {
	if c.Entra == nil {
		return
	}
	p.envNames("entra", [][2]string{{"client_secret_env", c.Entra.ClientSecretEnv}, {"certificate_password_env", c.Entra.CertificatePasswordEnv}})
	p.section("entra", c.Entra.Validate())
}

// validateNotifications reports every problem of the notifications
// section, each named notifications.<field path>.
func (c Config) validateNotifications(p *problems) {
	n := c.Notifications
	if n == nil {
		return
	}
	var vars [][2]string
	if n.SMTP != nil {
		vars = append(vars, [2]string{"smtp.password_env", n.SMTP.PasswordEnv})
	}
	for i, w := range n.Webhooks {
		vars = append(vars, [2]string{fmt.Sprintf("webhooks[%d].secret_env", i), w.SecretEnv})
	}
	p.envNames("notifications", vars)
	p.section("notifications", n.Validate())
}

// validateAlerts checks the alerts section: its rules, and the channels
// they name in the notifications section.
func (c Config) validateAlerts(p *problems) {
	a := c.Alerts
	if a == nil {
		return
	}
	p.section("alerts", a.Validate())
	var hooks []string
	if n := c.Notifications; n != nil {
		for _, w := range n.Webhooks {
			hooks = append(hooks, w.Name)
		}
	}
	for i, r := range a.Rules {
		if len(r.EntraGroups) > 0 && c.Entra == nil {
			p.add(fmt.Sprintf("alerts.rules[%d].entraGroups", i), "needs the entra section (the Entra groups are read through it)")
		}
		if len(r.Email) > 0 && !c.canEmail() {
			p.add(fmt.Sprintf("alerts.rules[%d].email", i), "needs the smtp settings of the notifications section")
		}
		for j, h := range r.Webhooks {
			if !slices.Contains(hooks, h) {
				p.add(fmt.Sprintf("alerts.rules[%d].webhooks[%d]", i, j), "%q is not a webhook of the notifications section", h)
			}
		}
	}
}

// envNames reports the variables (field, name) of a section that are
// SCIMGATE_* variables: Load refuses unknown ones, so a secret cannot be
// one.
func (p *problems) envNames(section string, vars [][2]string) {
	for _, f := range vars {
		if field, name := f[0], f[1]; strings.HasPrefix(name, EnvPrefix) {
			p.add(section+"."+field, "%s: the %s* variables are the gateway's own settings; name another variable", name, EnvPrefix)
		}
	}
}

// section adds the errors of a section's Validate (joined
// *targets.ConfigError) under the section's path.
func (p *problems) section(section string, err error) {
	if err == nil {
		return
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		if fe, ok := errors.AsType[*targets.ConfigError](e); ok {
			p.add(section+"."+fe.Field, "%v", fe.Err)
		} else {
			p.add(section, "%v", e)
		}
	}
}

func (s SCIM) validate(p *problems) {
	switch bp := s.BasePath; {
	case !strings.HasPrefix(bp, "/"):
		p.add("scim.base_path", "must start with /")
	case bp != "/" && strings.HasSuffix(bp, "/"):
		p.add("scim.base_path", "must not end with / (use / alone for the root)")
	case strings.ContainsAny(bp, "?#%\\ \t") || strings.Contains(bp, "//") ||
		slices.Contains(strings.Split(bp, "/"), "..") || slices.Contains(strings.Split(bp, "/"), "."):
		p.add("scim.base_path", "must be a clean URL path without //, . or .. segments, spaces, %%, ? or #")
	}
	p.between("scim.max_body_bytes", s.MaxBodyBytes, minBodyBytes, maxBodyBytes)
	p.between("scim.max_results", int64(s.MaxResults), 1, maxMaxResults)
	if s.DefaultCount < 1 || s.DefaultCount > s.MaxResults {
		p.add("scim.default_count", "must be between 1 and scim.max_results (%d)", s.MaxResults)
	}
	p.between("scim.bulk.max_operations", int64(s.Bulk.MaxOperations), 1, maxBulkOps)
	p.between("scim.bulk.max_payload_bytes", s.Bulk.MaxPayloadBytes, minBodyBytes, maxBodyBytes)

	seenURN := map[string]int{}
	for i, ext := range s.CustomExtensions {
		path := fmt.Sprintf("scim.custom_extensions[%d]", i)
		if ext.Resource != "User" && ext.Resource != "Group" {
			p.add(path+".resource", "unknown resource %q (want User or Group)", ext.Resource)
		}
		key := strings.ToLower(ext.URN)
		switch {
		case ext.URN == "":
			p.add(path+".urn", "must be set (%s)", extensionURNSpec)
		case slices.ContainsFunc(reservedURNs, func(r string) bool { return strings.EqualFold(r, ext.URN) }) ||
			strings.HasPrefix(key, "urn:ietf:params:scim:schemas:core:") ||
			strings.HasPrefix(key, "urn:ietf:params:scim:api:"):
			p.add(path+".urn", "%q is a standard SCIM schema; choose another name", ext.URN)
		case !extensionURN.MatchString(ext.URN):
			p.add(path+".urn", "%q is not of the form %s", ext.URN, extensionURNSpec)
		case (ext.Resource == "User" || ext.Resource == "Group") && !strings.HasSuffix(ext.URN, ":"+ext.Resource):
			p.add(path+".urn", "must end with :2.0:%s to match resource %s", ext.Resource, ext.Resource)
		}
		if j, dup := seenURN[key]; dup && key != "" {
			p.add(path+".urn", "duplicate of scim.custom_extensions[%d].urn", j)
		} else {
			seenURN[key] = i
		}
		if len(ext.Attributes) == 0 {
			p.add(path+".attributes", "must declare at least one attribute")
		}
		seenName := map[string]int{}
		for j, attr := range ext.Attributes {
			apath := fmt.Sprintf("%s.attributes[%d]", path, j)
			if !attributeName.MatchString(attr.Name) {
				p.add(apath+".name", "%q is not a SCIM attribute name (a letter, then letters, digits, _ or -)", attr.Name)
			} else if k, dup := seenName[strings.ToLower(attr.Name)]; dup {
				p.add(apath+".name", "duplicate of %s.attributes[%d].name %q (names are case-insensitive)", path, k, attr.Name)
			} else {
				seenName[strings.ToLower(attr.Name)] = j
			}
			if !slices.Contains(scim.CustomAttributeTypes, attr.Type) {
				p.add(apath+".type", "unknown type %q (want one of %s)", attr.Type, strings.Join(scim.CustomAttributeTypes, ", "))
			}
		}
	}
}

// Validate reports the problems of the auth section, named "auth.…", joined.
func (a Auth) Validate() error {
	var p problems
	a.validate(&p)
	return errors.Join(p...)
}

func (a Auth) validate(p *problems) {
	for i, tok := range a.Tokens {
		path := fmt.Sprintf("auth.tokens[%d]", i)
		switch {
		case tok == "":
			p.add(path, "must not be empty")
		case strings.ContainsFunc(string(tok), func(r rune) bool { return r <= ' ' || r >= 0x7f }):
			// The value is never echoed.
			p.add(path, "must consist of printable ASCII characters without spaces")
		case len(tok) < MinTokenBytes:
			p.add(path, "%s", tooShort)
		}
	}
	for i, f := range a.TokenFiles {
		if f == "" {
			p.add(fmt.Sprintf("auth.token_files[%d]", i), "must not be empty")
		}
	}
	j := a.JWT
	if !j.Enabled() {
		return
	}
	if j.Issuer == "" || len(j.Audiences) == 0 || (j.JWKSURL == "" && j.JWKSFile == "") {
		p.add("auth.jwt", "issuer, audiences and one of jwks_url/jwks_file are required together")
	}
	if j.JWKSURL != "" && j.JWKSFile != "" {
		p.add("auth.jwt", "jwks_url and jwks_file are mutually exclusive")
	}
	for i, aud := range j.Audiences {
		if strings.TrimSpace(aud) == "" {
			p.add(fmt.Sprintf("auth.jwt.audiences[%d]", i), "must not be empty")
		}
	}
	if j.JWKSURL != "" {
		u, err := url.Parse(j.JWKSURL)
		if err != nil || u.Host == "" || !(u.Scheme == "https" || u.Scheme == "http" && isLoopback(u.Hostname())) {
			p.add("auth.jwt.jwks_url", "must be an https URL (http only for loopback hosts)")
		}
	}
}

func isPort(s string) bool {
	_, err := strconv.ParseUint(s, 10, 16)
	return err == nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// validateAdmin checks the admin credentials. That none is also a SCIM
// credential, whatever their sources, is checked at startup once the token
// files are read (auth.Distinct).
func (c Config) validateAdmin(p *problems) {
	for i, tok := range c.Admin.Tokens {
		path := fmt.Sprintf("admin.tokens[%d]", i)
		switch {
		case tok == "":
			p.add(path, "must not be empty")
		case strings.ContainsFunc(string(tok), func(r rune) bool { return r <= ' ' || r >= 0x7f }):
			p.add(path, "must consist of printable ASCII characters without spaces")
		case len(tok) < MinTokenBytes:
			p.add(path, "%s", tooShort)
		}
	}
	for i, f := range c.Admin.TokenFiles {
		if f == "" {
			p.add(fmt.Sprintf("admin.token_files[%d]", i), "must not be empty")
		}
	}
}
