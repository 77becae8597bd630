// Package auth authenticates SCIM requests by their bearer token: static
// secrets (Entra's "Secret Token"; several at once for rotation) and OAuth 2.0
// JWT bearer tokens validated against a JWKS (Entra with a blank secret token,
// or any other issuer).
//
// A presented token is first compared with every static secret, in constant
// time. If none matches and JWT validation is configured, a token shaped like
// a JWT (three dot-separated base64url parts) is validated as one; otherwise
// it is rejected. So a static secret may itself look like a JWT.
//
// Rejections are 401 with a SCIM Error body and a WWW-Authenticate challenge;
// no response or log line ever holds the presented token.
package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	scimerrors "github.com/elimity-com/scim/errors"

	"github.com/scimgate/scimgate/internal/config"
)

// Reasons a request is rejected; each text is the detail of the SCIM Error
// body.
var (
	errMissingToken = errors.New("missing bearer token")
	errScheme       = errors.New("unsupported authorization scheme; send Authorization: Bearer <token>")
	errInvalidToken = errors.New("invalid bearer token")
	errMalformed    = errors.New("malformed JWT bearer token")
	errSignature    = errors.New("token signature or signing algorithm not accepted")
	errUnknownKey   = errors.New("token signed by an unknown key")
	errKeyMismatch  = errors.New("token signing algorithm does not match its key")
	errExpired      = errors.New("token expired")
	errNotYetValid  = errors.New("token not yet valid")
	errIssuer       = errors.New("token issuer not accepted")
	errAudience     = errors.New("token audience not accepted")
	errClaimMissing = errors.New("token lacks a required claim (iss, aud or exp)")
	// errKeysNotLoaded: the JWKS could not be loaded yet. Its detail
	// includes the cause (the JWKS URL and the error fetching it), so that
	// the client's operator sees why.
	errKeysNotLoaded = errors.New("signing keys not loaded yet")

	reasons = []error{errMissingToken, errScheme, errInvalidToken, errMalformed, errSignature,
		errUnknownKey, errKeyMismatch, errExpired, errNotYetValid, errIssuer, errAudience, errClaimMissing}
)

// detail returns the client-facing text of a rejection: the reason err wraps,
// without the particulars that only the log gets.
func detail(err error) string {
	if errors.Is(err, errKeysNotLoaded) {
		return err.Error()
	}
	for _, r := range reasons {
		if errors.Is(err, r) {
			return r.Error()
		}
	}
	return errInvalidToken.Error()
}

// Authenticator checks the bearer token of requests. Create it with New;
// Close it to stop the background JWKS refresh.
type Authenticator struct {
	logger *slog.Logger
	hashes [][sha256.Size]byte // SHA-256 of each static secret
	// settings name where each of hashes comes from, within its section:
	// "tokens[0]", "token_files[1] (/path)".
	settings []string
	jwt      *verifier // nil: JWT validation not configured
	limit    *limiter  // bad credentials per client address

	stop      context.CancelFunc // stops the JWKS refresh loop
	done      chan struct{}      // closed when the refresh loop has ended
	closeOnce sync.Once
}

var _ io.Closer = (*Authenticator)(nil)

// New builds an Authenticator from cfg, which it validates. It reads the
// token files and, if JWT validation is configured, loads the JWKS: a JWKS
// file that cannot be read, or a JWKS that is not one or has no usable key,
// is an error, so that a misconfiguration stops the gateway at startup. A
// JWKS URL that cannot be fetched (within ctx and a 10s timeout: the server
// is unreachable or answers an error status) is not: it is logged, every
// JWT is refused with 401 "signing keys not loaded yet: <why>", and the
// JWKS is fetched again in the background after 1s, then after a wait
// doubled each time up to 5 minutes, until it loads; static secrets work
// meanwhile. The JWKS (URL or file) is then reloaded hourly in the
// background until Close, and on a token with an unknown key id at most
// once per 5 minutes; a failed reload is logged and the previous keys stay
// in use.
//
// With neither static secrets nor JWT configured, every request is rejected.
// A nil logger discards logs.
func New(ctx context.Context, cfg config.Auth, logger *slog.Logger) (*Authenticator, error) {
	return newAuthenticator(ctx, cfg, logger, time.Now, time.After)
}

