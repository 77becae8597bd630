package scimtarget

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2/clientcredentials"
	"golang.org/x/time/rate"

	"github.com/scimgate/scimgate/targets"
)

// Type is the target type of the SCIM connector in a TargetConfig.
const Type = "scim"

// Config is the configuration of a downstream SCIM 2.0 service (see the
// package documentation for an example).
type Config struct {
	// BaseURL is the SCIM base URL, under which /Users, /Groups and
	// /ServiceProviderConfig are found: https://host/scim/v2. http is
	// allowed for loopback hosts only.
	BaseURL string `yaml:"base_url"`

	// BearerTokenEnv names an environment variable, BearerTokenFile a file
	// (without its final line break), holding a static bearer token. Give
	// one of them, or OAuth2.
	BearerTokenEnv  string `yaml:"bearer_token_env"`
	BearerTokenFile string `yaml:"bearer_token_file"`
	// OAuth2 gets tokens with the client credentials grant instead.
	OAuth2 *OAuth2Config `yaml:"oauth2"`

	// TLS configures the connections to the service and to the token
	// endpoint.
	TLS targets.TLSConfig `yaml:"tls"`
	// Timeout bounds each HTTP request, the response body included
	// (default 30s). The context of each call bounds it as well.
	Timeout time.Duration `yaml:"timeout"`
	// RateLimit is the most requests per second sent to the service
	// (0, the default: no limit); RateBurst how many may go at once
	// (default: RateLimit rounded up).
	RateLimit float64 `yaml:"rate_limit"`
	RateBurst int     `yaml:"rate_burst"`
	// PageSize is the count of a List page when the caller gives none
	// (default 100).
	PageSize int `yaml:"page_size"`

	// ObjectIDAttribute is the attribute path where the connector records
	// the gateway's object id (default externalId). The service must be
	// able to filter on it.
	ObjectIDAttribute string `yaml:"object_id_attribute"`
	// Users configures users.
	Users KindConfig `yaml:"users"`
	// Groups configures groups; absent: the target has no groups.
	Groups *KindConfig `yaml:"groups"`
	// Quirks adapt the connector to services that deviate from RFC 7644.
	Quirks Quirks `yaml:"quirks"`

	// now and after are the clock (tests set them).
	now   func() time.Time
	after func(time.Duration) <-chan time.Time
}

// OAuth2Config is the OAuth 2.0 client credentials grant (RFC 6749
// section 4.4). Tokens are cached until shortly before they expire, and
// renewed when the service answers 401.
type OAuth2Config struct {
	// TokenURL is the token endpoint (https; http for loopback hosts).
	TokenURL string `yaml:"token_url"`
	// ClientID identifies the client.
	ClientID string `yaml:"client_id"`
	// ClientSecretEnv or ClientSecretFile holds the client secret.
	ClientSecretEnv  string `yaml:"client_secret_env"`
	ClientSecretFile string `yaml:"client_secret_file"`
	// Scopes are requested with each token.
	Scopes []string `yaml:"scopes"`
	// Params are further form parameters of the token request (e.g.
	// audience or resource).
	Params map[string]string `yaml:"params"`
}

// KindConfig configures one kind of resource.
type KindConfig struct {
	// Unique lists the attributes the service keeps unique (default
	// userName for users, displayName for groups): when it answers 409,
	// the connector finds the holder by each of them (after the object id)
	// to report it.
	Unique []string `yaml:"unique"`
}

// Quirks adapt the connector to services that deviate from RFC 7644.
type Quirks struct {
	// BooleansAsStrings sends every boolean as the string "True" or
	// "False" (as Entra does without its aadOptscim062020 flag), and reads
	// those two strings back as booleans.
	BooleansAsStrings bool `yaml:"booleans_as_strings"`
	// PatchWithoutPath folds the replacements of an update into one
	// PATCH operation without a path, whose value is the partial resource
	// (RFC 7644 section 3.5.2.3); filtered paths and removals keep their
	// own operations.
	PatchWithoutPath bool `yaml:"patch_without_path"`
	// MemberRemoval is how RemoveMembers names the members: path (the
	// default: one operation per member, path members[value eq "id"]) or
	// value (one operation, path members, value [{"value": "id"}, ...]).
	MemberRemoval string `yaml:"member_removal"`
	// PatchStatus lists the statuses accepted as success of a PATCH
	// (default [200, 204]); another status is a permanent error.
	PatchStatus []int `yaml:"patch_status"`
}

// The member removal shapes.
const (
	RemoveByPath  = "path"
	RemoveByValue = "value"
)

