package graphtest

import "encoding/pem"

// CertificatePEM returns the Server's CA certificate in PEM, for a process
// that trusts its system roots (SSL_CERT_FILE) rather than a Transport.
func (s *Server) CertificatePEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw})
}
