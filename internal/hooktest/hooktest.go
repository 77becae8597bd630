// Package hooktest runs a local HTTPS webhook receiver for tests: it
// records every request, verifies its signature with notify.Verify, and
// answers 204, or the statuses a test queued (429 with Retry-After, 500).
package hooktest

import (
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/notify"
)

// Request is one received request.
type Request struct {
	Method, Path string
	Header       http.Header
	Body         []byte
	// SignatureErr is notify.Verify's verdict with the Server's secret
	// (nil: valid); always nil without a secret.
	SignatureErr error
}

// Server is a running receiver. Its methods are safe for concurrent use.
type Server struct {
	// URL is its base URL (https://127.0.0.1:port); any path is accepted.
	URL string

	secret  string
	now     func() time.Time
	srv     *httptest.Server
	mu      sync.Mutex
	reqs    []Request
	added   chan struct{} // closed and replaced at each request
	answers []answer
}

type answer struct {
	status int
	header http.Header
}

// MaxAge is the signature age Verify accepts.
const MaxAge = 5 * time.Minute

// Start starts a Server that verifies signatures with secret ("" for
// none) against the time now returns (nil: time.Now); it stops when the
// test ends.
func Start(t testing.TB, secret string, now func() time.Time) *Server {
	t.Helper()
	if now == nil {
		now = time.Now
	}
	s := &Server{secret: secret, now: now, added: make(chan struct{})}
	s.srv = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	return s
}

// CertPool returns a pool that trusts the Server's certificate.
func (s *Server) CertPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(s.srv.Certificate())
	return pool
}

// Client returns an HTTP client that trusts the Server.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// Respond makes the next n requests answered with status and header
// (e.g. Retry-After), after the ones queued before.
func (s *Server) Respond(n, status int, header http.Header) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.answers = append(s.answers, answer{status: status, header: header})
	}
}

// Requests returns the requests received so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reqs)
}

// Wait returns the requests once at least n were received, or fails the
// test at its deadline (or after a minute without one).
func (s *Server) Wait(t testing.TB, n int) []Request {
	t.Helper()
	end := time.Now().Add(time.Minute)
	if dt, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if d, set := dt.Deadline(); set {
			end = d.Add(-time.Second)
		}
	}
	timer := time.NewTimer(time.Until(end))
	defer timer.Stop()
	for {
		s.mu.Lock()
		reqs, added := slices.Clone(s.reqs), s.added
		s.mu.Unlock()
		if len(reqs) >= n {
			return reqs
		}
		select {
		case <-added:
		case <-timer.C:
			t.Fatalf("hooktest: %d request(s) received, want %d", len(reqs), n)
			return nil
		}
	}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req := Request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body}
	if s.secret != "" {
		req.SignatureErr = notify.Verify(s.secret, r.Header, body, s.now(), MaxAge)
	}
	s.mu.Lock()
	s.reqs = append(s.reqs, req)
	close(s.added)
	s.added = make(chan struct{})
	a := answer{status: http.StatusNoContent}
	if len(s.answers) > 0 {
		a, s.answers = s.answers[0], s.answers[1:]
	}
	s.mu.Unlock()
	if req.SignatureErr != nil && a.status < 300 {
		a = answer{status: http.StatusUnauthorized}
	}
	for k, v := range a.header {
		w.Header()[k] = v
	}
	w.WriteHeader(a.status)
}

// CertificatePEM returns the Server's certificate in PEM, for a process
// that trusts its system roots (SSL_CERT_FILE) rather than a pool.
func (s *Server) CertificatePEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw})
}
