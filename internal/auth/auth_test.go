package auth

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/scimgate/scimgate/internal/config"
)

const (
	issuer   = "https://sts.windows.net/00000000-0000-0000-0000-000000000001/"
	audEntra = "8adf8e6e-67b2-4cf2-a259-e3dc5476c621"
	audOther = "api://scimgate"

	staticOld       = "static-old-0123456789abcdefghijklmn"
	staticNew       = "static-new-9876543210abcdefghijklmn"
	staticJWTShaped = "c3RhdGlj.and.jwt-shaped_secret_0123456789"
)

// Keys are generated once per test binary.
var (
	keysOnce             sync.Once
	rsa1, rsa2, rsaWrong *rsa.PrivateKey
	ec1                  *ecdsa.PrivateKey
	rsa1Cert             *x509.Certificate
	hmacSecret           = []byte("0123456789abcdef0123456789abcdef")
)

func testKeys(t *testing.T) {
	t.Helper()
	keysOnce.Do(func() {
		gen := func() *rsa.PrivateKey {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			return k
		}
		rsa1, rsa2, rsaWrong = gen(), gen(), gen()
		var err error
		if ec1, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
		// Entra publishes each RSA key with its certificate (x5c).
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "accounts.example"},
			NotBefore: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &rsa1.PublicKey, rsa1)
		if err != nil {
			panic(err)
		}
		if rsa1Cert, err = x509.ParseCertificate(der); err != nil {
			panic(err)
		}
	})
}

func jwkRSA1() jose.JSONWebKey {
	return jose.JSONWebKey{Key: &rsa1.PublicKey, KeyID: "rsa-1", Algorithm: "RS256", Use: "sig", Certificates: []*x509.Certificate{rsa1Cert}}
}
func jwkRSA2() jose.JSONWebKey {
	return jose.JSONWebKey{Key: &rsa2.PublicKey, KeyID: "rsa-2", Use: "sig"}
}
func jwkEC1() jose.JSONWebKey {
	return jose.JSONWebKey{Key: &ec1.PublicKey, KeyID: "ec-1", Algorithm: "ES256", Use: "sig"}
}

// jwksServer stands in for the issuer's key endpoint (for Entra,
// https://login.microsoftonline.com/<tenant>/discovery/keys), serving a JWKS
// document (RFC 7517) that the test can replace.
type jwksServer struct {
	*httptest.Server
	mu     sync.Mutex
	body   []byte
	status int
	hits   atomic.Int32
}

