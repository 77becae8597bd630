package targets

import (
	"crypto/tls"
	"crypto/x509"
	"os"
)

// ClientTLS returns a TLS 1.2+ client configuration for a connector's
// connections to its target: it verifies serverName, trusts the CAs of the
// PEM file caFile instead of the system's (the system's when ""), and
// presents the certificate of certFile and keyFile (none when certFile is
// ""). Its errors are FieldErrors naming tls.ca_file or tls.cert_file.
func ClientTLS(serverName, caFile, certFile, keyFile string) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
	if caFile != "" {
		b, err := os.ReadFile(caFile)
		if err != nil {
			return nil, FieldError("tls.ca_file", "%v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, FieldError("tls.ca_file", "%s holds no PEM certificate", caFile)
		}
		tc.RootCAs = pool
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, FieldError("tls.cert_file", "%v", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
