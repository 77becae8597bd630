// Package graphtest is a local fake of a Microsoft Entra tenant for tests:
// the token endpoint of the Microsoft identity platform (OAuth 2.0 client
// credentials with a client secret, a certificate's client assertion or a
// federated workload identity token), the App Service managed identity
// endpoint, and the part of Microsoft Graph v1.0 that scimgate calls, all
// over TLS with a generated CA, on a loopback port.
//
// It behaves as Microsoft documents it: access tokens are JWTs whose roles
// claim lists the application permissions the test granted; every Graph
// call checks the permission it needs and answers 403
// Authorization_RequestDenied without it; errors have Graph's body
// ({"error":{"code","message","innerError"}}); collections page with
// @odata.nextLink; $select picks properties (signInActivity only with
// AuditLog.Read.All); member references are added with POST
// .../members/$ref (400 "One or more added object references already
// exist" for a member) and removed with DELETE .../members/{id}/$ref (404
// for a non-member); dynamic groups refuse member changes; members/$count
// needs ConsistencyLevel: eventual; JSON batching takes up to 20 requests.
//
// Faults are injected with Throttle (429 with Retry-After) and Fail (503,
// 504), requests are recorded (Requests, Count), and DELETE
// /groups/{id}/members/{id} without /$ref, which deletes the object in
// real Graph, is recorded as a violation that fails the test unless the
// test takes it with TakeViolations.
package graphtest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// TenantID is the tenant of every Server.
const TenantID = "7d3c2f1e-5b4a-4c3d-9e8f-a1b2c3d4e5f6"

// FederationAudience is the audience of federated (workload identity)
// tokens that Entra accepts.
const FederationAudience = "api://AzureADTokenExchange"

// App is an app registration (or a managed identity) of the tenant, with
// the application permissions granted to it.
type App struct {
	ClientID string
	// Secret is its client secret ("" for none).
	Secret string
	// Certificate is its certificate credential (nil for none): a client
	// assertion signed with its key is accepted.
	Certificate *x509.Certificate
	// FederatedSubjects are the subjects of its federated identity
	// credentials, for tokens of the Server's FederationIssuer.
	FederatedSubjects []string
	// ManagedIdentity makes it a managed identity reachable through the
	// App Service endpoint; SystemAssigned makes it the identity used
	// when the request names none.
	ManagedIdentity, SystemAssigned bool
	// Roles are the application permissions granted (admin consented):
	// "User.Read.All", "GroupMember.ReadWrite.All", ...
	Roles []string
}

// SignInActivity is a user's sign-in activity.
type SignInActivity struct {
	LastSignInDateTime               time.Time
	LastNonInteractiveSignInDateTime time.Time
	LastSuccessfulSignInDateTime     time.Time
}

// User is a user object.
type User struct {
	ID                string // assigned by AddUser when empty
	UserPrincipalName string
	DisplayName       string
	GivenName         string
	Surname           string
	Mail              string
	JobTitle          string
	Department        string
	EmployeeID        string
	UserType          string // "Member" (default) or "Guest"
	ExternalUserState string // "PendingAcceptance", "Accepted" or ""
	AccountEnabled    bool
	CreatedDateTime   time.Time
	SignInActivity    *SignInActivity
	// SessionsRevoked counts revokeSignInSessions calls.
	SessionsRevoked int
	// TemporaryAccessPass is the user's Temporary Access Pass, nil when
	// none was created; a new one replaces it.
	TemporaryAccessPass *TemporaryAccessPass
}

// TemporaryAccessPass is a temporaryAccessPassAuthenticationMethod.
type TemporaryAccessPass struct {
	ID                string
	Pass              string // the code, returned only by the create
	CreatedDateTime   time.Time
	StartDateTime     time.Time
	LifetimeInMinutes int
	IsUsableOnce      bool
}

// Group is a group object.
type Group struct {
	ID              string // assigned by AddGroup when empty
	DisplayName     string
	Mail            string
	GroupTypes      []string // "Unified", "DynamicMembership"
	SecurityEnabled bool
	MailEnabled     bool
	// MembershipRule is the rule of a dynamic group (GroupTypes contains
	// DynamicMembership).
	MembershipRule string
	Members        []string // object ids of users and groups
	Owners         []string // object ids
}

// Dynamic reports whether the group's members follow its membership rule.
func (g Group) Dynamic() bool { return slices.Contains(g.GroupTypes, "DynamicMembership") }

