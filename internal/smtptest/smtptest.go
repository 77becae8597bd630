// Package smtptest runs a real SMTP server (github.com/emersion/go-smtp)
// on 127.0.0.1 for tests: STARTTLS or implicit TLS with a certificate
// made for the test, AUTH PLAIN with a configured user, and every
// delivered message recorded, parsed, for the test to read.
package smtptest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Config configures a Server. The zero value is a STARTTLS server
// without AUTH.
type Config struct {
	// Username and Password, when Username is set, make AUTH PLAIN
	// required before MAIL.
	Username, Password string
	// ImplicitTLS speaks TLS from the first byte (SMTPS) instead of
	// offering STARTTLS.
	ImplicitTLS bool
}

// Message is one delivered message.
type Message struct {
	// From and To are the envelope (MAIL FROM, RCPT TO).
	From string
	To   []string
	// Data is the message as received (CRLF line ends).
	Data []byte
	// Header is its header; Subject the decoded Subject.
	Header  mail.Header
	Subject string
	// Text and HTML are the decoded text/plain and text/html parts
	// (a single-part message fills one of them).
	Text, HTML string
	// TLS reports whether it came over TLS; User is the AUTH user, "" if
	// none.
	TLS  bool
	User string
}

// Server is a running SMTP server. Its methods are safe for concurrent
// use.
type Server struct {
	// Host and Port are where it listens (127.0.0.1 and a free port).
	Host string
	Port int

	cfg   Config
	pool  *x509.CertPool
	srv   *smtp.Server
	mu    sync.Mutex
	msgs  []Message
	added chan struct{} // closed and replaced at each message
	fail  []*smtp.SMTPError
	stall chan struct{} // while not nil, DATA replies wait until it is closed
}

// Start starts a Server that stops when the test ends.
func Start(t testing.TB, cfg Config) *Server {
	t.Helper()
	cert, pool, err := certificate()
	if err != nil {
		t.Fatalf("smtptest: certificate: %v", err)
	}
	s := &Server{cfg: cfg, pool: pool, added: make(chan struct{})}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		_, isTLS := c.TLSConnectionState()
		return &session{s: s, conn: c, tls: isTLS}, nil
	}))
	s.srv.Domain = "smtptest.localhost"
	s.srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	s.srv.ReadTimeout, s.srv.WriteTimeout = time.Minute, time.Minute
	log := &logger{t: t}
	s.srv.ErrorLog = log
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("smtptest: listen: %v", err)
	}
	if cfg.ImplicitTLS {
		l = tls.NewListener(l, s.srv.TLSConfig)
	}
	addr := l.Addr().(*net.TCPAddr)
	s.Host, s.Port = addr.IP.String(), addr.Port
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.srv.Serve(l)
	}()
	t.Cleanup(func() {
		log.stop()
		s.unstall()
		_ = s.srv.Close()
		// Close misses a listener that Serve has not registered yet.
		_ = l.Close()
		<-done
	})
	return s
}

// Addr returns host:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// CertPool returns a pool that trusts the Server's certificate (for
// 127.0.0.1 and localhost).
func (s *Server) CertPool() *x509.CertPool { return s.pool }

// Messages returns the messages delivered so far, in order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.msgs)
}

// Wait returns the messages once at least n were delivered, or fails the
// test at its deadline (or after a minute without one).
func (s *Server) Wait(t testing.TB, n int) []Message {
	t.Helper()
	deadline, ok := t.(interface{ Deadline() (time.Time, bool) })
	end := time.Now().Add(time.Minute)
	if ok {
		if d, set := deadline.Deadline(); set {
			end = d.Add(-time.Second)
		}
	}
	timer := time.NewTimer(time.Until(end))
	defer timer.Stop()
	for {
		s.mu.Lock()
		msgs, added := slices.Clone(s.msgs), s.added
		s.mu.Unlock()
		if len(msgs) >= n {
			return msgs
		}
		select {
		case <-added:
		case <-timer.C:
			t.Fatalf("smtptest: %d message(s) delivered, want %d", len(msgs), n)
			return nil
		}
	}
}

