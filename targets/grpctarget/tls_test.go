package grpctarget_test

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
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/grpctarget"
	"github.com/scimgate/scimgate/targets/grpctarget/sdk"
	"github.com/scimgate/scimgate/targets/memory"
)

// testCA is a certificate authority made for a test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a certificate and key (PEM) for name, for a server
// (127.0.0.1) or a client.
func (ca *testCA) issue(t *testing.T, name string, server bool) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
}

func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestMTLS: a target whose only credential is a client certificate
// accepts a connector with a certificate of its client CA, and no other.
func TestMTLS(t *testing.T) {
	dir := t.TempDir()
	serverCA, clientCA, otherCA := newCA(t, "server CA"), newCA(t, "client CA"), newCA(t, "other CA")
	sc, sk := serverCA.issue(t, "gateway", true)
	gw := openGateway(t, func(c *grpctarget.Config, _ *targets.Env) {
		c.TokenFile = ""
		c.TLS = targets.TLSConfig{
			CertFile:     writeFile(t, dir, "server.crt", sc),
			KeyFile:      writeFile(t, dir, "server.key", sk),
			ClientCAFile: writeFile(t, dir, "client-ca.crt", clientCA.pem),
		}
	})
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(serverCA.pem)
	clientTLS := func(ca *testCA) *tls.Config {
		tc := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
		if ca != nil {
			c, k := ca.issue(t, "connector", false)
			pair, err := tls.X509KeyPair(c, k)
			if err != nil {
				t.Fatal(err)
			}
			tc.Certificates = []tls.Certificate{pair}
		}
		return tc
	}
	for _, bad := range []struct {
		name string
		ca   *testCA
	}{{"no client certificate", nil}, {"certificate of another CA", otherCA}} {
		t.Run(bad.name, func(t *testing.T) {
			r := startSDK(t, gw, memory.New(memory.Config{}), func(o *sdk.Options) { o.Token = ""; o.TLS = clientTLS(bad.ca) })
			time.Sleep(500 * time.Millisecond) // several connection attempts
			if n := len(gw.Instances()); n != 0 {
				t.Errorf("%d instances registered, want none", n)
			}
			r.stop(t)
		})
	}
	t.Run("certificate of the client CA", func(t *testing.T) {
		startSDK(t, gw, memory.New(memory.Config{}), func(o *sdk.Options) { o.Token = ""; o.TLS = clientTLS(clientCA) })
		waitInstances(t, gw, 1)
	})
}
