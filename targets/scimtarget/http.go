package scimtarget

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/scimgate/scimgate/targets"
)

// maxResponseBytes bounds a response body (a page of groups with their
// members can be large).
const maxResponseBytes = 64 << 20

// maxRetryAfterWait bounds the wait for a Retry-After before a throttled
// call returns.
const maxRetryAfterWait = 30 * time.Second

// HTTPError is a response of the service that is not a success. It is
// wrapped in the class of its status: 404 ErrNotFound, 409 a
// *targets.ConflictError, 429 and 5xx (and 412, a changed ETag)
// ErrTransient, other statuses ErrPermanent.
type HTTPError struct {
	Method, Path string // the request, the path relative to the base URL
	Status       int
	// ScimType and Detail are those of the SCIM error body, when it has one.
	ScimType, Detail string
	// Attribute is the target attribute that Detail names, when it names
	// one of the operation's.
	Attribute string
	// RetryAfter is the wait the service asked for (Retry-After), 0 when
	// it asked for none.
	RetryAfter time.Duration
}

func (e *HTTPError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "scim: %s %s: ", e.Method, e.Path)
	if e.Attribute != "" {
		fmt.Fprintf(&b, "attribute %q: ", e.Attribute)
	}
	fmt.Fprintf(&b, "HTTP %d %s", e.Status, http.StatusText(e.Status))
	if e.ScimType != "" {
		b.WriteString(" (" + e.ScimType + ")")
	}
	if e.Detail != "" {
		b.WriteString(": " + e.Detail)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, "; retry after %v (Retry-After)", e.RetryAfter)
	}
	return b.String()
}

// request is one request to the service.
type request struct {
	method string
	path   string // relative to the base URL: "/Users/<id>"
	query  url.Values
	body   any // encoded as JSON; nil for none
	// ifMatch is the If-Match header ("" for none).
	ifMatch string
	// attrs are the operation's attributes, one of which an error's
	// detail may name.
	attrs []attr
}

// response is a successful (2xx) response.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request and returns its successful response, or a classified
// error. It waits for the rate limit, authorises the request, and, with
// OAuth 2.0, renews a token the service refused (401) once.
func (c *Connector) do(ctx context.Context, r request) (*response, error) {
	what := r.method + " " + r.path
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("scim: %s: %w", what, err)
	}
	var body []byte
	if r.body != nil {
		var err error
		if body, err = c.encode(r.body); err != nil {
			return nil, targets.Permanent(fmt.Errorf("scim: %s: %w", what, err))
		}
	}
	u := c.base + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	for attempt := 0; ; attempt++ {
		if err := c.waitRate(ctx); err != nil {
			return nil, fmt.Errorf("scim: %s: rate limit: %w", what, err)
		}
		authz, err := c.auth.header(ctx)
		if err != nil {
			return nil, fmt.Errorf("scim: %s: %w", what, err)
		}
		req, err := http.NewRequestWithContext(ctx, r.method, u, bytes.NewReader(body))
		if err != nil {
			return nil, targets.Permanent(fmt.Errorf("scim: %s: %w", what, err))
		}
		if body == nil {
			req.Body, req.ContentLength = http.NoBody, 0
		} else {
			req.Header.Set("Content-Type", "application/scim+json")
		}
		req.Header.Set("Accept", "application/scim+json, application/json")
		req.Header.Set("Authorization", authz)
		if r.ifMatch != "" {
			req.Header.Set("If-Match", r.ifMatch)
		}
		resp, err := c.client.Do(req)
		if err != nil {
			return nil, transportError(ctx, what, err)
		}
		data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
		resp.Body.Close()
		switch {
		case err != nil:
			return nil, transportError(ctx, what, err)
		case len(data) > maxResponseBytes:
			return nil, targets.Permanent(fmt.Errorf("scim: %s: response larger than %d bytes", what, maxResponseBytes))
		case resp.StatusCode == http.StatusUnauthorized && attempt == 0 && c.auth.renew(authz):
			continue
		case resp.StatusCode >= 200 && resp.StatusCode < 300:
			return &response{status: resp.StatusCode, header: resp.Header, body: data}, nil
		}
		return nil, c.statusError(ctx, r, resp, data)
	}
}