// Request is a request the Server received. Path is the escaped path as
// it arrived ("/v1.0/users/a%23EXT%23%40b.com"); requests inside a $batch
// have Batch set and the path of their relative URL.
type Request struct {
	Method, Path string
	Query        url.Values
	Header       http.Header
	Batch        bool
}

// fault is an injected failure of the next Graph requests.
type fault struct {
	n          int
	status     int
	retryAfter string
}

// Server is a fake tenant. Its methods are safe for concurrent use.
type Server struct {
	URL           string // https://127.0.0.1:port
	GraphURL      string // URL + "/v1.0"
	AuthorityHost string // URL + "/": the authority host of azidentity's cloud configuration
	// FederationIssuer is the issuer of FederatedToken's tokens.
	FederationIssuer string
	// IdentityEndpoint and IdentityHeader are the App Service managed
	// identity endpoint (the IDENTITY_ENDPOINT and IDENTITY_HEADER
	// environment variables of an app).
	IdentityEndpoint, IdentityHeader string

	srv     *httptest.Server
	key     *rsa.PrivateKey // signs access tokens
	fedKey  *rsa.PrivateKey // signs federated tokens
	mu      sync.Mutex
	apps    map[string]*App
	users   []*User
	groups  []*Group
	deleted map[string]*User
	// noPremium makes signInActivity unavailable to the tenant.
	noPremium  bool
	faults     []fault
	requests   []Request
	violations []string
	tokens     int
}

// Start starts a fake tenant, stopped when the test ends. The test fails
// at its end if a violation was recorded and not taken.
func Start(t testing.TB) *Server {
	t.Helper()
	keys, err := signingKeys()
	if err != nil {
		t.Fatal(err)
	}
	key, fedKey := keys[0], keys[1]
	s := &Server{key: key, fedKey: fedKey, apps: map[string]*App{}, deleted: map[string]*User{},
		IdentityHeader: "identity-header-" + uuid.NewString()}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	// Handshakes cut short when the test closes its connections are not
	// the test's business.
	s.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.srv.StartTLS()
	s.URL = s.srv.URL
	s.GraphURL = s.URL + "/v1.0"
	s.AuthorityHost = s.URL + "/"
	s.FederationIssuer = s.URL + "/federation"
	s.IdentityEndpoint = s.URL + "/msi/token"
	t.Cleanup(func() {
		s.srv.Close()
		if v := s.TakeViolations(); len(v) > 0 {
			t.Errorf("graphtest: Graph calls that must never be made:\n%s", strings.Join(v, "\n"))
		}
	})
	return s
}

// signingKeys are the keys of the Servers of a test binary (generating
// RSA keys for each would cost most of a test's time): the access
// tokens' and the federation issuer's.
var signingKeys = sync.OnceValues(func() ([2]*rsa.PrivateKey, error) {
	var keys [2]*rsa.PrivateKey
	for i := range keys {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return keys, err
		}
		keys[i] = k
	}
	return keys, nil
})

// Client returns an HTTP client that trusts the Server's certificate.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// Transport returns a transport that trusts the Server's certificate.
func (s *Server) Transport() *http.Transport {
	return s.srv.Client().Transport.(*http.Transport).Clone()
}

// CertPool returns a pool holding the Server's CA certificate.
func (s *Server) CertPool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(s.srv.Certificate())
	return p
}

// TLSConfig returns a client TLS configuration that trusts the Server.
func (s *Server) TLSConfig() *tls.Config { return &tls.Config{RootCAs: s.CertPool()} }

// AddApp registers an app (replacing one with the same client id).
func (s *Server) AddApp(a App) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a.Roles = slices.Clone(a.Roles)
	s.apps[a.ClientID] = &a
}

// SetRoles replaces the permissions granted to an app. Tokens issued
// before keep the roles they list, as in Entra.
func (s *Server) SetRoles(clientID string, roles ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.apps[clientID]; a != nil {
		a.Roles = slices.Clone(roles)
	}
}

// SetMembers replaces a group's members (object ids), as a change made
// in Entra by someone else.
func (s *Server) SetMembers(groupID string, members []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g := s.group(groupID); g != nil {
		g.Members = slices.Clone(members)
	}
}

// SetOwners replaces a group's owners (object ids), as a change made in
// Entra by someone else.
func (s *Server) SetOwners(groupID string, owners []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g := s.group(groupID); g != nil {
		g.Owners = slices.Clone(owners)
	}
}