// RefuseNext makes the server answer the next n RCPT commands with the
// SMTP reply code (e.g. 550 permanent, 451 transient) instead of
// accepting them.
func (s *Server) RefuseNext(n, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	class := uint8(code / 100)
	for range n {
		s.fail = append(s.fail, &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{int(class), 0, 0},
			Message: "refused by smtptest"})
	}
}

func (s *Server) refusal() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.fail) == 0 {
		return nil
	}
	err := s.fail[0]
	s.fail = s.fail[1:]
	return err
}

// Stall makes the server hold its reply to every DATA command, after it
// recorded the message (Messages and Wait return it), until release is
// called (or the test ends): the client has then delivered a message
// without learning so, as when it crashes before the reply comes.
func (s *Server) Stall() (release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stall == nil {
		s.stall = make(chan struct{})
	}
	return s.unstall
}

// unstall ends a stall, if any.
func (s *Server) unstall() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stall != nil {
		close(s.stall)
		s.stall = nil
	}
}

func (s *Server) add(m Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, m)
	close(s.added)
	s.added = make(chan struct{})
}

// session is one SMTP session.
type session struct {
	s    *Server
	conn *smtp.Conn
	tls  bool
	user string
	from string
	to   []string
}

var _ smtp.AuthSession = (*session)(nil)

func (ss *session) AuthMechanisms() []string {
	if ss.s.cfg.Username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain || ss.s.cfg.Username == "" {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if identity != "" && identity != username || username != ss.s.cfg.Username || password != ss.s.cfg.Password {
			return smtp.ErrAuthFailed
		}
		ss.user = username
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.cfg.Username != "" && ss.user == "" {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if err := ss.s.refusal(); err != nil {
		return err
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if _, ok := ss.conn.TLSConnectionState(); ok {
		ss.tls = true
	}
	m := Message{From: ss.from, To: slices.Clone(ss.to), Data: data, TLS: ss.tls, User: ss.user}
	if err := parse(&m); err != nil {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "smtptest: " + err.Error()}
	}
	ss.s.add(m)
	ss.s.mu.Lock()
	stall := ss.s.stall
	ss.s.mu.Unlock()
	if stall != nil {
		<-stall
	}
	return nil
}

func (ss *session) Reset() { ss.from, ss.to = "", nil }

func (ss *session) Logout() error { return nil }

// parse fills the header, subject and parts of m from m.Data.
func parse(m *Message) error {
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		return err
	}
	m.Header = msg.Header
	dec := new(mime.WordDecoder)
	if m.Subject, err = dec.DecodeHeader(msg.Header.Get("Subject")); err != nil {
		return fmt.Errorf("subject: %w", err)
	}
	return part(m, msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
}

// part reads one MIME part (recursively for multipart).
func part(m *Message, contentType, encoding string, body io.Reader) error {
	if contentType == "" {
		contentType = "text/plain"
	}
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return fmt.Errorf("content-type: %w", err)
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			// multipart decodes quoted-printable itself (and drops the
			// header); base64 is left to us.
			if err := part(m, p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p); err != nil {
				return err
			}
		}
	}
	switch strings.ToLower(encoding) {
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body)
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	switch mt {
	case "text/plain":
		m.Text += string(b)
	case "text/html":
		m.HTML += string(b)
	}
	return nil
}

// certificate returns a self-signed certificate for 127.0.0.1 and
// localhost, and a pool that trusts it.
func certificate() (tls.Certificate, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "smtptest"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool, nil
}

// logger sends the server's errors to the test log until the test ends
// (connections may still end after it: go-smtp's Close does not wait).
type logger struct {
	t       testing.TB
	mu      sync.Mutex
	stopped bool
}

func (l *logger) Printf(format string, v ...any) { l.log(fmt.Sprintf(format, v...)) }
func (l *logger) Println(v ...any)               { l.log(strings.TrimSuffix(fmt.Sprintln(v...), "\n")) }

func (l *logger) log(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.stopped {
		l.t.Log("smtptest: " + s)
	}
}

func (l *logger) stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stopped = true
}