// newAuthenticator is New on a clock: now tells the time, after the waits
// between the JWKS loads.
func newAuthenticator(ctx context.Context, cfg config.Auth, logger *slog.Logger, now func() time.Time, after func(time.Duration) <-chan time.Time) (*Authenticator, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := &Authenticator{logger: logger, limit: newLimiter(DefaultMaxBadAttempts, DefaultBadAttemptWindow, now)}
	for i, tok := range cfg.Tokens {
		a.hashes = append(a.hashes, sha256.Sum256([]byte(tok)))
		a.settings = append(a.settings, fmt.Sprintf("tokens[%d]", i))
	}
	for i, path := range cfg.TokenFiles {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("auth.token_files[%d]: %w", i, err)
		}
		tok := strings.TrimSpace(string(b))
		if tok == "" {
			return nil, fmt.Errorf("auth.token_files[%d]: %s is empty", i, path)
		}
		if len(tok) < config.MinTokenBytes {
			return nil, fmt.Errorf("auth.token_files[%d]: the secret in %s is %d bytes long; it must be at least %d (generate one with: openssl rand -hex 32)",
				i, path, len(tok), config.MinTokenBytes)
		}
		a.hashes = append(a.hashes, sha256.Sum256([]byte(tok)))
		a.settings = append(a.settings, fmt.Sprintf("token_files[%d] (%s)", i, path))
	}
	if cfg.JWT.Enabled() {
		v, err := newVerifier(ctx, cfg.JWT, logger, now, after)
		if err != nil {
			return nil, err
		}
		a.jwt = v
		var loopCtx context.Context
		loopCtx, a.stop = context.WithCancel(context.WithoutCancel(ctx))
		a.done = make(chan struct{})
		go v.refreshLoop(loopCtx, a.done)
	}
	if !cfg.Enabled() {
		logger.WarnContext(ctx, "no SCIM authentication configured: every SCIM request will be rejected")
	}
	return a, nil
}

// Close stops the background JWKS refresh and waits for it to end. It is
// safe to call more than once.
func (a *Authenticator) Close() error {
	a.closeOnce.Do(func() {
		if a.stop != nil {
			a.stop()
			<-a.done
		}
	})
	return nil
}

// ErrSharedSecret is wrapped by the error of Distinct.
var ErrSharedSecret = errors.New("SCIM credentials never open the admin API")

// Distinct reports every static secret of admin (the admin API's
// credentials, section "admin") that is also one of scim (section "auth"),
// whatever their sources (inline, token files, environment), with an error
// naming both settings and never the value. Every pair
// is compared, in constant time.
func Distinct(scim, admin *Authenticator) error {
	var errs []error
	for i := range admin.hashes {
		for j := range scim.hashes {
			if subtle.ConstantTimeCompare(admin.hashes[i][:], scim.hashes[j][:]) == 1 {
				errs = append(errs, fmt.Errorf("admin.%s: holds the same secret as auth.%s: %w; give the admin API its own token",
					admin.settings[i], scim.settings[j], ErrSharedSecret))
			}
		}
	}
	return errors.Join(errs...)
}

// Middleware passes to next only requests with an accepted bearer token and
// answers the others with 401 and a SCIM Error, or 429 with Retry-After
// when Check refuses the client.
func (a *Authenticator) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		method, err := a.Check(r)
		if err != nil {
			a.reject(w, r, err)
			return
		}
		a.logger.DebugContext(r.Context(), "SCIM request authenticated", "method", method)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, method)))
	})
}

type principalKey struct{}

// Principal returns how the request of ctx was authenticated by
// Middleware ("static token #n" or "jwt"), "" when it was not.
func Principal(ctx context.Context) string {
	p, _ := ctx.Value(principalKey{}).(string)
	return p
}