// Defaults.
const (
	defaultTimeout  = 30 * time.Second
	defaultPageSize = 100
	maxPageSize     = 10000
)

// withDefaults returns a copy of c with the unset fields filled in; c is
// not changed.
func (c *Config) withDefaults() *Config {
	d := *c
	if c.Groups != nil {
		g := *c.Groups
		d.Groups = &g
	}
	d.defaults()
	return &d
}

// defaults fills the unset fields of a copy (withDefaults): it assigns
// new slices, never appends to those it shares with the original.
func (c *Config) defaults() {
	c.Timeout = cmp.Or(c.Timeout, defaultTimeout)
	c.PageSize = cmp.Or(c.PageSize, defaultPageSize)
	c.ObjectIDAttribute = cmp.Or(c.ObjectIDAttribute, "externalId")
	if c.RateLimit > 0 && c.RateBurst == 0 {
		c.RateBurst = max(1, int(c.RateLimit+0.999999))
	}
	if len(c.Users.Unique) == 0 {
		c.Users.Unique = []string{"userName"}
	}
	if c.Groups != nil && len(c.Groups.Unique) == 0 {
		c.Groups.Unique = []string{"displayName"}
	}
	c.Quirks.MemberRemoval = cmp.Or(c.Quirks.MemberRemoval, RemoveByPath)
	if len(c.Quirks.PatchStatus) == 0 {
		c.Quirks.PatchStatus = []int{http.StatusOK, http.StatusNoContent}
	}
}

// Validate checks the configuration with its defaults, reporting every
// invalid field. It reads no secret, connects to nothing and changes
// nothing.
func (c *Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	fail := func(field, format string, args ...any) {
		errs = append(errs, targets.FieldError(field, format, args...))
	}
	if err := checkURL(c.BaseURL); err != nil {
		fail("base_url", "%v", err)
	}
	hasBearer := c.BearerTokenEnv != "" || c.BearerTokenFile != ""
	switch {
	case c.BearerTokenEnv != "" && c.BearerTokenFile != "":
		fail("bearer_token_env", "give only one of bearer_token_env and bearer_token_file")
	case hasBearer && c.OAuth2 != nil:
		fail("oauth2", "give either a bearer token (bearer_token_env, bearer_token_file) or oauth2, not both")
	case !hasBearer && c.OAuth2 == nil:
		fail("bearer_token_env", "required: bearer_token_env, bearer_token_file or oauth2")
	}
	if o := c.OAuth2; o != nil {
		if err := checkURL(o.TokenURL); err != nil {
			fail("oauth2.token_url", "%v", err)
		}
		if o.ClientID == "" {
			fail("oauth2.client_id", "required")
		}
		if (o.ClientSecretEnv == "") == (o.ClientSecretFile == "") {
			fail("oauth2.client_secret_env", "set exactly one of client_secret_env and client_secret_file")
		}
		for _, k := range slices.Sorted(maps.Keys(o.Params)) {
			switch k {
			case "", "grant_type", "scope", "client_id", "client_secret":
				fail("oauth2.params", "parameter %q: not settable here (use scopes, client_id, client_secret_*)", k)
			}
		}
	}
	if err := c.TLS.ValidateClient(); err != nil {
		errs = append(errs, err)
	}
	if c.Timeout < 0 {
		fail("timeout", "must not be negative")
	}
	if c.RateLimit < 0 {
		fail("rate_limit", "must not be negative")
	}
	if c.RateBurst < 0 || c.RateBurst > 0 && c.RateLimit <= 0 {
		fail("rate_burst", "a positive number, with rate_limit")
	}
	if c.PageSize < 1 || c.PageSize > maxPageSize {
		fail("page_size", "must be between 1 and %d, not %d", maxPageSize, c.PageSize)
	}
	if p, err := parsePath(c.ObjectIDAttribute); err != nil {
		fail("object_id_attribute", "%v", err)
	} else if err := p.writable(targets.User); err != nil {
		fail("object_id_attribute", "%v", err)
	}
	c.Users.validate("users", targets.User, fail)
	if c.Groups != nil {
		c.Groups.validate("groups", targets.Group, fail)
	}
	switch c.Quirks.MemberRemoval {
	case RemoveByPath, RemoveByValue:
	default:
		fail("quirks.member_removal", "%q: want path or value", c.Quirks.MemberRemoval)
	}
	for _, s := range c.Quirks.PatchStatus {
		if s != http.StatusOK && s != http.StatusNoContent {
			fail("quirks.patch_status", "%d: want 200 and/or 204", s)
		}
	}
	return errors.Join(errs...)
}

