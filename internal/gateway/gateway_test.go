package gateway

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/config"
)

const contoso = "urn:ietf:params:scim:schemas:extension:Contoso:2.0:User"

// TestCustomExtension: attributes of a configured extension are accepted
// flat (as Entra sends them, without the URN in schemas) and nested,
// discoverable in /Schemas and filterable.
func TestCustomExtension(t *testing.T) {
	c := client{t: t, base: startGateway(t, func(cfg *config.Config) {
		cfg.SCIM.CustomExtensions = []config.Extension{{URN: contoso, Resource: "User", Attributes: []config.Attribute{
			{Name: "badgeNumber", Type: "string"}, {Name: "clearanceLevel", Type: "integer"}}}}
	})}
	u := c.must(201, "POST", "/Users", map[string]any{
		"schemas":                   []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName":                  "ext@contoso.com",
		contoso + ":badgeNumber":    "B-17",
		contoso + ":clearanceLevel": 3,
	})
	if get(u.body, contoso, "badgeNumber") != "B-17" || get(u.body, contoso, "clearanceLevel") != float64(3) {
		t.Fatalf("extension attributes not stored: %s", u.raw)
	}
	if schemas, _ := u.body["schemas"].([]any); len(schemas) != 2 || schemas[1] != contoso {
		t.Fatalf("schemas %v, want the extension listed", u.body["schemas"])
	}
	id := u.body["id"].(string)
	c.must(200, "PATCH", "/Users/"+id, patchOps(op("Replace", contoso+":badgeNumber", "B-18")))
	if n, _ := c.total("/Users", contoso+`:badgeNumber eq "B-18"`); n != 1 {
		t.Fatal("filter on the extension attribute")
	}
	if n, _ := c.total("/Users", contoso+`:clearanceLevel gt 2`); n != 1 {
		t.Fatal("numeric filter on the extension attribute")
	}
	s := c.must(200, "GET", "/Schemas/"+contoso, nil)
	if s.body["id"] != contoso {
		t.Fatalf("/Schemas/%s: %s", contoso, s.raw)
	}
	r := c.must(400, "POST", "/Users", map[string]any{"userName": "x@contoso.com", contoso + ":clearanceLevel": "high"})
	if !strings.Contains(r.body["detail"].(string), "clearanceLevel") {
		t.Fatalf("detail does not name the attribute: %s", r.raw)
	}
}

