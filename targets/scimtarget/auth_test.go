package scimtarget

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimgate/scimgate/targets"
)

// fakeTokens is an OAuth 2.0 token endpoint: it issues tokens tok-1,
// tok-2, ... valid for ExpiresIn seconds to the client scimgate/s3cret,
// and answers Status instead when that is set.
type fakeTokens struct {
	ExpiresIn int
	Status    int

	mu     sync.Mutex
	issued int
	forms  []string // the scope and audience of each request
}

func (f *fakeTokens) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id, secret, _ := r.BasicAuth()
	w.Header().Set("Content-Type", "application/json")
	switch {
	case f.Status != 0:
		w.WriteHeader(f.Status)
		fmt.Fprint(w, `{"error":"temporarily_unavailable"}`)
	case id != "scimgate" || secret != "s3cret" || r.PostFormValue("grant_type") != "client_credentials":
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error":"invalid_client","error_description":"who are you"}`)
	default:
		f.issued++
		f.forms = append(f.forms, "scope="+r.PostFormValue("scope")+" audience="+r.PostFormValue("audience"))
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": fmt.Sprint("tok-", f.issued), "token_type": "bearer", "expires_in": f.ExpiresIn})
	}
}

func (f *fakeTokens) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.issued
}

// oauthConfig points a configuration at a token endpoint.
func oauthConfig(t *testing.T, tokenURL, secret string) func(*Config) {
	return func(c *Config) {
		t.Setenv("SCIMTARGET_CLIENT_SECRET", secret)
		c.BearerTokenEnv = ""
		c.OAuth2 = &OAuth2Config{TokenURL: tokenURL, ClientID: "scimgate", ClientSecretEnv: "SCIMTARGET_CLIENT_SECRET",
			Scopes: []string{"scim.write", "scim.read"}, Params: map[string]string{"audience": "https://app"}}
	}
}

// authorizations returns the Authorization headers of the requests.
func authorizations(reqs []recorded) []string {
	var out []string
	for _, r := range reqs {
		out = append(out, r.header.Get("Authorization"))
	}
	return out
}

// TestOAuthTokens: the token is fetched once and reused, renewed when it
// is about to expire (on the connector's clock) and when the service
// refuses it; a refused client is permanent, an unavailable endpoint
// transient.
func TestOAuthTokens(t *testing.T) {
	tokens := &fakeTokens{ExpiresIn: 3600}
	ts := httptest.NewServer(tokens)
	defer ts.Close()
	f := &fakeSCIM{}
	c, clk := openFake(t, f, oauthConfig(t, ts.URL, "s3cret"))
	f.put(map[string]any{"id": "u-1", "userName": "u"})
	get := func(what string) {
		t.Helper()
		if _, err := c.Get(t.Context(), targets.User, "u-1"); err != nil {
			t.Fatalf("%s: Get: %v", what, err)
		}
	}
	get("first")
	get("second")
	clk.advance(3600*time.Second - expiryMargin - time.Second)
	get("just before the margin")
	if n := tokens.count(); n != 1 {
		t.Fatalf("%d tokens issued for Open and three calls within the lifetime, want 1", n)
	}
	clk.advance(time.Second)
	get("within the margin")
	if n := tokens.count(); n != 2 {
		t.Fatalf("%d tokens issued after the first expired, want 2", n)
	}
	f.respond("GET /scim/Users/u-1", http.StatusUnauthorized, `{"detail":"token revoked"}`)
	get("after a 401")
	if got, want := authorizations(f.requests()), []string{"Bearer tok-1", "Bearer tok-1", "Bearer tok-1", "Bearer tok-2", "Bearer tok-2", "Bearer tok-3"}; !slices.Equal(got, want) {
		t.Errorf("Authorization headers %q, want %q", got, want)
	}
	if want := "scope=scim.write scim.read audience=https://app"; tokens.forms[0] != want {
		t.Errorf("token request %q, want %q", tokens.forms[0], want)
	}

	f.respond("GET", http.StatusUnauthorized, "")
	f.respond("GET", http.StatusUnauthorized, "")
	_, err := c.Get(t.Context(), targets.User, "u-1")
	mustClass(t, "Get refused twice", err, targets.ErrPermanent)

	clk.advance(time.Hour)
	tokens.mu.Lock()
	tokens.Status = http.StatusServiceUnavailable
	tokens.mu.Unlock()
	_, err = c.Get(t.Context(), targets.User, "u-1")
	mustClass(t, "Get while the token endpoint is down", err, targets.ErrTransient)
	if !strings.Contains(err.Error(), "oauth2 token endpoint") {
		t.Errorf("error %q does not say that the token endpoint failed", err)
	}

	t.Run("wrong secret", func(t *testing.T) {
		tokens.mu.Lock()
		tokens.Status = 0
		tokens.mu.Unlock()
		cfg := Config{BaseURL: c.base}
		oauthConfig(t, ts.URL, "wrong-secret")(&cfg)
		_, err := cfg.Open(t.Context(), targets.Env{Name: "saas"})
		mustClass(t, "Open with a wrong client secret", err, targets.ErrPermanent)
		if !strings.Contains(err.Error(), "invalid_client") || strings.Contains(err.Error(), "wrong-secret") {
			t.Errorf("error %q: want invalid_client, without the secret", err)
		}
	})
}

