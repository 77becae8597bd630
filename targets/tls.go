package targets

import (
	"cmp"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
)

// TLSConfig is the tls section of a connector's configuration, the same
// for every connector that has one (a connector adds its own keys with
// an inline struct, such as sql's enabled and ldap's start_tls):
//
//	tls:
//	  ca_file: /etc/scimgate/target-ca.pem   # client: CAs to trust instead of the system's
//	  cert_file: /etc/scimgate/client.pem    # a client certificate, or the server's
//	  key_file: /etc/scimgate/client-key.pem
//	  server_name: db.example.org            # client: the name to verify instead of the host
//	  client_ca_file: /etc/scimgate/ca.pem   # server: require client certificates it signed
//
// A connector that connects to its target validates it with ValidateClient
// and builds its *tls.Config with Client; a connector that serves an
// endpoint (grpc) uses ValidateServer and Server. Both builders read the
// files; the validators read nothing.
type TLSConfig struct {
	// CAFile is a PEM file of the CAs a client trusts instead of the
	// system's.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are PEM files of a client's certificate
	// (optional) or a server's (required).
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName is the name a client verifies in the server's
	// certificate instead of the host it connects to.
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify makes a client accept any server certificate:
	// for tests only.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// ClientCAFile is a PEM file of CAs: a server then requires a client
	// certificate signed by one of them (mTLS).
	ClientCAFile string `yaml:"client_ca_file"`
}

// IsZero reports whether no field is set.
func (t TLSConfig) IsZero() bool { return t == TLSConfig{} }

// ValidateClient checks t as the TLS configuration of a connection to a
// target, reporting every problem as a FieldError under "tls.". It reads
// no file.
func (t TLSConfig) ValidateClient() error {
	errs := t.checkPair()
	if t.ClientCAFile != "" {
		errs = append(errs, FieldError("tls.client_ca_file", "only for an endpoint the gateway serves; a connection to a target trusts tls.ca_file"))
	}
	return errors.Join(errs...)
}

// ValidateServer checks t as the TLS configuration of an endpoint the
// gateway serves, when t is set at all, reporting every problem as a
// FieldError under "tls.". It reads no file.
func (t TLSConfig) ValidateServer() error {
	if t.IsZero() {
		return nil
	}
	errs := t.checkPair()
	if t.CertFile == "" && t.KeyFile == "" {
		if t.ClientCAFile != "" {
			errs = append(errs, FieldError("tls.client_ca_file", "needs tls.cert_file and tls.key_file (mTLS is TLS)"))
		} else {
			errs = append(errs, FieldError("tls.cert_file", "required with tls: the endpoint's certificate (cert_file and key_file)"))
		}
	}
	for _, f := range []struct {
		field string
		set   bool
	}{{"ca_file", t.CAFile != ""}, {"server_name", t.ServerName != ""}, {"insecure_skip_verify", t.InsecureSkipVerify}} {
		if f.set {
			errs = append(errs, FieldError("tls."+f.field, "only for a connection to a target; an endpoint the gateway serves trusts client certificates of tls.client_ca_file"))
		}
	}
	return errors.Join(errs...)
}

func (t TLSConfig) checkPair() []error {
	if (t.CertFile == "") != (t.KeyFile == "") {
		return []error{FieldError("tls.cert_file", "cert_file and key_file go together")}
	}
	return nil
}

// Client returns a TLS 1.2+ client configuration for a connection to
// host, from a configuration that ValidateClient accepts: it verifies
// ServerName (host when ""), trusts the CAs of CAFile instead of the
// system's (the system's when ""), and presents the certificate of
// CertFile and KeyFile (none when ""). Its errors are FieldErrors naming
// the file's field.
func (t TLSConfig) Client(host string) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: cmp.Or(t.ServerName, host), InsecureSkipVerify: t.InsecureSkipVerify}
	var err error
	if t.CAFile != "" {
		if tc.RootCAs, err = certPool("tls.ca_file", t.CAFile); err != nil {
			return nil, err
		}
	}
	if t.CertFile != "" {
		if tc.Certificates, err = keyPair(t.CertFile, t.KeyFile); err != nil {
			return nil, err
		}
	}
	return tc, nil
}

// Server returns the TLS 1.2+ configuration of an endpoint, from a
// configuration that ValidateServer accepts and that is set: it presents
// the certificate of CertFile and KeyFile, and with ClientCAFile requires
// and verifies a client certificate signed by its CAs. Its errors are
// FieldErrors naming the file's field.
func (t TLSConfig) Server() (*tls.Config, error) {
	certs, err := keyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, err
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: certs}
	if t.ClientCAFile != "" {
		if tc.ClientCAs, err = certPool("tls.client_ca_file", t.ClientCAFile); err != nil {
			return nil, err
		}
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return tc, nil
}

// certPool reads the CAs of the PEM file of field.
func certPool(field, file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, FieldError(field, "%v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, FieldError(field, "%s holds no PEM certificate", file)
	}
	return pool, nil
}

// keyPair reads a certificate and its key.
func keyPair(certFile, keyFile string) ([]tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, FieldError("tls.cert_file", "%v", err)
	}
	return []tls.Certificate{cert}, nil
}
