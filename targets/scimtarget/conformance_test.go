package scimtarget_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
	"gopkg.in/yaml.v3"

	"github.com/scimgate/scimgate/conformance/connector"
	"github.com/scimgate/scimgate/internal/config"
	"github.com/scimgate/scimgate/internal/gateway"
	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/registry"
)

const (
	enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	testExt    = "urn:ietf:params:scim:schemas:extension:Test:2.0:User"
	token      = "downstream-token-0123456789abcdef"
)

// schema is what the suite writes: SCIM paths of every supported form and
// value type (the gateway's custom extension holds the integer, decimal,
// boolean and multi-valued string attributes that the core schema lacks).
var schema = connector.Schema{
	UserName:  "userName",
	GroupName: "displayName",
	Text:      "displayName",
	Values: map[string]any{
		"name.givenName":                     "Ada",
		"emails.value":                       []string{"ada@example.com", "ada.lovelace@example.org"},
		`phoneNumbers[type eq "work"].value`: "+1 555 0100",
		`addresses[type eq "work"].locality`: "London",
		enterprise + ":department":           "Engineering",
		enterprise + ":manager.value":        "mgr-1",
		testExt + ":employeeCount":           int64(-1815),
		testExt + ":score":                   2.75,
		testExt + ":vip":                     true,
		testExt + ":tags":                    []string{"analyst", "engine"},
		"title":                              "Countess",
	},
}

// downstream starts the gateway's own SCIM server on a loopback port as
// the downstream service, with auth, and returns its SCIM base URL.
func downstream(t *testing.T, auth config.Auth) string {
	t.Helper()
	cfg := config.Defaults()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.Auth = auth
	cfg.SCIM.CustomExtensions = []config.Extension{{URN: testExt, Resource: "User", Attributes: []config.Attribute{
		{Name: "employeeCount", Type: "integer"}, {Name: "score", Type: "decimal"},
		{Name: "vip", Type: "boolean"}, {Name: "tags", Type: "string", MultiValued: true}}}}
	ctx, cancel := context.WithCancel(context.Background())
	g, err := gateway.New(ctx, cfg, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		cancel()
		t.Fatalf("gateway.New: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- g.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("downstream gateway: Serve: %v", err)
		}
	})
	return g.BaseURL()
}

// build opens a scim target from its YAML config through the registry.
func build(t *testing.T, doc string) targets.Connector {
	t.Helper()
	var tc targets.TargetConfig
	if err := yaml.Unmarshal([]byte("name: downstream\ntype: scim\nconfig:\n"+doc), &tc); err != nil {
		t.Fatal(err)
	}
	c, err := registry.New(registry.Services{}).Build(t.Context(), tc, targets.Env{}, targets.Retry{})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return c
}

// secretFile writes a secret to a file and returns its name.
func secretFile(t *testing.T, secret string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(f, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestConformanceBearer(t *testing.T) {
	base := downstream(t, config.Auth{Tokens: []config.Secret{token}})
	doc := fmt.Sprintf("  base_url: %s\n  bearer_token_file: %s\n  groups: {}\n", base, secretFile(t, token))
	connector.Run(t, func(t *testing.T) targets.Connector { return build(t, doc) }, connector.WithSchema(schema))
}

// tokenEndpoint is an OAuth 2.0 token endpoint (client credentials) that
// issues RS256 JWTs, whose keys it serves as a JWKS, and counts the tokens
// it issued.
type tokenEndpoint struct {
	*httptest.Server
	key    *rsa.PrivateKey
	issued atomic.Int64
}

const (
	clientID     = "scimgate"
	clientSecret = "client-secret-0123456789"
	issuer       = "https://issuer.test/"
	audience     = "api://downstream"
)

func newTokenEndpoint(t *testing.T) *tokenEndpoint {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	te := &tokenEndpoint{key: key}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		id, secret, ok := r.BasicAuth()
		if !ok {
			id, secret = r.PostFormValue("client_id"), r.PostFormValue("client_secret")
		}
		if r.PostFormValue("grant_type") != "client_credentials" || id != clientID || secret != clientSecret {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":"invalid_client"}`)
			return
		}
		n := te.issued.Add(1)
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.RegisteredClaims{
			Issuer: issuer, Audience: jwt.ClaimStrings{audience}, Subject: clientID, ID: fmt.Sprint(n),
			IssuedAt: jwt.NewNumericDate(time.Now()), ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour)),
		})
		tok.Header["kid"] = "k1"
		s, err := tok.SignedString(key)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": s, "token_type": "Bearer", "expires_in": 3600})
	})
	te.Server = httptest.NewServer(mux)
	t.Cleanup(te.Close)
	return te
}

