package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/scimgate/scimgate/internal/config"
)

const (
	fetchTimeout       = 10 * time.Second // one JWKS load
	minRefreshInterval = 5 * time.Minute  // between loads for unknown key ids
	refreshInterval    = time.Hour        // between background loads
	// retryBase and retryMax bound the wait between the loads of a JWKS
	// that could not be fetched yet: retryBase, doubled each time.
	retryBase    = time.Second
	retryMax     = minRefreshInterval
	maxJWKSBytes = 1 << 20
	leeway       = time.Minute // for exp and nbf
	minRSABits   = 2048
)

// signingAlgs are the accepted JWT algorithms: asymmetric only, so neither
// "none" nor HS* (which would treat a public key as an HMAC secret).
var signingAlgs = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}

// verifier validates JWT bearer tokens against a JWKS, which it reloads on
// demand and periodically.
type verifier struct {
	logger *slog.Logger
	now    func() time.Time
	after  func(time.Duration) <-chan time.Time // the clock of the reloads
	parser *jwt.Parser
	source string // JWKS URL or file, for messages
	load   func(ctx context.Context) ([]byte, error)

	keys     atomic.Pointer[[]jose.JSONWebKey] // usable public signing keys; nil until loaded
	loadErr  atomic.Pointer[error]             // why the keys are not loaded yet
	sem      chan struct{}                     // one slot, held while loading
	lastLoad time.Time                         // guarded by sem
}

// notFetchedError marks the error of a JWKS URL that could not be fetched
// (the server unreachable, or an HTTP error status).
type notFetchedError struct{ err error }

func (e *notFetchedError) Error() string { return e.err.Error() }
func (e *notFetchedError) Unwrap() error { return e.err }

// newVerifier loads the JWKS of cfg. A JWKS URL that cannot be fetched is
// no error: the verifier refuses every token (errKeysNotLoaded) until its
// refreshLoop loads the keys.
func newVerifier(ctx context.Context, cfg config.JWT, logger *slog.Logger, now func() time.Time, after func(time.Duration) <-chan time.Time) (*verifier, error) {
	v := &verifier{
		logger: logger,
		now:    now,
		after:  after,
		parser: jwt.NewParser(
			jwt.WithValidMethods(signingAlgs),
			jwt.WithIssuer(cfg.Issuer),
			jwt.WithAudience(cfg.Audiences...),
			jwt.WithExpirationRequired(),
			jwt.WithLeeway(leeway),
			jwt.WithTimeFunc(now),
		),
		sem: make(chan struct{}, 1),
	}
	if cfg.JWKSURL != "" {
		v.source = cfg.JWKSURL
		v.load = func(ctx context.Context) ([]byte, error) {
			data, err := fetch(ctx, cfg.JWKSURL)
			if err != nil {
				return nil, &notFetchedError{err}
			}
			return data, nil
		}
	} else {
		v.source = cfg.JWKSFile
		v.load = func(context.Context) ([]byte, error) { return os.ReadFile(cfg.JWKSFile) }
	}
	err := v.reload(ctx, true)
	var nf *notFetchedError
	switch {
	case err == nil:
	case errors.As(err, &nf) && ctx.Err() == nil:
		logger.WarnContext(ctx, "JWKS cannot be fetched: JWT bearer tokens are refused until it loads; retrying in the background",
			"source", v.source, "error", err)
	default:
		return nil, fmt.Errorf("auth.jwt: loading JWKS from %s: %w", v.source, err)
	}
	return v, nil
}

// reload loads the JWKS anew, unless force is false and the last load (or
// attempt) was less than minRefreshInterval ago. On failure the previous keys
// stay in use.
func (v *verifier) reload(ctx context.Context, force bool) error {
	select {
	case v.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-v.sem }()
	now := v.now()
	if !force && now.Sub(v.lastLoad) < minRefreshInterval {
		return nil
	}
	v.lastLoad = now
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	keys, err := v.loadKeys(ctx)
	if err != nil {
		v.loadErr.Store(&err)
		return err
	}
	v.keys.Store(&keys)
	v.logger.DebugContext(ctx, "JWKS loaded", "source", v.source, "keys", len(keys))
	return nil
}

// loadKeys loads the JWKS and returns its usable keys.
func (v *verifier) loadKeys(ctx context.Context) ([]jose.JSONWebKey, error) {
	data, err := v.load(ctx)
	if err != nil {
		return nil, err
	}
	return v.parseJWKS(ctx, data)
}

// refreshLoop reloads the JWKS every refreshInterval until ctx is done, then
// closes done. Until the keys are loaded it tries every retryBase, doubled
// after each failure up to retryMax.
func (v *verifier) refreshLoop(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	retry := retryBase
	for {
		loaded := v.keys.Load() != nil
		wait := refreshInterval
		if !loaded {
			wait, retry = retry, min(2*retry, retryMax)
		}
		select {
		case <-ctx.Done():
			return
		case <-v.after(wait):
		}
		err := v.reload(ctx, true)
		switch {
		case ctx.Err() != nil:
		case err != nil && loaded:
			v.logger.WarnContext(ctx, "JWKS refresh failed; keeping the previous keys", "source", v.source, "error", err)
		case err != nil:
			v.logger.DebugContext(ctx, "JWKS still cannot be loaded", "source", v.source, "error", err)
		case !loaded:
			v.logger.InfoContext(ctx, "JWKS loaded: JWT bearer tokens are accepted", "source", v.source)
		}
	}
}