// Check authenticates r like Authenticate, limiting bad credentials per
// client address: after DefaultMaxBadAttempts requests whose token is
// rejected within DefaultBadAttemptWindow of the first, every request of
// that address (IPv6: its /64) is refused with a *RetryError, whatever its
// token, until the window is over. A request without a token, or with a
// JWT refused because the signing keys are not loaded, does not count. The
// first bad credential of an address in each window is logged, and the
// refusal when it starts; never the token, and every field bounded.
func (a *Authenticator) Check(r *http.Request) (string, error) {
	key := clientKey(r.RemoteAddr)
	if d := a.limit.wait(key); d > 0 {
		return "", &RetryError{After: d}
	}
	method, err := a.Authenticate(r.Context(), r.Header.Get("Authorization"))
	if err == nil {
		return method, nil
	}
	attrs := []any{"reason", clip(err.Error(), 300), "remote", key, "path", clip(r.URL.Path, 100)}
	switch {
	case errors.Is(err, errMissingToken) || errors.Is(err, errScheme):
		a.logger.DebugContext(r.Context(), "request without a bearer token rejected", attrs...)
	case errors.Is(err, errKeysNotLoaded):
		a.logger.InfoContext(r.Context(), "request rejected", attrs...)
	default:
		first, blocked := a.limit.fail(key)
		if first {
			a.logger.InfoContext(r.Context(), "request with bad credentials rejected; further ones from this address are logged again after the window",
				append(attrs, "window", a.limit.window)...)
		}
		if blocked {
			a.logger.WarnContext(r.Context(), "too many bad credentials: refusing the address until the window is over",
				"remote", key, "bad_attempts", a.limit.max, "window", a.limit.window)
		}
	}
	return "", err
}

// Authenticate checks an Authorization header value and returns how it was
// accepted ("static token #n" or "jwt") or why not; the error's text is
// safe to show to the client.
func (a *Authenticator) Authenticate(ctx context.Context, header string) (string, error) {
	if strings.TrimSpace(header) == "" {
		return "", errMissingToken
	}
	scheme, token, _ := strings.Cut(strings.TrimSpace(header), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", errScheme
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return "", errMissingToken
	}
	if i, ok := a.matchStatic(token); ok {
		return fmt.Sprintf("static token #%d", i+1), nil
	}
	if a.jwt != nil && looksLikeJWT(token) {
		if err := a.jwt.verify(ctx, token); err != nil {
			return "", err
		}
		return "jwt", nil
	}
	return "", errInvalidToken
}

// matchStatic compares the token's SHA-256 with every configured secret's,
// in constant time and without stopping at a match, and returns the index of
// the matching secret.
func (a *Authenticator) matchStatic(token string) (int, bool) {
	h := sha256.Sum256([]byte(token))
	found, index := 0, -1
	for i := range a.hashes {
		eq := subtle.ConstantTimeCompare(h[:], a.hashes[i][:])
		found |= eq
		index = subtle.ConstantTimeSelect(eq, i, index)
	}
	return index, found == 1
}

// descriptionChars replaces the characters that an error_description may
// not hold (RFC 6750 section 3: printable ASCII except '"' and '\'):
// quotes by apostrophes, the others by '?'.
func descriptionChars(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '"':
			return '\''
		case r < 0x20 || r > 0x7e || r == '\\':
			return '?'
		}
		return r
	}, s)
}

// looksLikeJWT reports whether token is three dot-separated base64url parts
// (the signature may be empty, as with alg "none").
func looksLikeJWT(token string) bool {
	parts := strings.Split(token, ".")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" {
		return false
	}
	for _, p := range parts {
		for _, c := range []byte(p) {
			if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// reject answers a *RetryError with 429 and Retry-After, any other error
// with 401, a challenge (RFC 6750) and a SCIM Error whose detail is the
// reason err wraps. Check has logged it.
func (a *Authenticator) reject(w http.ResponseWriter, _ *http.Request, err error) {
	w.Header().Set("Content-Type", "application/scim+json")
	if retry, ok := errors.AsType[*RetryError](err); ok {
		body, _ := json.Marshal(scimerrors.ScimError{Status: http.StatusTooManyRequests, Detail: retry.Error()})
		w.Header().Set("Retry-After", strconv.FormatInt(retry.Seconds(), 10))
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write(body)
		return
	}
	msg := detail(err)
	challenge := `Bearer realm="scimgate"`
	if !errors.Is(err, errMissingToken) && !errors.Is(err, errScheme) {
		challenge += `, error="invalid_token", error_description="` + descriptionChars(msg) + `"`
	}
	body, _ := json.Marshal(scimerrors.ScimError{Status: http.StatusUnauthorized, Detail: msg})
	w.Header().Set("WWW-Authenticate", challenge)
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = w.Write(body)
}