// TestConformanceClientCredentials: the suite passes against a gateway
// that validates JWTs from a local token endpoint, which the connector
// gets with the client credentials grant; each connector gets one token
// and keeps it for all its requests.
func TestConformanceClientCredentials(t *testing.T) {
	te := newTokenEndpoint(t)
	base := downstream(t, config.Auth{JWT: config.JWT{Issuer: issuer, Audiences: []string{audience}, JWKSURL: te.URL + "/jwks"}})
	docFor := func(secret string) string {
		return fmt.Sprintf(`  base_url: %s
  oauth2:
    token_url: %s/token
    client_id: %s
    client_secret_file: %s
    scopes: [scim]
  groups: {}
`, base, te.URL, clientID, secretFile(t, secret))
	}
	doc := docFor(clientSecret)
	var opened atomic.Int64
	connector.Run(t, func(t *testing.T) targets.Connector {
		opened.Add(1)
		return build(t, doc)
	}, connector.WithSchema(schema))
	if got, want := te.issued.Load(), opened.Load(); got != want {
		t.Errorf("the token endpoint issued %d tokens to %d connectors, want one each (cached)", got, want)
	}

	t.Run("wrong secret", func(t *testing.T) {
		var tc targets.TargetConfig
		bad := docFor("wrong-secret")
		if err := yaml.Unmarshal([]byte("name: downstream\ntype: scim\nconfig:\n"+bad), &tc); err != nil {
			t.Fatal(err)
		}
		_, err := registry.New(registry.Services{}).Build(t.Context(), tc, targets.Env{}, targets.Retry{})
		if err == nil || !strings.Contains(err.Error(), "invalid_client") || targets.Class(err) != targets.ErrPermanent {
			t.Fatalf("Build with a wrong client secret: %v, want a permanent invalid_client error", err)
		}
		if strings.Contains(err.Error(), "wrong-secret") {
			t.Errorf("the error shows the secret: %v", err)
		}
	})
}

// TestConformancePUT: against a service that declares no PATCH support
// (the gateway behind a proxy that says so and refuses PATCH), every
// update is a GET and a PUT with If-Match.
func TestConformancePUT(t *testing.T) {
	base := downstream(t, config.Auth{Tokens: []config.Secret{token}})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	var puts, ifMatch, patches atomic.Int64
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: u.Scheme, Host: u.Host})
	proxy.ModifyResponse = func(r *http.Response) error {
		if !strings.HasSuffix(r.Request.URL.Path, "/ServiceProviderConfig") || r.StatusCode != http.StatusOK {
			return nil
		}
		var spc map[string]any
		if err := json.NewDecoder(r.Body).Decode(&spc); err != nil {
			return err
		}
		r.Body.Close()
		spc["patch"] = map[string]any{"supported": false}
		b, _ := json.Marshal(spc)
		r.Body = io.NopCloser(strings.NewReader(string(b)))
		r.ContentLength = int64(len(b))
		r.Header.Set("Content-Length", fmt.Sprint(len(b)))
		return nil
	}
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPatch:
			patches.Add(1)
			http.Error(w, `{"status":"501","detail":"PATCH is not supported"}`, http.StatusNotImplemented)
			return
		case http.MethodPut:
			puts.Add(1)
			if r.Header.Get("If-Match") != "" {
				ifMatch.Add(1)
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	doc := fmt.Sprintf("  base_url: %s%s\n  bearer_token_env: SCIMTARGET_TEST_TOKEN\n  groups: {}\n", front.URL, u.Path)
	t.Setenv("SCIMTARGET_TEST_TOKEN", token)
	connector.Run(t, func(t *testing.T) targets.Connector { return build(t, doc) }, connector.WithSchema(schema))
	if patches.Load() != 0 || puts.Load() == 0 || ifMatch.Load() != puts.Load() {
		t.Errorf("%d PATCH, %d PUT of which %d with If-Match; want no PATCH and every PUT with If-Match", patches.Load(), puts.Load(), ifMatch.Load())
	}
}