// TestRateLimit: requests wait for the rate limit on the connector's
// clock, and a cancelled wait returns at once.
func TestRateLimit(t *testing.T) {
	f := &fakeSCIM{}
	c, clk := openFake(t, f, func(c *Config) { c.RateLimit, c.RateBurst = 2, 1 })
	f.put(map[string]any{"id": "u-1", "userName": "u"})
	clk.takeWaits()
	clk.advance(time.Second) // a full bucket
	for range 3 {
		if _, err := c.Get(t.Context(), targets.User, "u-1"); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := clk.takeWaits(), []time.Duration{500 * time.Millisecond, 500 * time.Millisecond}; !slices.Equal(got, want) {
		t.Errorf("waits %v, want %v", got, want)
	}
	clk.mu.Lock()
	clk.block = true
	clk.mu.Unlock()
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := c.Get(ctx, targets.User, "u-1")
	mustClass(t, "Get cut short while waiting for the rate limit", err, targets.ErrTransient)
	if n := len(f.requests()); n != 3 {
		t.Errorf("%d requests, want the 3 that the limit let through", n)
	}
}

// TestTLS: a service with a certificate from a private CA is reached with
// tls.ca_file, refused (permanently) without it; a service that requires a
// client certificate gets tls.cert_file.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("SCIMTARGET_TLS_TOKEN", fakeToken)
	ts := httptest.NewUnstartedServer(&fakeSCIM{})
	ts.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
	ts.StartTLS()
	defer ts.Close()
	caFile := filepath.Join(dir, "ca.pem")
	writePEM(t, caFile, "CERTIFICATE", ts.Certificate().Raw)
	open := func(base string, mutate func(*Config)) error {
		cfg := Config{BaseURL: base + "/scim", BearerTokenEnv: "SCIMTARGET_TLS_TOKEN"}
		mutate(&cfg)
		c, err := cfg.Open(t.Context(), targets.Env{Name: "saas"})
		if err == nil {
			c.Close(t.Context())
		}
		return err
	}
	if err := open(ts.URL, func(c *Config) { c.TLS.CAFile = caFile }); err != nil {
		t.Fatalf("Open with tls.ca_file: %v", err)
	}
	err := open(ts.URL, func(c *Config) {})
	mustClass(t, "Open without the CA", err, targets.ErrPermanent)
	if !strings.Contains(err.Error(), "tls.ca_file") {
		t.Errorf("error %q does not point at tls.ca_file", err)
	}
	err = open(ts.URL, func(c *Config) { c.TLS.CAFile, c.TLS.ServerName = caFile, "other.example" })
	mustClass(t, "Open verifying another name", err, targets.ErrPermanent)

	certFile, keyFile, clientCert := clientCertificate(t, dir)
	pool := x509.NewCertPool()
	pool.AddCert(clientCert)
	mtls := httptest.NewUnstartedServer(&fakeSCIM{})
	mtls.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	mtls.Config.ErrorLog = log.New(io.Discard, "", 0)
	mtls.StartTLS()
	defer mtls.Close()
	mtlsCA := filepath.Join(dir, "mtls-ca.pem")
	writePEM(t, mtlsCA, "CERTIFICATE", mtls.Certificate().Raw)
	if err := open(mtls.URL, func(c *Config) { c.TLS = targets.TLSConfig{CAFile: mtlsCA, CertFile: certFile, KeyFile: keyFile} }); err != nil {
		t.Fatalf("Open with a client certificate: %v", err)
	}
	err = open(mtls.URL, func(c *Config) { c.TLS = targets.TLSConfig{CAFile: mtlsCA} })
	mustClass(t, "Open without the client certificate the service requires", err, targets.ErrPermanent)
	err = open(mtls.URL, func(c *Config) {
		c.TLS = targets.TLSConfig{CAFile: mtlsCA, CertFile: filepath.Join(dir, "nope.pem"), KeyFile: keyFile}
	})
	if !strings.Contains(err.Error(), "tls.cert_file") {
		t.Errorf("Open with a missing cert_file: %v, want an error naming tls.cert_file", err)
	}
}

func writePEM(t *testing.T, file, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// clientCertificate writes a self-signed client certificate and its key.
func clientCertificate(t *testing.T, dir string) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "scimgate"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if cert, err = x509.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "EC PRIVATE KEY", keyDER)
	return certFile, keyFile, cert
}