// fetch GETs a JWKS document.
func fetch(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("unexpected HTTP status %s", resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxJWKSBytes {
		return nil, fmt.Errorf("JWKS larger than %d bytes", maxJWKSBytes)
	}
	return data, nil
}

// parseJWKS returns the usable public signing keys of a JWKS document
// (RFC 7517): RSA of at least 2048 bits and ECDSA on P-256/384/521. Other
// keys are skipped (logged at debug); none usable is an error.
func (v *verifier) parseJWKS(ctx context.Context, data []byte) ([]jose.JSONWebKey, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("parsing JWKS: %w", err)
	}
	var keys []jose.JSONWebKey
	for i, raw := range set.Keys {
		var k jose.JSONWebKey
		skip := ""
		if err := k.UnmarshalJSON(raw); err != nil {
			skip = err.Error()
		} else if k.Use != "" && k.Use != "sig" {
			skip = "use is not sig"
		} else {
			switch pub := k.Key.(type) {
			case *rsa.PublicKey:
				if pub.N.BitLen() < minRSABits {
					skip = fmt.Sprintf("RSA key shorter than %d bits", minRSABits)
				}
			case *ecdsa.PublicKey:
			default:
				skip = fmt.Sprintf("unsupported key type %T", k.Key)
			}
		}
		if skip != "" {
			v.logger.DebugContext(ctx, "JWKS key skipped", "source", v.source, "index", i, "kid", k.KeyID, "reason", skip)
			continue
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("JWKS has no usable signing key (RSA or EC public key)")
	}
	return keys, nil
}

// lookup returns the keys that may verify a token of alg with kid ("" for
// any), and whether a key with that kid exists at all.
func lookup(keys []jose.JSONWebKey, kid, alg string) (matches []jwt.VerificationKey, kidKnown bool) {
	for _, k := range keys {
		if kid != "" && k.KeyID != kid {
			continue
		}
		kidKnown = kid != ""
		if (k.Algorithm == "" || k.Algorithm == alg) && fits(k.Key, alg) {
			matches = append(matches, k.Key)
		}
	}
	return matches, kidKnown
}

// fits reports whether a public key's type (and curve) suits alg.
func fits(key any, alg string) bool {
	switch pub := key.(type) {
	case *rsa.PublicKey:
		return strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")
	case *ecdsa.PublicKey:
		switch alg {
		case "ES256":
			return pub.Curve == elliptic.P256()
		case "ES384":
			return pub.Curve == elliptic.P384()
		case "ES512":
			return pub.Curve == elliptic.P521()
		}
	}
	return false
}

// keyFor returns the key(s) to verify t: by its kid, reloading the JWKS
// (rate limited) when the kid is unknown, as after a key rotation.
func (v *verifier) keyFor(ctx context.Context, t *jwt.Token) (any, error) {
	kid, _ := t.Header["kid"].(string)
	alg := t.Method.Alg()
	keys, kidKnown := lookup(*v.keys.Load(), kid, alg)
	if len(keys) == 0 && !kidKnown && kid != "" {
		if err := v.reload(ctx, false); err != nil {
			v.logger.WarnContext(ctx, "JWKS reload for an unknown key id failed", "source", v.source, "kid", kid, "error", err)
		}
		keys, kidKnown = lookup(*v.keys.Load(), kid, alg)
	}
	switch {
	case len(keys) == 1:
		return keys[0], nil
	case len(keys) > 1:
		return jwt.VerificationKeySet{Keys: keys}, nil
	case kidKnown:
		return nil, errKeyMismatch
	}
	return nil, errUnknownKey
}

// verify validates a JWT bearer token. The error wraps one of the reasons
// and adds, for the log, the token's alg, kid, iss and aud.
func (v *verifier) verify(ctx context.Context, raw string) error {
	if v.keys.Load() == nil {
		return fmt.Errorf("%w: %v", errKeysNotLoaded, *v.loadErr.Load())
	}
	claims := &jwt.RegisteredClaims{}
	token, err := v.parser.ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) { return v.keyFor(ctx, t) })
	if err == nil {
		return nil
	}
	var reason error
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed) || token == nil:
		return errMalformed // the particulars may quote the token
	case errors.Is(err, errUnknownKey):
		reason = errUnknownKey
	case errors.Is(err, errKeyMismatch):
		reason = errKeyMismatch
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		reason = errSignature // bad signature, alg not accepted or unknown
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		reason = errClaimMissing
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		reason = errIssuer
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		reason = errAudience
	case errors.Is(err, jwt.ErrTokenExpired):
		reason = errExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		reason = errNotYetValid
	default:
		reason = errInvalidToken
	}
	alg, _ := token.Header["alg"].(string)
	kid, _ := token.Header["kid"].(string)
	return fmt.Errorf("%w (alg %.20q, kid %.100q, iss %.200q, aud %.200q): %v",
		reason, alg, kid, claims.Issuer, strings.Join(claims.Audience, ","), err)
}