// TestLookup: Lookup finds users by attributes of each form, with values
// passed as escaped SCIM strings (never as filter text).
func TestLookup(t *testing.T) {
	base := downstream(t, config.Auth{Tokens: []config.Secret{token}})
	c := build(t, fmt.Sprintf("  base_url: %s\n  bearer_token_file: %s\n", base, secretFile(t, token)))
	defer c.Close(context.Background())
	f, ok := c.(targets.Finder)
	if !ok || !c.Capabilities().Lookup {
		t.Fatalf("%T does not declare and implement Lookup", c)
	}
	names := []string{`a"b`, `a\b`, `a*`, `ab`, `x" or userName pr or userName eq "y`, `ünï 👩🏽‍💻`, `a) or (b`}
	anchors := map[string]string{}
	for i, n := range names {
		anchor, err := c.Create(t.Context(), targets.Op{ID: fmt.Sprint("op", i), ObjectID: fmt.Sprint("obj-", i), Kind: targets.User,
			Attrs: map[string]any{"userName": n, `emails[type eq "work"].value`: fmt.Sprintf("u%d@example.com", i), enterprise + ":employeeNumber": fmt.Sprint(1000 + i)}})
		if err != nil {
			t.Fatalf("Create %q: %v", n, err)
		}
		anchors[n] = anchor
	}
	for i, n := range names {
		for _, q := range []struct {
			attr  string
			value any
		}{{"userName", n}, {`emails[type eq "work"].value`, fmt.Sprintf("u%d@example.com", i)}, {enterprise + ":employeeNumber", fmt.Sprint(1000 + i)}, {"externalId", fmt.Sprint("obj-", i)}} {
			got, err := f.Lookup(t.Context(), targets.User, q.attr, q.value, 0)
			if err != nil {
				t.Fatalf("Lookup %s %q: %v", q.attr, q.value, err)
			}
			if len(got) != 1 || got[0].Anchor != anchors[n] || got[0].ObjectID != fmt.Sprint("obj-", i) {
				t.Errorf("Lookup %s %q: %+v, want only %s", q.attr, q.value, got, anchors[n])
			}
		}
	}
	if got, err := f.Lookup(t.Context(), targets.User, "userName", "nobody", 0); err != nil || len(got) != 0 {
		t.Errorf("Lookup of a missing user: %v, %v; want none", got, err)
	}
	for _, attr := range []string{`emails[value sw "a"]`, "nickNameX", testExt + ":nothing"} {
		_, err := f.Lookup(t.Context(), targets.User, attr, "x", 0)
		if targets.Class(err) != targets.ErrPermanent || !strings.Contains(err.Error(), fmt.Sprintf("%q", attr)) {
			t.Errorf("Lookup by %s: %v, want a permanent error naming it", attr, err)
		}
	}
}

