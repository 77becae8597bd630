package targets_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scimgate/scimgate/targets"
)

// TestTLSConfigValidate: the validators report every problem, each named
// by its tls.* field, and read no file (the files named do not exist).
func TestTLSConfigValidate(t *testing.T) {
	tests := []struct {
		name       string
		tls        targets.TLSConfig
		wantClient []string // fields of the errors; none: valid
		wantServer []string
	}{
		{name: "empty", wantClient: nil, wantServer: nil},
		{name: "client with CA and certificate",
			tls:        targets.TLSConfig{CAFile: "/no/ca.pem", CertFile: "/no/c.pem", KeyFile: "/no/k.pem", ServerName: "db"},
			wantServer: []string{"tls.ca_file", "tls.server_name"}},
		{name: "server with client CA",
			tls:        targets.TLSConfig{CertFile: "/no/c.pem", KeyFile: "/no/k.pem", ClientCAFile: "/no/ca.pem"},
			wantClient: []string{"tls.client_ca_file"}},
		{name: "key without certificate",
			tls:        targets.TLSConfig{KeyFile: "/no/k.pem", InsecureSkipVerify: true},
			wantClient: []string{"tls.cert_file"},
			wantServer: []string{"tls.cert_file", "tls.insecure_skip_verify"}},
		{name: "client CA without a certificate",
			tls:        targets.TLSConfig{ClientCAFile: "/no/ca.pem"},
			wantClient: []string{"tls.client_ca_file"},
			wantServer: []string{"tls.client_ca_file"}},
	}
	fields := func(err error) []string {
		if err == nil {
			return nil
		}
		var out []string
		for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
			var ce *targets.ConfigError
			if !errors.As(e, &ce) {
				t.Fatalf("%v is no *targets.ConfigError", e)
			}
			out = append(out, ce.Field)
		}
		return out
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fields(tt.tls.ValidateClient()); strings.Join(got, ",") != strings.Join(tt.wantClient, ",") {
				t.Errorf("ValidateClient: fields %q, want %q", got, tt.wantClient)
			}
			if got := fields(tt.tls.ValidateServer()); strings.Join(got, ",") != strings.Join(tt.wantServer, ",") {
				t.Errorf("ValidateServer: fields %q, want %q", got, tt.wantServer)
			}
		})
	}
}

// TestTLSConfigClient: Client reads the files, reporting a missing or
// invalid one as a field error, and verifies the host unless server_name
// is set.
func TestTLSConfigClient(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		tls       targets.TLSConfig
		wantField string
		wantName  string
	}{
		{name: "system CAs", wantName: "db.example.org"},
		{name: "server name", tls: targets.TLSConfig{ServerName: "db"}, wantName: "db"},
		{name: "missing CA file", tls: targets.TLSConfig{CAFile: filepath.Join(dir, "nope.pem")}, wantField: "tls.ca_file"},
		{name: "CA file without a certificate", tls: targets.TLSConfig{CAFile: notPEM}, wantField: "tls.ca_file"},
		{name: "missing client certificate", tls: targets.TLSConfig{CertFile: filepath.Join(dir, "c.pem"), KeyFile: filepath.Join(dir, "k.pem")}, wantField: "tls.cert_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc, err := tt.tls.Client("db.example.org")
			if tt.wantField != "" {
				var ce *targets.ConfigError
				if !errors.As(err, &ce) || ce.Field != tt.wantField {
					t.Fatalf("Client: %v, want a field error of %s", err, tt.wantField)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.ServerName != tt.wantName || tc.MinVersion == 0 || tc.InsecureSkipVerify {
				t.Errorf("Client: server name %q, min version %x, insecure %v; want %q, TLS 1.2+, verified", tc.ServerName, tc.MinVersion, tc.InsecureSkipVerify, tt.wantName)
			}
		})
	}
	if _, err := (targets.TLSConfig{CertFile: filepath.Join(dir, "c.pem"), KeyFile: filepath.Join(dir, "k.pem")}).Server(); err == nil {
		t.Error("Server with a missing certificate succeeded")
	}
}