func newJWKSServer(t *testing.T, keys ...jose.JSONWebKey) *jwksServer {
	s := &jwksServer{status: http.StatusOK}
	s.set(t, keys...)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		defer s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(s.status)
		_, _ = w.Write(s.body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(t *testing.T, keys ...jose.JSONWebKey) {
	t.Helper()
	body, err := json.Marshal(jose.JSONWebKeySet{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	s.setBody(http.StatusOK, body)
}

func (s *jwksServer) setBody(status int, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.body = status, body
}

// clock is a settable time source, so that no test depends on the real
// time: advance fires the waits (after) that are due. Every wait asked
// for is also sent on waits (dropped when 64 are unread), so that a test
// knows that the code waits before it advances.
type clock struct {
	ns      atomic.Int64
	mu      sync.Mutex
	pending []clockWait
	waits   chan time.Duration
}

type clockWait struct {
	at time.Time
	c  chan time.Time
}

func newClock() *clock {
	c := &clock{waits: make(chan time.Duration, 64)}
	c.ns.Store(time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *clock) now() time.Time { return time.Unix(0, c.ns.Load()).UTC() }

func (c *clock) after(d time.Duration) <-chan time.Time {
	w := clockWait{at: c.now().Add(d), c: make(chan time.Time, 1)}
	c.mu.Lock()
	c.pending = append(c.pending, w)
	c.mu.Unlock()
	select {
	case c.waits <- d:
	default:
	}
	return w.c
}

func (c *clock) advance(d time.Duration) {
	c.ns.Add(int64(d))
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	kept := c.pending[:0]
	for _, w := range c.pending {
		if w.at.After(now) {
			kept = append(kept, w)
		} else {
			w.c <- now
		}
	}
	c.pending = kept
}

// nextWait returns the next wait asked for, failing the test if none is.
func (c *clock) nextWait(t *testing.T) time.Duration {
	t.Helper()
	select {
	case d := <-c.waits:
		return d
	case <-time.After(10 * time.Second):
		t.Fatal("nothing waits on the clock")
		return 0
	}
}

// syncBuffer is a log sink safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}
func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type fixture struct {
	auth  *Authenticator
	jwks  *jwksServer
	clock *clock
	logs  *syncBuffer
}

// newFixture builds an Authenticator with two static tokens (one from a file),
// a JWT-shaped static token and JWT validation against a JWKS server holding
// rsa-1, ec-1 and a symmetric key.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	testKeys(t)
	f := &fixture{clock: newClock(), logs: &syncBuffer{}}
	f.jwks = newJWKSServer(t, jwkRSA1(), jwkEC1(), jose.JSONWebKey{Key: hmacSecret, KeyID: "hmac-1", Algorithm: "HS256"})
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("  "+staticNew+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Auth{
		Tokens:     []config.Secret{staticOld, staticJWTShaped},
		TokenFiles: []string{tokenFile},
		JWT: config.JWT{
			Issuer:    issuer,
			Audiences: []string{audEntra, audOther},
			JWKSURL:   f.jwks.URL + "/common/discovery/keys",
		},
	}
	logger := slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := newAuthenticator(t.Context(), cfg, logger, f.clock.now, f.clock.after)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = a.Close() })
	f.auth = a
	return f
}

// claims returns valid claims for the fixture's clock, changed by mod.
func (f *fixture) claims(mod func(jwt.MapClaims)) jwt.MapClaims {
	now := f.clock.now()
	c := jwt.MapClaims{
		"iss": issuer,
		"aud": audEntra,
		"sub": "provisioning",
		"iat": now.Add(-time.Minute).Unix(),
		"nbf": now.Add(-time.Minute).Unix(),
		"exp": now.Add(time.Hour).Unix(),
	}
	if mod != nil {
		mod(c)
	}
	return c
}

func sign(t *testing.T, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// result is what a client sees of one request.
type result struct {
	status    int
	challenge string
	detail    string
	passed    bool // reached the next handler
}

func do(t *testing.T, a *Authenticator, header string) result {
	t.Helper()
	var passed bool
	h := a.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		passed = true
		w.WriteHeader(http.StatusOK)
	}))
	req := httptest.NewRequest(http.MethodGet, "/scim/v2/Users", nil)
	if header != "" {
		req.Header.Set("Authorization", header)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := result{status: rec.Code, challenge: rec.Header().Get("WWW-Authenticate"), passed: passed}
	if rec.Code == http.StatusUnauthorized {
		if ct := rec.Header().Get("Content-Type"); ct != "application/scim+json" {
			t.Errorf("Content-Type = %q, want application/scim+json", ct)
		}
		var body struct {
			Schemas []string `json:"schemas"`
			Status  string   `json:"status"`
			Detail  string   `json:"detail"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("body %q: %v", rec.Body, err)
		}
		if len(body.Schemas) != 1 || body.Schemas[0] != "urn:ietf:params:scim:api:messages:2.0:Error" || body.Status != "401" {
			t.Errorf("body %s is not a SCIM 401 error", rec.Body)
		}
		res.detail = body.Detail
		if _, tok, ok := strings.Cut(header, " "); ok && len(tok) > 4 && strings.Contains(rec.Body.String()+res.challenge, tok) {
			t.Errorf("response echoes the token: %s", rec.Body)
		}
	}
	return res
}

const (
	challenge = `Bearer realm="scimgate"`
	accepted  = ""
)

func invalid(detail string) string {
	return challenge + `, error="invalid_token", error_description="` + detail + `"`
}

func TestMiddleware(t *testing.T) {
	f := newFixture(t)
	pemKey := func() []byte {
		der, err := x509.MarshalPKIXPublicKey(&rsa1.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}()
	valid := f.claims(nil)

	tests := []struct {
		name   string
		header string
		// wantDetail is "" when the request must pass; else the SCIM
		// detail, with wantChallenge the WWW-Authenticate value.
		wantDetail    string
		wantChallenge string
	}{
		{name: "valid RS256", header: "Bearer " + sign(t, jwt.SigningMethodRS256, rsa1, "rsa-1", valid)},
		{name: "valid ES256", header: "Bearer " + sign(t, jwt.SigningMethodES256, ec1, "ec-1", valid)},
		{name: "one of several audiences accepted", header: "Bearer " + sign(t, jwt.SigningMethodRS256, rsa1, "rsa-1",
			f.claims(func(c jwt.MapClaims) { c["aud"] = []string{"someone-else", audOther} }))},
		{name: "expired within leeway", header: "Bearer " + sign(t, jwt.SigningMethodRS256, rsa1, "rsa-1",
			f.claims(func(c jwt.MapClaims) { c["exp"] = f.clock.now().Add(-30 * time.Second).Unix() }))},
		{name: "expired", header: "Bearer " + sign(t, jwt.SigningMethodRS256, rsa1, "rsa-1",
			f.claims(func(c jwt.MapClaims) { c["exp"] = f.clock.now().Add(-2 * time.Minute).Unix() })),
			wantDetail: "token expired"},
		{name: "not yet valid", header: "Bearer " + sign(t, jwt.SigningMethodRS256, rsa1, "rsa-1",
			f.claims(func(c jwt.MapClaims) { c["nbf"] = f.clock.now().Add(2 * time.Minute).Unix() })),
			wantDetail: "token not yet valid"},
		{name: "wrong issuer", header: "Bearer " + sign(t, jwt.SigningMethodRS256, rsa1, "rsa-1",
			f.claims(func(c jwt.MapClaims) { c["iss"] = "https://sts.windows.net/ffffffff-0000-0000-0000-000000000002/" })),
			wantDetail: "token issuer not accepted"},
		{name: "issuer without trailing slash", header: "Bearer " + sign(t, jwt.SigningMethodRS256, rsa1, "rsa-1",
			f.claims(func(c jwt.MapClaims) { c["iss"] = strings.TrimSuffix(issuer, "/") })),
			wantDetail: "token issuer not accepted"},
		{name: "wrong audience", header: "Bearer " + sign(t, jwt.SigningMethodRS256, rsa1, "rsa-1",
			f.claims(func(c jwt.MapClaims) { c["aud"] = "https://graph.microsoft.com" })),
			wantDetail: "token audience not accepted"},
		{name: "no expiry", header: "Bearer " + sign(t, jwt.SigningMethodRS256, rsa1, "rsa-1",
			f.claims(func(c jwt.MapClaims) { delete(c, "exp") })),
			wantDetail: "token lacks a required claim (iss, aud or exp)"},
		{name: "wrong key under a known kid", header: "Bearer " + sign(t, jwt.SigningMethodRS256, rsaWrong, "rsa-1", valid),
			wantDetail: "token signature or signing algorithm not accepted"},
		{name: "alg none", header: "Bearer " + sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "rsa-1", valid),
			wantDetail: "token signature or signing algorithm not accepted"},
		{name: "HS256 with the RSA public key as secret", header: "Bearer " + sign(t, jwt.SigningMethodHS256, pemKey, "rsa-1", valid),
			wantDetail: "token signature or signing algorithm not accepted"},
		{name: "HS256 with a symmetric key from the JWKS", header: "Bearer " + sign(t, jwt.SigningMethodHS256, hmacSecret, "hmac-1", valid),
			wantDetail: "token signature or signing algorithm not accepted"},
		{name: "ES256 token naming an RSA kid", header: "Bearer " + sign(t, jwt.SigningMethodES256, ec1, "rsa-1", valid),
			wantDetail: "token signing algorithm does not match its key"},
		{name: "PS256 token on a key restricted to RS256", header: "Bearer " + sign(t, jwt.SigningMethodPS256, rsa1, "rsa-1", valid),
			wantDetail: "token signing algorithm does not match its key"},
		{name: "unknown kid", header: "Bearer " + sign(t, jwt.SigningMethodRS256, rsaWrong, "rsa-9", valid),
			wantDetail: "token signed by an unknown key"},
		{name: "no kid, matching key found by type", header: "Bearer " + sign(t, jwt.SigningMethodES256, ec1, "", valid)},
		{name: "no kid, wrong key", header: "Bearer " + sign(t, jwt.SigningMethodRS256, rsaWrong, "", valid),
			wantDetail: "token signature or signing algorithm not accepted"},
		{name: "malformed JWT", header: "Bearer eyJub3Q.eyJqc29u.c2ln", wantDetail: "malformed JWT bearer token"},
		{name: "static token", header: "Bearer " + staticOld},
		{name: "rotated static token from file", header: "Bearer " + staticNew},
		{name: "static token shaped like a JWT", header: "Bearer " + staticJWTShaped},
		{name: "wrong static token", header: "Bearer not-the-token", wantDetail: "invalid bearer token"},
		{name: "static token prefix", header: "Bearer " + staticOld[:len(staticOld)-1], wantDetail: "invalid bearer token"},
		{name: "static token with suffix", header: "Bearer " + staticOld + "x", wantDetail: "invalid bearer token"},
		{name: "lower-case bearer", header: "bearer " + staticOld},
		{name: "upper-case BEARER with extra spaces", header: "BEARER   " + staticNew + " "},
		{name: "missing header", wantDetail: "missing bearer token", wantChallenge: challenge},
		{name: "bearer without token", header: "Bearer ", wantDetail: "missing bearer token", wantChallenge: challenge},
		{name: "Basic scheme", header: "Basic c2NpbTpzdGF0aWMtb2xkLTAxMjM0NTY3ODk=",
			wantDetail: "unsupported authorization scheme; send Authorization: Bearer <token>", wantChallenge: challenge},
		{name: "token without scheme", header: staticOld,
			wantDetail: "unsupported authorization scheme; send Authorization: Bearer <token>", wantChallenge: challenge},
	}
	hits := f.jwks.hits.Load()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := do(t, f.auth, tt.header)
			if tt.wantDetail == accepted {
				if got.status != http.StatusOK || !got.passed {
					t.Fatalf("status %d (%s), want 200 and the request passed on", got.status, got.detail)
				}
				return
			}
			want := tt.wantChallenge
			if want == "" {
				want = invalid(tt.wantDetail)
			}
			if got.status != http.StatusUnauthorized || got.passed {
				t.Fatalf("status %d, passed %v; want 401", got.status, got.passed)
			}
			if got.detail != tt.wantDetail {
				t.Errorf("detail %q, want %q", got.detail, tt.wantDetail)
			}
			if got.challenge != want {
				t.Errorf("WWW-Authenticate %q, want %q", got.challenge, want)
			}
		})
	}
	if got := f.jwks.hits.Load(); got != hits {
		t.Errorf("JWKS fetched %d times during the cases, want 0 (rate limited since startup)", got-hits)
	}
	logs := f.logs.String()
	for _, tt := range tests {
		_, tok, _ := strings.Cut(strings.TrimSpace(tt.header), " ")
		if tok = strings.TrimSpace(tok); tok != "" && strings.Contains(logs, tok) {
			t.Errorf("case %q: log holds the token", tt.name)
		}
	}
	for _, want := range []string{`reason="token expired (alg \"RS256\", kid \"rsa-1\", iss \"` + issuer, "request with bad credentials rejected"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
}

// TestKeyRotation: a token signed by a key that appeared in the JWKS after
// startup makes the authenticator reload the JWKS, at most once per
// minRefreshInterval.
func TestKeyRotation(t *testing.T) {
	f := newFixture(t)
	f.jwks.set(t, jwkRSA2()) // the issuer rotated rsa-1 out and rsa-2 in
	steps := []struct {
		name       string
		advance    time.Duration
		key        *rsa.PrivateKey
		kid        string
		wantDetail string
		wantHits   int32 // JWKS fetches so far, startup included
	}{
		{name: "new kid right after startup is rate limited", key: rsa2, kid: "rsa-2",
			wantDetail: "token signed by an unknown key", wantHits: 1},
		{name: "new kid once the interval passed reloads", advance: minRefreshInterval, key: rsa2, kid: "rsa-2", wantHits: 2},
		{name: "new kid again uses the cached keys", key: rsa2, kid: "rsa-2", wantHits: 2},
		{name: "retired kid is rejected without reload", advance: time.Minute, key: rsa1, kid: "rsa-1",
			wantDetail: "token signed by an unknown key", wantHits: 2},
		{name: "retired kid after the interval reloads and is still rejected", advance: minRefreshInterval, key: rsa1, kid: "rsa-1",
			wantDetail: "token signed by an unknown key", wantHits: 3},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			f.clock.advance(st.advance)
			got := do(t, f.auth, "Bearer "+sign(t, jwt.SigningMethodRS256, st.key, st.kid, f.claims(nil)))
			if st.wantDetail == accepted && (got.status != http.StatusOK || !got.passed) {
				t.Errorf("status %d (%s), want 200", got.status, got.detail)
			}
			if st.wantDetail != accepted && got.detail != st.wantDetail {
				t.Errorf("status %d detail %q, want 401 %q", got.status, got.detail, st.wantDetail)
			}
			if hits := f.jwks.hits.Load(); hits != st.wantHits {
				t.Errorf("JWKS fetched %d times, want %d", hits, st.wantHits)
			}
		})
	}
}

// TestConcurrentUnknownKid: many requests with an unknown kid at once cause a
// single JWKS fetch.
func TestConcurrentUnknownKid(t *testing.T) {
	f := newFixture(t)
	f.jwks.set(t, jwkRSA1(), jwkRSA2())
	f.clock.advance(minRefreshInterval)
	token := "Bearer " + sign(t, jwt.SigningMethodRS256, rsa2, "rsa-2", f.claims(nil))
	var wg sync.WaitGroup
	statuses := make([]int, 16)
	for i := range statuses {
		wg.Go(func() { statuses[i] = do(t, f.auth, token).status })
	}
	wg.Wait()
	if hits := f.jwks.hits.Load(); hits != 2 {
		t.Errorf("JWKS fetched %d times, want 2 (startup and one reload)", hits)
	}
	// The requests that waited for the reload see the new key too.
	for i, s := range statuses {
		if s != http.StatusOK {
			t.Errorf("request %d: status %d, want 200", i, s)
		}
	}
}

func TestJWKSFile(t *testing.T) {
	testKeys(t)
	clk := newClock()
	body, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{jwkEC1()}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(path, body, 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := newAuthenticator(t.Context(), config.Auth{JWT: config.JWT{Issuer: issuer, Audiences: []string{audEntra}, JWKSFile: path}}, nil, clk.now, clk.after)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	claims := jwt.MapClaims{"iss": issuer, "aud": audEntra, "exp": clk.now().Add(time.Hour).Unix()}
	tests := []struct {
		name   string
		header string
		want   int
	}{
		{name: "token signed by the file's key", header: "Bearer " + sign(t, jwt.SigningMethodES256, ec1, "ec-1", claims), want: http.StatusOK},
		{name: "static token without static secrets", header: "Bearer " + staticOld, want: http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := do(t, a, tt.header); got.status != tt.want {
				t.Errorf("status %d (%s), want %d", got.status, got.detail, tt.want)
			}
		})
	}
}

func TestNoMethodConfigured(t *testing.T) {
	logs := &syncBuffer{}
	a, err := New(t.Context(), config.Auth{}, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for _, header := range []string{"Bearer anything", "Bearer a.b.c", ""} {
		t.Run(header, func(t *testing.T) {
			if got := do(t, a, header); got.status != http.StatusUnauthorized || got.passed {
				t.Errorf("status %d, want 401", got.status)
			}
		})
	}
	if !strings.Contains(logs.String(), "every SCIM request will be rejected") {
		t.Errorf("no startup warning in %q", logs)
	}
}

func TestNewErrors(t *testing.T) {
	testKeys(t)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	emptyFile := filepath.Join(dir, "empty")
	if err := os.WriteFile(emptyFile, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	jwtCfg := func(url string) config.Auth {
		return config.Auth{JWT: config.JWT{Issuer: issuer, Audiences: []string{audEntra}, JWKSURL: url}}
	}
	serve := func(status int, body string) string {
		s := newJWKSServer(t)
		s.setBody(status, []byte(body))
		return s.URL
	}
	keysOnly := func(keys ...jose.JSONWebKey) string {
		b, err := json.Marshal(jose.JSONWebKeySet{Keys: keys})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	canceled, cancel := context.WithCancel(t.Context())
	cancel()

	tests := []struct {
		name    string
		ctx     context.Context
		cfg     config.Auth
		wantErr []string
		wantIs  error
	}{
		{name: "invalid config", cfg: config.Auth{JWT: config.JWT{Issuer: issuer}},
			wantErr: []string{"auth.jwt: issuer, audiences and one of jwks_url/jwks_file are required together"}, wantIs: config.ErrInvalid},
		{name: "missing token file", cfg: config.Auth{TokenFiles: []string{filepath.Join(dir, "nope")}},
			wantErr: []string{"auth.token_files[0]", "no such file"}, wantIs: os.ErrNotExist},
		{name: "empty token file", cfg: config.Auth{TokenFiles: []string{emptyFile}},
			wantErr: []string{"auth.token_files[0]", "is empty"}},
		{name: "JWKS not JSON", cfg: jwtCfg(serve(http.StatusOK, "<html>")),
			wantErr: []string{"parsing JWKS"}},
		{name: "JWKS without usable keys", cfg: jwtCfg(serve(http.StatusOK, keysOnly(
			jose.JSONWebKey{Key: hmacSecret, KeyID: "hmac"},
			jose.JSONWebKey{Key: &small.PublicKey, KeyID: "small"},
			jose.JSONWebKey{Key: &rsa1.PublicKey, KeyID: "enc", Use: "enc"},
		))), wantErr: []string{"JWKS has no usable signing key"}},
		{name: "JWKS file missing", cfg: config.Auth{JWT: config.JWT{Issuer: issuer, Audiences: []string{audEntra}, JWKSFile: filepath.Join(dir, "nope.json")}},
			wantErr: []string{"auth.jwt: loading JWKS from", "no such file"}, wantIs: os.ErrNotExist},
		{name: "context canceled", ctx: canceled, cfg: jwtCfg(serve(http.StatusOK, keysOnly(jwkRSA1()))),
			wantErr: []string{"context canceled"}, wantIs: context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := tt.ctx
			if ctx == nil {
				ctx = t.Context()
			}
			a, err := New(ctx, tt.cfg, nil)
			if err == nil {
				a.Close()
				t.Fatalf("New: no error, want %q", tt.wantErr)
			}
			for _, s := range tt.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.wantIs)
			}
		})
	}
}

func TestCloseTwice(t *testing.T) {
	f := newFixture(t)
	if err := f.auth.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.auth.Close(); err != nil {
		t.Fatal(err)
	}
	// Requests still work with the cached keys after Close.
	if got := do(t, f.auth, "Bearer "+sign(t, jwt.SigningMethodRS256, rsa1, "rsa-1", f.claims(nil))); got.status != http.StatusOK {
		t.Errorf("status %d after Close, want 200", got.status)
	}
}

func TestLooksLikeJWT(t *testing.T) {
	tests := []struct {
		token string
		want  bool
	}{
		{"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", true},
		{"eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", true},
		{"a.b", false},
		{"a.b.c.d", false},
		{".b.c", false},
		{"a.b.c=", false},
		{"a+b.c.d", false},
		{"plain-secret", false},
	}
	for _, tt := range tests {
		t.Run(tt.token, func(t *testing.T) {
			if got := looksLikeJWT(tt.token); got != tt.want {
				t.Errorf("looksLikeJWT(%q) = %v, want %v", tt.token, got, tt.want)
			}
		})
	}
}

// TestJWKSNotFetchedAtStartup: a JWKS URL that cannot be fetched at
// startup does not stop New: JWTs are refused with the reason, static
// secrets work, and the JWKS is fetched again with a doubling wait until
// it loads.
func TestJWKSNotFetchedAtStartup(t *testing.T) {
	testKeys(t)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	jwks := newJWKSServer(t)
	jwks.setBody(http.StatusServiceUnavailable, []byte("down for maintenance"))
	tests := []struct {
		name       string
		url        string
		wantDetail string // the detail starts with it
	}{
		{name: "error status", url: jwks.URL + "/keys",
			wantDetail: "signing keys not loaded yet: unexpected HTTP status 503 Service Unavailable"},
		{name: "unreachable", url: closed.URL + "/keys",
			wantDetail: `signing keys not loaded yet: Get "` + closed.URL + `/keys": dial tcp`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk, logs := newClock(), &syncBuffer{}
			cfg := config.Auth{Tokens: []config.Secret{staticOld},
				JWT: config.JWT{Issuer: issuer, Audiences: []string{audEntra}, JWKSURL: tt.url}}
			a, err := newAuthenticator(t.Context(), cfg, slog.New(slog.NewTextHandler(logs, nil)), clk.now, clk.after)
			if err != nil {
				t.Fatalf("New: %v, want it to start without the keys", err)
			}
			defer a.Close()
			if !strings.Contains(logs.String(), "JWKS cannot be fetched") {
				t.Errorf("no startup warning in %q", logs)
			}
			jwtHeader := "Bearer " + sign(t, jwt.SigningMethodRS256, rsa1, "rsa-1", jwt.MapClaims{
				"iss": issuer, "aud": audEntra, "exp": clk.now().Add(time.Hour).Unix()})
			got := do(t, a, jwtHeader)
			if got.status != http.StatusUnauthorized || !strings.HasPrefix(got.detail, tt.wantDetail) {
				t.Errorf("JWT: status %d detail %q, want 401 %q...", got.status, got.detail, tt.wantDetail)
			}
			if want := invalid(strings.ReplaceAll(got.detail, `"`, "'")); got.challenge != want {
				t.Errorf("challenge %q, want %q", got.challenge, want)
			}
			if got := do(t, a, "Bearer "+staticOld); got.status != http.StatusOK {
				t.Errorf("static secret: status %d (%s), want 200", got.status, got.detail)
			}
		})
	}

	t.Run("loads once served", func(t *testing.T) {
		clk, logs := newClock(), &syncBuffer{}
		hits := jwks.hits.Load()
		cfg := config.Auth{JWT: config.JWT{Issuer: issuer, Audiences: []string{audEntra}, JWKSURL: jwks.URL + "/keys"}}
		a, err := newAuthenticator(t.Context(), cfg, slog.New(slog.NewTextHandler(logs, nil)), clk.now, clk.after)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		token := func() string {
			return "Bearer " + sign(t, jwt.SigningMethodRS256, rsa1, "rsa-1", jwt.MapClaims{
				"iss": issuer, "aud": audEntra, "exp": clk.now().Add(time.Hour).Unix()})
		}
		for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
			if d := clk.nextWait(t); d != want {
				t.Fatalf("wait %d: %v, want %v", i+1, d, want)
			}
			if got := do(t, a, token()); got.status != http.StatusUnauthorized || !strings.HasPrefix(got.detail, "signing keys not loaded yet: ") {
				t.Errorf("before wait %d: status %d detail %q, want 401 signing keys not loaded yet", i+1, got.status, got.detail)
			}
			if i == 2 {
				jwks.set(t, jwkRSA1()) // the issuer's endpoint is back
			}
			clk.advance(want)
		}
		// Loaded: the next wait is the hourly refresh.
		if d := clk.nextWait(t); d != refreshInterval {
			t.Fatalf("wait after loading: %v, want %v", d, refreshInterval)
		}
		if got := do(t, a, token()); got.status != http.StatusOK || !got.passed {
			t.Errorf("JWT once loaded: status %d (%s), want 200", got.status, got.detail)
		}
		if n := jwks.hits.Load() - hits; n != 4 {
			t.Errorf("JWKS fetched %d times, want 4 (startup and three retries)", n)
		}
		// The JWKS lines: one when it cannot be fetched, one when it loads.
		if n := strings.Count(logs.String(), `msg="JWKS `); n != 2 || !strings.Contains(logs.String(), "JWKS loaded: JWT bearer tokens are accepted") {
			t.Errorf("log, want the startup warning and the loaded line only:\n%s", logs)
		}
	})
}