// SetPremium sets whether the tenant has the Entra ID P1/P2 licence that
// signInActivity needs (default true).
func (s *Server) SetPremium(premium bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noPremium = !premium
}

// AddUser adds a user and returns it with its id. UserType defaults to
// Member, CreatedDateTime to now.
func (s *Server) AddUser(u User) User {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u.ID == "" {
		u.ID = uuid.NewString()
	}
	if u.UserType == "" {
		u.UserType = "Member"
	}
	if u.CreatedDateTime.IsZero() {
		u.CreatedDateTime = time.Now().UTC().Truncate(time.Second)
	}
	if u.SignInActivity != nil {
		a := *u.SignInActivity
		u.SignInActivity = &a
	}
	s.users = append(s.users, &u)
	return u
}

// SignIn records a sign-in of the user with id or userPrincipalName key
// at at (its signInActivity's last and last successful sign-in); it
// reports false when there is no such user.
func (s *Server) SignIn(key string, at time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.user(key)
	if u == nil {
		return false
	}
	if u.SignInActivity == nil {
		u.SignInActivity = &SignInActivity{}
	}
	u.SignInActivity.LastSignInDateTime, u.SignInActivity.LastSuccessfulSignInDateTime = at, at
	return true
}

// AddGroup adds a group and returns it with its id.
func (s *Server) AddGroup(g Group) Group {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g.ID == "" {
		g.ID = uuid.NewString()
	}
	g.GroupTypes, g.Members, g.Owners = slices.Clone(g.GroupTypes), slices.Clone(g.Members), slices.Clone(g.Owners)
	s.groups = append(s.groups, &g)
	return g.clone()
}

func (g *Group) clone() Group {
	c := *g
	c.GroupTypes, c.Members, c.Owners = slices.Clone(g.GroupTypes), slices.Clone(g.Members), slices.Clone(g.Owners)
	return c
}

// User returns a user by id or userPrincipalName.
func (s *Server) User(key string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.user(key); u != nil {
		return *u, true
	}
	return User{}, false
}

// Group returns a group by id.
func (s *Server) Group(id string) (Group, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g := s.group(id); g != nil {
		return g.clone(), true
	}
	return Group{}, false
}

// Deleted reports whether the user with this id is in deleted items.
func (s *Server) Deleted(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deleted[id] != nil
}

// Throttle makes the next n Graph requests (sub-requests of a batch
// included) answer 429 Too Many Requests with Retry-After retryAfter
// (whole seconds; none when 0).
func (s *Server) Throttle(n int, retryAfter time.Duration) {
	h := ""
	if retryAfter > 0 {
		h = strconv.Itoa(int(retryAfter / time.Second))
	}
	s.inject(fault{n: n, status: http.StatusTooManyRequests, retryAfter: h})
}

// Fail makes the next n Graph requests answer status (503, 504, ...)
// without Retry-After.
func (s *Server) Fail(n, status int) { s.inject(fault{n: n, status: status}) }

func (s *Server) inject(f fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, f)
}

// Requests returns the Graph requests received so far (token endpoint
// requests excluded).
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Count returns how many Graph requests had this method and a path
// starting with prefix ("/v1.0/groups/").
func (s *Server) Count(method, prefix string) int {
	n := 0
	for _, r := range s.Requests() {
		if r.Method == method && strings.HasPrefix(r.Path, prefix) {
			n++
		}
	}
	return n
}

// TokensIssued returns how many access tokens the Server issued.
func (s *Server) TokensIssued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokens
}

// TakeViolations returns the recorded violations and forgets them.
func (s *Server) TakeViolations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.violations
	s.violations = nil
	return v
}

// AccessToken issues an access token for an app directly, as the Azure
// CLI would hand one out.
func (s *Server) AccessToken(clientID string) (string, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.apps[clientID]
	if a == nil {
		return "", time.Time{}, fmt.Errorf("graphtest: no app %q", clientID)
	}
	return s.issue(a, s.URL)
}

// FederatedToken returns a token of FederationIssuer for subject, as a
// workload identity's token file holds it.
func (s *Server) FederatedToken(subject string, ttl time.Duration) (string, error) {
	now := time.Now()
	return jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"iss": s.FederationIssuer, "sub": subject, "aud": FederationAudience,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(ttl).Unix(),
	}).SignedString(s.fedKey)
}