func (k *KindConfig) validate(field string, kind targets.Kind, fail func(field, format string, args ...any)) {
	for i, u := range k.Unique {
		if p, err := parsePath(u); err != nil {
			fail(fmt.Sprintf("%s.unique[%d]", field, i), "%v", err)
		} else if err := p.writable(kind); err != nil {
			fail(fmt.Sprintf("%s.unique[%d]", field, i), "%v", err)
		}
	}
}

// checkURL checks a service or token URL: absolute, https, or http to a
// loopback host (a test, or a sidecar).
func checkURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case s == "":
		return errors.New("required")
	case err != nil:
		return fmt.Errorf("invalid URL: %v", err)
	case u.Host == "":
		return fmt.Errorf("%q has no host", s)
	case u.User != nil:
		return errors.New("no credentials in the URL: use the auth settings")
	case u.RawQuery != "" || u.Fragment != "":
		return errors.New("no query or fragment")
	case u.Scheme == "https":
		return nil
	case u.Scheme != "http":
		return fmt.Errorf("scheme %q: want https", u.Scheme)
	}
	if !loopback(u.Hostname()) {
		return fmt.Errorf("http only to a loopback host (localhost, 127.0.0.1, ::1); use https for %s", u.Hostname())
	}
	return nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	for _, prefix := range []string{"127.", "::1"} {
		if strings.HasPrefix(host, prefix) {
			return true
		}
	}
	return false
}

// Provides: users always, with disable (SCIM's active) and lookup (filter);
// groups when configured.
func (c *Config) Provides() targets.Capabilities {
	return targets.Capabilities{Groups: c.Groups != nil, Disable: true, Lookup: true}
}

// Open applies the defaults, reads the secrets and TLS files, builds the
// HTTP client and reads the service's /ServiceProviderConfig (PATCH and
// ETag support), which checks the base URL and the credentials.
func (c *Config) Open(ctx context.Context, _ targets.Env) (targets.Connector, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	c = c.withDefaults()
	// The name verified is each URL's host (the service's, the token
	// endpoint's) unless tls.server_name is set.
	tlsConf, err := c.TLS.Client("")
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsConf
	tr.MaxIdleConnsPerHost = 16
	client := &http.Client{Transport: tr, Timeout: c.Timeout}
	var a authorizer
	if c.OAuth2 != nil {
		secret, err := targets.ReadSecret("oauth2.client_secret", "", c.OAuth2.ClientSecretEnv, c.OAuth2.ClientSecretFile)
		if err != nil {
			return nil, err
		}
		cc := &clientcredentials.Config{ClientID: c.OAuth2.ClientID, ClientSecret: secret, TokenURL: c.OAuth2.TokenURL, Scopes: c.OAuth2.Scopes}
		if len(c.OAuth2.Params) > 0 {
			cc.EndpointParams = url.Values{}
			for k, v := range c.OAuth2.Params {
				cc.EndpointParams.Set(k, v)
			}
		}
		a = newOAuthSource(cc, client, c.clock())
	} else {
		tok, err := targets.ReadSecret("bearer_token", "", c.BearerTokenEnv, c.BearerTokenFile)
		if err != nil {
			return nil, err
		}
		a = bearer(tok)
	}
	conn := newConnector(*c, client, a)
	if err := conn.discover(ctx); err != nil {
		tr.CloseIdleConnections()
		return nil, err
	}
	return conn, nil
}

// clock returns the configured clock, the real one by default.
func (c *Config) clock() clock {
	clk := clock{now: c.now, after: c.after}
	if clk.now == nil {
		clk.now = time.Now
	}
	if clk.after == nil {
		clk.after = time.After
	}
	return clk
}

// limiter returns the rate limiter, nil without a limit.
func (c *Config) limiter() *rate.Limiter {
	if c.RateLimit <= 0 {
		return nil
	}
	return rate.NewLimiter(rate.Limit(c.RateLimit), c.RateBurst)
}

// clock is the connector's time: the rate limit, Retry-After waits and
// token expiry run on it.
type clock struct {
	now   func() time.Time
	after func(time.Duration) <-chan time.Time
}

// sleep waits d on the clock, or until ctx ends.
func (c clock) sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	select {
	case <-c.after(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// reserved are the attributes the connector manages itself or that the
// service sets: a mapping may not write them.
var reserved = []string{"id", "schemas", "meta", "members", "groups"}

func isReserved(name string) bool {
	return slices.ContainsFunc(reserved, func(r string) bool { return strings.EqualFold(r, name) })
}