// TestBadInputChangesNothing: every kind of bad input gets a 4xx SCIM error
// with a detail, and the store is unchanged afterwards.
func TestBadInputChangesNothing(t *testing.T) {
	c := client{t: t, base: startGateway(t, func(cfg *config.Config) { cfg.SCIM.MaxBodyBytes = 4096 })}
	u := c.must(201, "POST", "/Users", map[string]any{"userName": "keep@contoso.com", "title": "Original"})
	id := u.body["id"].(string)
	for _, tc := range []struct {
		name, method, path string
		body               any
		status             int
		scimType           string
	}{
		{"invalid JSON", "POST", "/Users", `{"userName": `, 400, "invalidSyntax"},
		{"not an object", "POST", "/Users", `[1,2]`, 400, "invalidSyntax"},
		{"wrong type", "POST", "/Users", map[string]any{"userName": "n@contoso.com", "active": 7}, 400, "invalidValue"},
		{"unknown attribute", "POST", "/Users", map[string]any{"userName": "n@contoso.com", "shoeSize": 44}, 400, "invalidValue"},
		{"oversized body", "POST", "/Users", map[string]any{"userName": "n@contoso.com", "title": strings.Repeat("x", 5000)}, 413, ""},
		{"malformed filter", "GET", "/Users?filter=" + "userName%20eq", nil, 400, "invalidFilter"},
		{"patch of read-only id", "PATCH", "/Users/" + id, patchOps(op("replace", "id", "other")), 400, "mutability"},
		{"patch of read-only meta", "PATCH", "/Users/" + id, patchOps(op("replace", "meta.created", "2020-01-01T00:00:00Z")), 400, "mutability"},
		{"half-valid patch", "PATCH", "/Users/" + id, patchOps(op("replace", "title", "Changed"), op("replace", "active", "maybe")), 400, "invalidValue"},
		{"patch without PatchOp schema", "PATCH", "/Users/" + id, map[string]any{"Operations": []any{op("replace", "title", "Changed")}}, 400, ""},
		{"unknown op", "PATCH", "/Users/" + id, patchOps(op("frobnicate", "title", "Changed")), 400, ""},
		{"put with another id", "PUT", "/Users/" + id, map[string]any{"id": "other", "userName": "keep@contoso.com"}, 400, "mutability"},
		{"stale If-Match", "DELETE", "/Users/" + id, nil, 412, ""},
		{"bad count", "GET", "/Users?count=ten", nil, 400, "invalidValue"},
		{"bad sortOrder", "GET", "/Users?sortBy=userName&sortOrder=sideways", nil, 400, "invalidValue"},
		{"unknown endpoint", "GET", "/Widgets", nil, 404, ""},
		{"method not allowed", "DELETE", "/Users", nil, 405, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := client{t: t, base: c.base}
			var r reply
			if tc.name == "stale If-Match" {
				r = c.do(tc.method, tc.path, nil, "If-Match", `W/"999"`)
			} else {
				r = c.do(tc.method, tc.path, tc.body)
			}
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.raw)
			}
			if d, _ := r.body["detail"].(string); d == "" {
				t.Fatalf("no detail: %s", r.raw)
			}
			if tc.scimType != "" && r.body["scimType"] != tc.scimType {
				t.Fatalf("scimType %v, want %s: %s", r.body["scimType"], tc.scimType, r.raw)
			}
		})
	}
	after := c.must(200, "GET", "/Users/"+id, nil)
	if after.body["title"] != "Original" || get(after.body, "meta", "version") != `W/"1"` {
		t.Fatalf("resource changed by rejected requests: %s", after.raw)
	}
	if n, _ := c.total("/Users", "userName pr"); n != 1 {
		t.Fatalf("%d users stored, want only the first", n)
	}
}

// TestTLS: with a certificate configured the gateway speaks TLS 1.2 and
// later only.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := selfSigned(t, dir)
	base := startGateway(t, func(cfg *config.Config) {
		cfg.TLS = config.TLS{CertFile: certFile, KeyFile: keyFile}
	})
	if !strings.HasPrefix(base, "https://") {
		t.Fatalf("base URL %s is not https", base)
	}
	pool := x509.NewCertPool()
	pemBytes, _ := os.ReadFile(certFile)
	pool.AppendCertsFromPEM(pemBytes)
	for _, tc := range []struct {
		name    string
		max     uint16
		wantErr bool
	}{
		{"TLS 1.1 refused", tls.VersionTLS11, true},
		{"TLS 1.2 accepted", tls.VersionTLS12, false},
		{"TLS 1.3 accepted", tls.VersionTLS13, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS10, MaxVersion: tc.max}}}
			req, _ := http.NewRequest("GET", base+"/ServiceProviderConfig", nil)
			req.Header.Set("Authorization", "Bearer "+testToken)
			resp, err := cl.Do(req)
			if tc.wantErr {
				if err == nil {
					resp.Body.Close()
					t.Fatal("handshake succeeded")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
		})
	}
}

func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// TestShippedExamples: the example configurations load, validate and start
// a gateway (targets included).
func TestShippedExamples(t *testing.T) {
	for _, file := range []string{"../../examples/scimgate.yaml", "../../examples/targets.yaml"} {
		t.Run(filepath.Base(file), func(t *testing.T) {
			cfg, err := config.Load(file, nil)
			if err != nil {
				t.Fatal(err)
			}
			startGateway(t, func(c *config.Config) {
				c.SCIM.CustomExtensions = cfg.SCIM.CustomExtensions
				c.Targets = cfg.Targets
			})
		})
	}
}