// encode encodes a request body, booleans as strings with that quirk.
func (c *Connector) encode(v any) ([]byte, error) {
	if c.cfg.Quirks.BooleansAsStrings {
		v = boolsAsStrings(v)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// waitRate waits for the rate limit on the connector's clock.
func (c *Connector) waitRate(ctx context.Context) error {
	if c.limiter == nil {
		return nil
	}
	now := c.clock.now()
	r := c.limiter.ReserveN(now, 1)
	if !r.OK() {
		return errors.New("burst is 0")
	}
	if err := c.clock.sleep(ctx, r.DelayFrom(now)); err != nil {
		r.CancelAt(c.clock.now())
		return err
	}
	return nil
}

// certAlerts are the texts of the TLS alerts (RFC 8446 section 6.2) of a
// refused certificate.
var certAlerts = []string{"tls: bad certificate", "tls: unsupported certificate", "tls: revoked certificate",
	"tls: expired certificate", "tls: unknown certificate", "tls: unknown certificate authority", "tls: certificate required"}

// transportError classifies the error of a request that got no response:
// the context's end and network failures are transient, a certificate the
// connector does not trust is permanent (a configuration to fix).
func transportError(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("scim: %s: %w", what, ctx.Err())
	}
	var (
		unknownCA *x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		verify    *tls.CertificateVerificationError
	)
	if errors.As(err, &unknownCA) || errors.As(err, &hostname) || errors.As(err, &invalid) || errors.As(err, &verify) {
		return targets.Permanent(fmt.Errorf("scim: %s: TLS: %w (see tls.ca_file, tls.server_name)", what, err))
	}
	// The service refused the client certificate, or its absence: a TLS
	// alert from the peer, which crypto/tls returns as a *net.OpError
	// "remote error" around an unexported type; its text tells which.
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "remote error" && op.Err != nil && slices.Contains(certAlerts, op.Err.Error()) {
		return targets.Permanent(fmt.Errorf("scim: %s: TLS: %w (see tls.cert_file)", what, err))
	}
	return targets.Transient(fmt.Errorf("scim: %s: %w", what, err))
}

// statusError turns an unsuccessful response into a classified
// *HTTPError. A throttled or unavailable service's Retry-After is waited
// for (up to maxRetryAfterWait, within ctx's deadline) before it returns,
// so that the engine's next attempt comes after it.
func (c *Connector) statusError(ctx context.Context, r request, resp *http.Response, body []byte) error {
	e := &HTTPError{Method: r.method, Path: r.path, Status: resp.StatusCode}
	var se struct {
		ScimType string `json:"scimType"`
		Detail   string `json:"detail"`
	}
	if json.Unmarshal(body, &se) == nil {
		e.ScimType, e.Detail = se.ScimType, se.Detail
		e.Attribute = namedAttribute(se.Detail, r.attrs)
	}
	switch s := resp.StatusCode; {
	case s == http.StatusNotFound:
		return targets.NotFound(e)
	case s == http.StatusConflict:
		return &targets.ConflictError{Err: e}
	case s == http.StatusTooManyRequests, s >= 500, s == http.StatusPreconditionFailed:
		e.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), c.clock.now())
		if e.RetryAfter > 0 {
			wait := min(e.RetryAfter, maxRetryAfterWait)
			if dl, ok := ctx.Deadline(); ok {
				wait = min(wait, time.Until(dl))
			}
			_ = c.clock.sleep(ctx, wait)
		}
		return targets.Transient(e)
	default:
		return targets.Permanent(e)
	}
}

// retryAfter parses a Retry-After header: seconds or an HTTP date.
func retryAfter(h string, now time.Time) time.Duration {
	if h == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(h)); err == nil {
		return max(0, time.Duration(s)*time.Second)
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(0, t.Sub(now).Round(time.Second))
	}
	return 0
}