// FakeAzureCLI writes an `az` program into a new directory and returns
// the directory: put it first in PATH. It answers `az account
// get-access-token` for the Server's resource with a token of the app, as
// the Azure CLI does once a developer has signed in, and fails otherwise.
func (s *Server) FakeAzureCLI(t testing.TB, clientID string) string {
	t.Helper()
	tok, exp, err := s.AccessToken(clientID)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(map[string]any{"accessToken": tok, "expires_on": exp.Unix(), "tenant": TenantID, "tokenType": "Bearer"})
	dir := t.TempDir()
	script := fmt.Sprintf(`#!/bin/sh
case " $* " in
*" account get-access-token "*"--resource %s "*) printf '%%s\n' '%s' ;;
*) echo "ERROR: fake az: unexpected arguments: $*" >&2; exit 1 ;;
esac
`, s.URL, out)
	if err := os.WriteFile(filepath.Join(dir, "az"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// issue signs an access token for app a and audience aud. s.mu is held.
func (s *Server) issue(a *App, aud string) (string, time.Time, error) {
	now := time.Now()
	exp := now.Add(time.Hour)
	claims := jwt.MapClaims{
		"aud": aud, "iss": "https://sts.windows.net/" + TenantID + "/", "tid": TenantID,
		"appid": a.ClientID, "azp": a.ClientID, "oid": a.ClientID, "sub": a.ClientID, "idtyp": "app",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": exp.Unix(),
	}
	if len(a.Roles) > 0 {
		claims["roles"] = slices.Clone(a.Roles)
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(s.key)
	if err == nil {
		s.tokens++
	}
	return tok, exp, err
}

// serve routes a request.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	p := r.URL.EscapedPath()
	switch {
	case strings.HasPrefix(p, "/v1.0/"):
		s.serveGraph(w, r)
	case p == "/msi/token":
		s.serveManagedIdentity(w, r)
	case p == "/"+TenantID+"/v2.0/.well-known/openid-configuration":
		base := s.URL + "/" + TenantID
		writeJSON(w, http.StatusOK, map[string]any{
			"token_endpoint":         base + "/oauth2/v2.0/token",
			"authorization_endpoint": base + "/oauth2/v2.0/authorize",
			"issuer":                 base + "/v2.0",
		})
	case p == "/"+TenantID+"/oauth2/v2.0/token":
		s.serveToken(w, r)
	default:
		http.NotFound(w, r)
	}
}

// tokenError writes an error of the token endpoint (AADSTS).
func tokenError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]any{
		"error": code, "error_description": desc,
		"timestamp": time.Now().UTC().Format("2006-01-02 15:04:05Z"), "trace_id": uuid.NewString(), "correlation_id": uuid.NewString(),
	})
}