// TestExample: a gateway configured by the shipped
// examples/scim-downstream.yaml (its base_url pointed at a second gateway
// as the app) provisions what Entra sends it into the app: a user with
// every mapped attribute, a group with the user as member, and the user
// disabled.
func TestExample(t *testing.T) {
	cfg, err := config.Load("../../examples/scim-downstream.yaml", nil)
	if err != nil {
		t.Fatalf("scim-downstream.yaml: %v", err)
	}
	if len(cfg.Targets) != 1 || cfg.Targets[0].Type != "scim" {
		t.Fatalf("targets %+v, want one of type scim", cfg.Targets)
	}
	app := downstream(t, config.Auth{Tokens: []config.Secret{token}})
	t.Setenv("SAAS_SCIM_TOKEN", token)
	node := &cfg.Targets[0].Config
	for i := 0; i+1 < len(node.Content); i += 2 {
		if node.Content[i].Value == "base_url" {
			node.Content[i+1].Value = app
		}
	}
	const upstreamToken = "entra-token-0123456789abcdef0123456789"
	cfg.Listen, cfg.DataDir = "127.0.0.1:0", t.TempDir()
	cfg.Auth = config.Auth{Tokens: []config.Secret{upstreamToken}}
	ctx, cancel := context.WithCancel(context.Background())
	g, err := gateway.New(ctx, cfg, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		cancel()
		t.Fatalf("gateway.New with the example: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- g.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("gateway: Serve: %v", err)
		}
	})
	entra := g.BaseURL()

	status, u := call(t, http.MethodPost, entra+"/Users", upstreamToken, map[string]any{
		"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User", enterprise}, "externalId": "ext-ada",
		"userName": "ada@contoso.com", "displayName": "Ada Lovelace", "title": "Analyst", "active": true,
		"name":     map[string]any{"givenName": "Ada", "familyName": "Lovelace"},
		"emails":   []any{map[string]any{"type": "work", "value": "ada@contoso.com", "primary": true}},
		enterprise: map[string]any{"department": "Engines"}})
	if status != http.StatusCreated {
		t.Fatalf("POST /Users to the gateway: %d %v", status, u)
	}
	id := u["id"].(string)
	if status, g := call(t, http.MethodPost, entra+"/Groups", upstreamToken, map[string]any{"displayName": "Analysts",
		"members": []any{map[string]any{"value": id}}}); status != http.StatusCreated {
		t.Fatalf("POST /Groups to the gateway: %d %v", status, g)
	}
	// The app's view, through its own SCIM API.
	appUser := func() map[string]any {
		_, l := call(t, http.MethodGet, app+"/Users?filter="+url.QueryEscape(`userName eq "ada@contoso.com"`), token, nil)
		if rs, _ := l["Resources"].([]any); len(rs) == 1 {
			return rs[0].(map[string]any)
		}
		return nil
	}
	var appID string
	waitFor(t, "the user in the app", func() (bool, string) {
		r := appUser()
		if r == nil {
			return false, "no user"
		}
		appID, _ = r["id"].(string)
		b, _ := json.Marshal(r)
		ok := r["externalId"] == id && r["displayName"] == "Ada Lovelace" && r["title"] == "Analyst" &&
			r["name"].(map[string]any)["familyName"] == "Lovelace" &&
			strings.Contains(string(b), `"emails":[{"type":"work","value":"ada@contoso.com"}]`) &&
			strings.Contains(string(b), `"department":"Engines"`)
		return ok, string(b)
	})
	waitFor(t, "the group with its member in the app", func() (bool, string) {
		_, l := call(t, http.MethodGet, app+"/Groups?filter="+url.QueryEscape(`displayName eq "Analysts"`), token, nil)
		b, _ := json.Marshal(l)
		return strings.Contains(string(b), `"value":"`+appID+`"`), string(b)
	})
	if status, r := call(t, http.MethodPatch, entra+"/Users/"+id, upstreamToken, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []any{map[string]any{"op": "Replace", "path": "active", "value": "False"}}}); status != http.StatusOK {
		t.Fatalf("PATCH active to the gateway: %d %v", status, r)
	}
	waitFor(t, "the user disabled in the app", func() (bool, string) {
		r := appUser()
		return r != nil && r["active"] == false, fmt.Sprint(r)
	})
}

// call sends a SCIM request and decodes the response.
func call(t *testing.T, method, u, tok string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = strings.NewReader(string(b))
	}
	req, err := http.NewRequestWithContext(t.Context(), method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// waitFor polls cond until it holds, for at most 30 seconds: the gateway
// delivers in the background.
func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; last: %s", what, detail)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