// namedAttribute returns the attribute of attrs that detail names as a
// word (the one whose name it gives longest), or "". Besides the path, an
// attribute is named by its name without URN or filter, and by its
// sub-attribute unless that is a generic one (value, type, ...).
func namedAttribute(detail string, attrs []attr) string {
	named, longest := "", 0
	for _, a := range attrs {
		p := a.p
		names := []string{p.String()}
		if p.sub == "" || p.typed || p.urn != "" {
			names = append(names, p.name)
		}
		if p.sub != "" {
			names = append(names, p.name+"."+p.sub)
			if !slices.Contains([]string{"value", "type", "display", "primary", "$ref"}, p.sub) {
				names = append(names, p.sub)
			}
		}
		for _, name := range names {
			if len(name) > longest && containsWord(detail, name) {
				named, longest = p.String(), len(name)
			}
		}
	}
	return named
}

// containsWord reports whether s contains word, compared
// case-insensitively, not as part of a longer name.
func containsWord(s, word string) bool {
	s, word = strings.ToLower(s), strings.ToLower(word)
	isName := func(c byte) bool {
		return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c >= 0x80
	}
	for i := 0; ; {
		j := strings.Index(s[i:], word)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(word)
		if (start == 0 || !isName(s[start-1])) && (end == len(s) || !isName(s[end])) {
			return true
		}
		i = start + 1
	}
}

// authorizer gives the Authorization header of the requests.
type authorizer interface {
	header(ctx context.Context) (string, error)
	// renew drops the credential that the service refused (401) and
	// reports whether another may be obtained.
	renew(refused string) bool
}

// bearer is a static bearer token.
type bearer string

func (b bearer) header(context.Context) (string, error) { return "Bearer " + string(b), nil }
func (bearer) renew(string) bool                        { return false }

// expiryMargin: a token is renewed when it expires within this margin.
const expiryMargin = 10 * time.Second

// oauthSource gets tokens with the client credentials grant and caches
// the current one until it is about to expire or the service refuses it.
type oauthSource struct {
	cc     *clientcredentials.Config
	client *http.Client
	clock  clock
	fetch  chan struct{} // held (capacity 1) while a token is checked or fetched

	mu     sync.Mutex
	authz  string    // "Bearer <token>", "" for none
	expiry time.Time // on clock; zero: unknown
}

func newOAuthSource(cc *clientcredentials.Config, client *http.Client, clk clock) *oauthSource {
	return &oauthSource{cc: cc, client: client, clock: clk, fetch: make(chan struct{}, 1)}
}

func (o *oauthSource) header(ctx context.Context) (string, error) {
	select {
	case o.fetch <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-o.fetch }()
	o.mu.Lock()
	authz, exp := o.authz, o.expiry
	o.mu.Unlock()
	if authz != "" && (exp.IsZero() || o.clock.now().Before(exp.Add(-expiryMargin))) {
		return authz, nil
	}
	start := o.clock.now()
	t, err := o.cc.Token(context.WithValue(ctx, oauth2.HTTPClient, o.client))
	if err != nil {
		return "", tokenError(ctx, err)
	}
	if t.AccessToken == "" {
		return "", targets.Permanent(errors.New("oauth2 token endpoint: no access_token in the response"))
	}
	exp = t.Expiry
	if secs := expiresIn(t.Extra("expires_in")); secs > 0 {
		exp = start.Add(time.Duration(secs) * time.Second)
	}
	authz = t.Type() + " " + t.AccessToken
	o.mu.Lock()
	o.authz, o.expiry = authz, exp
	o.mu.Unlock()
	return authz, nil
}

func (o *oauthSource) renew(refused string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.authz == refused {
		o.authz = ""
	}
	return true
}

// expiresIn reads the expires_in of a token response (a JSON number, or a
// string in a form-encoded response).
func expiresIn(v any) int64 {
	switch v := v.(type) {
	case float64:
		return int64(v)
	case json.Number:
		n, _ := v.Int64()
		return n
	case string:
		n, _ := strconv.ParseInt(v, 10, 64)
		return n
	}
	return 0
}

// tokenError classifies a failure to get a token: refused (4xx) is
// permanent (wrong client id or secret), the rest transient.
func tokenError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("oauth2 token endpoint: %w", ctx.Err())
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil {
		s := re.Response.StatusCode
		if s >= 400 && s < 500 && s != http.StatusTooManyRequests {
			return targets.Permanent(fmt.Errorf("oauth2 token endpoint: HTTP %d: %w", s, err))
		}
	}
	return targets.Transient(fmt.Errorf("oauth2 token endpoint: %w", err))
}