// serveToken is the v2.0 token endpoint, client credentials grant.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.ParseForm() != nil {
		tokenError(w, http.StatusBadRequest, "invalid_request", "AADSTS900561: The endpoint only accepts POST requests.")
		return
	}
	f := r.PostForm
	if f.Get("grant_type") != "client_credentials" {
		tokenError(w, http.StatusBadRequest, "unsupported_grant_type", "AADSTS70003: The app requested an unsupported grant type.")
		return
	}
	// MSAL adds the OpenID Connect scopes, which Entra ignores here.
	scope := f.Get("scope")
	var scopes []string
	for _, s := range strings.Fields(scope) {
		if !slices.Contains([]string{"openid", "offline_access", "profile"}, s) {
			scopes = append(scopes, s)
		}
	}
	var resource string
	ok := len(scopes) == 1
	if ok {
		resource, ok = strings.CutSuffix(scopes[0], "/.default")
	}
	if !ok {
		tokenError(w, http.StatusBadRequest, "invalid_scope", "AADSTS1002012: The provided value for scope "+scope+" is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier.")
		return
	}
	if resource != s.URL {
		tokenError(w, http.StatusBadRequest, "invalid_resource", "AADSTS500011: The resource principal named "+resource+" was not found in the tenant.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.apps[f.Get("client_id")]
	if a == nil || a.ManagedIdentity {
		tokenError(w, http.StatusBadRequest, "unauthorized_client", "AADSTS700016: Application with identifier '"+f.Get("client_id")+"' was not found in the directory.")
		return
	}
	switch {
	case f.Has("client_secret"):
		if a.Secret == "" || f.Get("client_secret") != a.Secret {
			tokenError(w, http.StatusUnauthorized, "invalid_client", "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.")
			return
		}
	case f.Get("client_assertion_type") == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
		if err := s.checkAssertion(a, f.Get("client_assertion")); err != nil {
			tokenError(w, http.StatusUnauthorized, "invalid_client", "AADSTS700027: Client assertion failed signature validation or is invalid: "+err.Error())
			return
		}
	default:
		tokenError(w, http.StatusUnauthorized, "invalid_client", "AADSTS7000218: The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
		return
	}
	tok, _, err := s.issue(a, resource)
	if err != nil {
		tokenError(w, http.StatusInternalServerError, "server_error", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": tok})
}

// checkAssertion verifies a client assertion: signed with the app's
// certificate (x5t#S256 or x5t names it; audience the token endpoint) or a
// federated token of FederationIssuer for one of the app's subjects.
func (s *Server) checkAssertion(a *App, assertion string) error {
	tokenEndpoint := s.URL + "/" + TenantID + "/oauth2/v2.0/token"
	var fed bool
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(assertion, claims, func(t *jwt.Token) (any, error) {
		if iss, _ := claims["iss"].(string); iss == s.FederationIssuer {
			fed = true
			return &s.fedKey.PublicKey, nil
		}
		if a.Certificate == nil {
			return nil, fmt.Errorf("the app has no certificate credential")
		}
		want256, want1 := sha256.Sum256(a.Certificate.Raw), sha1.Sum(a.Certificate.Raw)
		if t256, _ := t.Header["x5t#S256"].(string); t256 != "" && thumbprintIs(t256, want256[:]) ||
			thumbprintIs(fmt.Sprint(t.Header["x5t"]), want1[:]) {
			return a.Certificate.PublicKey, nil
		}
		return nil, fmt.Errorf("no certificate of the app has the assertion's thumbprint")
	}, jwt.WithValidMethods([]string{"RS256", "PS256"}), jwt.WithExpirationRequired())
	if err != nil {
		return err
	}
	sub, _ := claims.GetSubject()
	aud, _ := claims.GetAudience()
	if fed {
		if !slices.Contains(aud, FederationAudience) || !slices.Contains(a.FederatedSubjects, sub) {
			return fmt.Errorf("AADSTS70021: No matching federated identity record found for presented assertion subject %q", sub)
		}
		return nil
	}
	if iss, _ := claims.GetIssuer(); iss != a.ClientID || sub != a.ClientID || !slices.Contains(aud, tokenEndpoint) {
		return fmt.Errorf("iss and sub must be the client id and aud the token endpoint")
	}
	return nil
}

// thumbprintIs compares a base64 (standard or URL) thumbprint.
func thumbprintIs(got string, want []byte) bool {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(got); err == nil && string(b) == string(want) {
			return true
		}
	}
	return false
}

// serveManagedIdentity is the App Service managed identity endpoint.
func (s *Server) serveManagedIdentity(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if r.Header.Get("X-IDENTITY-HEADER") != s.IdentityHeader {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"statusCode": 401, "message": "missing or wrong X-IDENTITY-HEADER"})
		return
	}
	resource := strings.TrimSuffix(q.Get("resource"), "/")
	s.mu.Lock()
	defer s.mu.Unlock()
	var app *App
	for _, a := range s.apps {
		if a.ManagedIdentity && (q.Get("client_id") == a.ClientID || q.Get("client_id") == "" && a.SystemAssigned) {
			app = a
		}
	}
	if app == nil || resource != s.URL {
		writeJSON(w, http.StatusBadRequest, map[string]any{"statusCode": 400, "message": "No managed identity found for the request, or unknown resource " + resource})
		return
	}
	tok, exp, err := s.issue(app, resource)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]any{"statusCode": 500, "message": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "expires_on": strconv.FormatInt(exp.Unix(), 10),
		"resource": resource, "token_type": "Bearer", "client_id": app.ClientID})
}

// verify checks a Graph request's bearer token and returns its roles, or
// Graph's message for a token it refuses.
func (s *Server) verify(r *http.Request) (roles []string, denial string) {
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || raw == "" {
		return nil, "Access token is empty."
	}
	var claims struct {
		jwt.RegisteredClaims
		Roles []string `json:"roles"`
	}
	_, err := jwt.ParseWithClaims(raw, &claims, func(*jwt.Token) (any, error) { return &s.key.PublicKey, nil },
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithAudience(s.URL), jwt.WithExpirationRequired())
	if err != nil {
		return nil, "Access token validation failure. Invalid audience or signature: " + err.Error()
	}
	return claims.Roles, ""
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"marshal"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// requestID returns a new request id.
func requestID() string { return uuid.NewString() }
